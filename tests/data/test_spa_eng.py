"""English→Spanish pairs: the Bible corpus' real sizes, user files (the Anki format among them),
a Hub dataset over HTTP, preprocessing, and one-sentence errors for bad files."""

import json
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hf_nlp.data.spa_eng import SpaEngDataConfig, load_spa_eng, normalize
from hf_nlp.errors import UserError
from tests.conftest import REPO_ROOT
from tests.hub.local_hub import LocalHub

SMALL = {"test_size": 2, "validation_size": 2}


def test_bible_pairs_split_with_a_fixed_seed():
    corpus = load_spa_eng()
    assert {split: len(corpus[split]) for split in corpus} == {"train": 26_160, "validation": 2_000, "test": 2_000}
    assert corpus["train"].column_names == ["en", "es"]
    test_pairs = set(zip(corpus["test"]["en"], corpus["test"]["es"], strict=True))
    assert not test_pairs & set(zip(corpus["train"]["en"], corpus["train"]["es"], strict=True))
    every_spanish = [text for split in corpus for text in corpus[split]["es"]]
    assert not any("¿" in text or "¡" in text for text in every_spanish)
    assert not any("`" in text for split in corpus for text in corpus[split]["en"])  # WEB's God`s -> God's
    assert max(len(text.split()) for text in every_spanish) <= 50
    assert list(load_spa_eng()["test"]["en"]) == list(corpus["test"]["en"])  # cached and deterministic


def test_the_testaments_are_the_bible_split_by_book():
    """Old and New Testament: disjoint, together the whole Bible, the New one starting at Matthew 1:1."""
    def pairs(source: str) -> set[tuple[str, str]]:
        corpus = load_spa_eng(SpaEngDataConfig(source=source, test_size=1000, validation_size=1000))
        return {pair for split in corpus for pair in zip(corpus[split]["en"], corpus[split]["es"], strict=True)}

    old, new, whole = pairs("bible_old_testament"), pairs("bible_new_testament"), pairs("bible")
    assert len(old) > 20_000 and len(new) > 7_000 and not old & new
    assert old | new == whole
    assert any(english.startswith("The book of the generation of Jesus Christ") for english, _ in new)


def test_normalize_removes_inverted_marks_and_collapses_spaces():
    assert normalize("¿Dónde  está?\t¡Aquí!") == "Dónde está? Aquí!"
    assert normalize("¡Hola Mundo!", lowercase=True) == "hola mundo!"


def test_anki_spa_txt_format_with_attribution_column(tmp_path):
    path = tmp_path / "spa.txt"
    rows = [f"Sentence {i}.\t¿Frase {i}?\tCC-BY 2.0 (France) Attribution: tatoeba.org #{i}" for i in range(20)]
    rows.append("Sentence 0.\t¿Frase 0?\tCC-BY duplicate")  # an exact duplicate pair is kept once
    rows.append("One two three four five six.\tUno dos tres cuatro cinco seis.\tCC-BY too long")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    corpus = load_spa_eng(SpaEngDataConfig(source=str(path), max_words=5, max_train_pairs=10, **SMALL))
    assert {split: len(corpus[split]) for split in corpus} == {"train": 10, "validation": 2, "test": 2}
    pairs = {pair for split in corpus for pair in zip(corpus[split]["en"], corpus[split]["es"], strict=True)}
    assert all(es == f"Frase {en.split()[1].rstrip('.')}?" for en, es in pairs)


def test_csv_with_named_columns_and_lowercasing(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("english,spanish\n" + "".join(f"Hello {i},Hola {i}\n" for i in range(10)), encoding="utf-8")
    config = SpaEngDataConfig(source=str(path), source_column="english", target_column="spanish", lowercase=True, **SMALL)
    corpus = load_spa_eng(config)
    assert sorted(text for split in corpus for text in corpus[split]["es"]) == sorted(
        f"hola {i}" for i in range(10))


@pytest.mark.parametrize(("content", "name", "message"), [
    (b"", "empty.tsv", "is empty"),
    ("Hola\tmundo\n".encode("latin-1") + "Señor\tSeñor\n".encode("latin-1"), "latin.tsv", "not UTF-8"),
    (b"Hello\tHola\nno tab here\n", "notab.txt", "line 2 has no TAB"),
    (b"en,es\n,\n", "blank.csv", "no pair with both sides"),
    (b"a,b\nx,y\n", "cols.csv", "has no column `en`"),
    (b"Hi\tHola\nBye\tAdios\n", "few.tsv", "leave none for training"),
])
def test_bad_pair_files_are_one_sentence_errors(tmp_path, content, name, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UserError, match=message):
        load_spa_eng(SpaEngDataConfig(source=str(path), **SMALL))


def test_unknown_source_and_missing_file():
    with pytest.raises(UserError, match="unknown translation corpus"):
        load_spa_eng(SpaEngDataConfig(source="bibel"))
    with pytest.raises(UserError, match="does not exist"):
        load_spa_eng(SpaEngDataConfig(source="missing/pairs.tsv"))


LOAD = """
import json, sys
from hf_nlp.data.spa_eng import SpaEngDataConfig, load_spa_eng
corpus = load_spa_eng(SpaEngDataConfig(source=sys.argv[1], test_size=3, validation_size=3))
print(json.dumps({s: list(zip(corpus[s]["en"], corpus[s]["es"])) for s in corpus}))
"""


@pytest.mark.e2e
def test_hub_dataset_with_a_translation_column_over_http(tmp_path):
    """The Hub's translation layout ({"en": ..., "es": ...} per row), one train split -> our split."""
    folder = tmp_path / "opus"
    (folder / "data").mkdir(parents=True)
    rows = [{"en": f"¡Good {i}!", "es": f"¡Bueno {i}!"} for i in range(20)]
    pq.write_table(pa.table({"translation": rows}), folder / "data" / "train-00000-of-00001.parquet")
    with LocalHub({"datasets/someone/en-es": folder}) as hub:
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0",
               "HF_HOME": str(tmp_path / "hf_home")}
        result = subprocess.run([sys.executable, "-c", LOAD, "someone/en-es"], cwd=REPO_ROOT, env=env,
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    splits = json.loads(result.stdout.strip().splitlines()[-1])
    assert [len(splits[s]) for s in ("train", "validation", "test")] == [14, 3, 3]
    assert sorted(tuple(p) for s in splits.values() for p in s) == sorted((f"Good {i}!", f"Bueno {i}!") for i in range(20))
