"""The char-RNN corpus tokenized onto disk gives exactly what the in-memory path gave, for any size."""

import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from hf_nlp.config import parse_config
from hf_nlp.data.char_windows import window_datasets
from hf_nlp.data.files import read_text_chunks
from hf_nlp.data.shakespeare import ShakespeareDataConfig, load_shakespeare
from hf_nlp.errors import UserError
from hf_nlp.evaluation.metrics import causal_lm_example_stats
from hf_nlp.models.char_rnn import CharRNNConfig, CharRNNForCausalLM
from hf_nlp.text.char_corpus import encode_characters, load_char_corpus
from hf_nlp.text.char_tokenizer import build_char_tokenizer
from hf_nlp.training.batch_step import StatelessStep
from hf_nlp.training.config import TrainingConfig
from hf_nlp.training.loop import Trainer
from tests.training.test_loop import train_losses


def in_memory(config: ShakespeareDataConfig):
    """The path the recipe took before: every split's text in memory, tokenized with `tokenizer(text)`."""
    corpus = load_shakespeare(config)
    tokenizer = build_char_tokenizer((corpus[s][0]["text"] for s in corpus), lowercase=config.lowercase)
    return tokenizer, {s: torch.tensor(tokenizer(corpus[s][0]["text"])["input_ids"]) for s in corpus}


def test_the_ids_on_disk_are_the_tokenizers_ids_of_the_default_corpus(hf_home):
    config = ShakespeareDataConfig()
    tokenizer, ids = in_memory(config)
    corpus = load_char_corpus(config)
    assert corpus.tokenizer.get_vocab() == tokenizer.get_vocab()
    assert corpus.split_chars == {"train": 1_000_000, "validation": 60_000, "test": len(ids["test"])}
    for split, expected in ids.items():
        assert corpus.splits[split].dtype == "uint8"
        assert torch.equal(corpus.splits[split][:], expected)


@pytest.mark.parametrize("stateful", [False, True])
def test_windows_and_training_losses_match_the_in_memory_path(hf_home, tmp_path, stateful):
    config = ShakespeareDataConfig(stateful=stateful)
    _, memory_ids = in_memory(config)
    disk_ids = load_char_corpus(config).splits
    batch_size = 16
    memory_sets = window_datasets(memory_ids, 100, stateful, batch_size, num_processes=1)
    disk_sets = window_datasets(disk_ids, 100, stateful, batch_size, num_processes=1)
    for memory, disk in zip(memory_sets, disk_sets, strict=True):
        assert len(memory) == len(disk)
        for index in (0, 1, len(memory) // 2, len(memory) - 1):
            assert all(torch.equal(memory[index][key], disk[index][key]) for key in ("input_ids", "shift_labels"))

    losses = []
    for name, (train, valid, _) in (("memory", memory_sets), ("disk", disk_sets)):
        torch.manual_seed(0)
        model = CharRNNForCausalLM(CharRNNConfig(vocab_size=70, embedding_size=8, hidden_size=16))
        run = TrainingConfig(output_dir=str(tmp_path / name), batch_size=batch_size, max_steps=12, eval_every=6,
                             save_every=6, log_every=1, progress_bar=False, seed=3)
        Trainer(run, StatelessStep(causal_lm_example_stats)).fit(model, train, valid, shuffle=not stateful)
        losses.append(train_losses(tmp_path / name))
    assert losses[0] == losses[1] and len(losses[0]) == 12


TEXTS = {
    "accents and symbols": "Ça va? Él dijo: «¡Hola!» — naïve café, 3 € ≠ 4 $.\n",
    "scripts and emoji": "東京は晴れ。Ελληνικά κείμενα. 😀👍 مرحبا\n",
    "upper and lower": "ABC Def GHI jkl ÀÉÎ õü\n",
}


@pytest.mark.parametrize("lowercase", [True, False])
def test_any_unicode_text_gets_the_tokenizers_ids(tmp_path, lowercase):
    text = "".join(TEXTS.values()) * 3
    characters, dtype = encode_characters(iter([text[:37], text[37:90], text[90:]]), lowercase, tmp_path / "ids.bin")
    tokenizer = build_char_tokenizer([characters], lowercase=lowercase)
    expected = tokenizer(text)["input_ids"]
    assert np.fromfile(tmp_path / "ids.bin", dtype=dtype).tolist() == expected
    assert tokenizer.decode(expected) == (text.lower() if lowercase else text)


def test_a_vocabulary_over_256_ids_is_stored_as_uint16(tmp_path):
    text = "".join(chr(code) for code in range(0x4E00, 0x4E00 + 300)) + "ab"
    characters, dtype = encode_characters(iter([text]), False, tmp_path / "ids.bin")
    assert dtype == "uint16" and len(characters) == 302
    assert np.fromfile(tmp_path / "ids.bin", dtype=dtype).tolist() == \
        build_char_tokenizer([characters], lowercase=False)(text)["input_ids"]


def test_reading_in_pieces_never_cuts_a_character(tmp_path):
    text = "".join(TEXTS.values()) * 5
    path = tmp_path / "text.txt"
    path.write_text(text, encoding="utf-8")
    pieces = list(read_text_chunks(path, "text", chunk_bytes=7))
    assert len(pieces) > 10 and "".join(pieces) == text


def test_split_by_fractions_from_the_command_line(hf_home, tiny_text_file):
    config = parse_config(ShakespeareDataConfig, ["--source", str(tiny_text_file), "--split", "0.9,0.05,0.05"])
    assert config.split == [0.9, 0.05, 0.05]
    corpus = load_char_corpus(config)
    assert corpus.split_chars == {"train": 12_600, "validation": 700, "test": 700}
    whole = load_char_corpus(ShakespeareDataConfig(source=str(tiny_text_file), train_chars=12_600, valid_chars=700))
    assert all(torch.equal(corpus.splits[s][:], whole.splits[s][:]) for s in corpus.splits)


@pytest.mark.parametrize("split", [[0.9, 0.1], [0.8, 0.1, 0.2], [0.0, 0.5, 0.5], [0.9, -0.05, 0.15]])
def test_bad_split_fractions_are_one_sentence(split):
    with pytest.raises(UserError, match="three fractions"):
        ShakespeareDataConfig(split=split)


def test_invalid_utf8_deep_in_a_large_file_names_its_offset_and_leaves_no_cache(hf_home, tmp_path):
    path = tmp_path / "big.txt"
    line = b"to be, or not to be: that is the question.\n"
    with path.open("wb") as file:
        file.write(line * (300_000 // len(line)) * 60)  # about 18 MB: several pieces
        bad = file.tell() + 5
        file.write(b"hello\xffworld\n" + line * 1000)
    with pytest.raises(UserError, match=f"byte {bad:,} is 0xff"):
        load_char_corpus(ShakespeareDataConfig(source=str(path), split=[0.9, 0.05, 0.05]))
    left = [p for p in (hf_home / "hf_nlp" / "corpora").rglob("*") if "char_ids" in p.parts]
    assert left == [hf_home / "hf_nlp" / "corpora" / "char_ids"]  # the folder only: no partial build, no cache


def test_a_nul_byte_is_named_by_its_offset(hf_home, tmp_path):
    path = tmp_path / "binary.txt"
    path.write_bytes(b"a" * 1000 + b"\x00" + b"b" * 1000)
    with pytest.raises(UserError, match="NUL byte at offset 1,000"):
        load_char_corpus(ShakespeareDataConfig(source=str(path), train_chars=10, valid_chars=10))


def test_a_text_too_short_for_its_splits_is_one_sentence(hf_home, tiny_text_file):
    with pytest.raises(UserError, match="--data.split"):
        load_char_corpus(ShakespeareDataConfig(source=str(tiny_text_file)))  # 14k chars < 1M + 60k


def test_the_cache_is_reused_and_a_damaged_one_rebuilt(hf_home, tiny_text_file, caplog):
    config = ShakespeareDataConfig(source=str(tiny_text_file), train_chars=10_000, valid_chars=2_000)
    first = load_char_corpus(config)
    ids_file = first.splits["train"].path
    built = os.stat(ids_file).st_mtime_ns
    assert load_char_corpus(config).splits["train"].path == ids_file and os.stat(ids_file).st_mtime_ns == built
    expected = first.splits["test"][:]
    with open(ids_file, "r+b") as file:
        file.truncate(100)
    with caplog.at_level(logging.WARNING):
        again = load_char_corpus(config)
    assert "is damaged" in caplog.text and torch.equal(again.splits["test"][:], expected)


def test_an_abandoned_partial_build_is_removed(hf_home, tiny_text_file):
    config = ShakespeareDataConfig(source=str(tiny_text_file), train_chars=10_000, valid_chars=2_000)
    cache = load_char_corpus(config).splits["train"].path
    folder = os.path.dirname(cache)
    dead = f"{folder}.partial-{2**22 + 12345}"  # above any pid_max default: no such process
    os.makedirs(dead)
    alive = f"{folder}.partial-{os.getppid()}"  # another build, still running
    os.makedirs(alive)
    shutil.rmtree(folder)
    load_char_corpus(config)
    assert not os.path.exists(dead) and os.path.exists(alive)


def test_vocabulary_file_records_the_source(hf_home, tiny_text_file):
    corpus = load_char_corpus(ShakespeareDataConfig(source=str(tiny_text_file), train_chars=10_000, valid_chars=2_000))
    folder = Path(corpus.splits["train"].path).parent
    vocabulary = json.loads((folder / "vocabulary.json").read_text(encoding="utf-8"))
    assert vocabulary["source"] == str(tiny_text_file) and vocabulary["characters"] == corpus.characters
    assert corpus.text("validation", 30) == tiny_text_file.read_text()[10_000:10_030].lower()
