"""Pairs files of millions of lines: read a line at a time, bad lines named, nothing cached on an error."""

import pytest
from datasets import Dataset

from hf_nlp.data.spa_eng import SpaEngDataConfig, encode_pairs, load_spa_eng, normalize, pair_lengths
from hf_nlp.errors import UserError
from hf_nlp.text.translation_tokenizer import build_translation_tokenizer


def corpus_folders(hf_home):
    folder = hf_home / "hf_nlp" / "corpora" / "spa_eng"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_a_malformed_line_at_row_one_million_is_named_and_nothing_is_cached(hf_home, tmp_path):
    path = tmp_path / "pairs.tsv"
    with path.open("w", encoding="utf-8") as file:
        file.writelines(f"sentence {i}\tfrase {i}\n" for i in range(1, 1_000_000))
        file.write("a line without its tab\n")
    with pytest.raises(UserError, match="`pairs.tsv` line 1,000,000 has no TAB"):
        load_spa_eng(SpaEngDataConfig(source=str(path)))
    assert corpus_folders(hf_home) == []  # no cache, no scratch left behind


def test_a_500_mb_file_without_newlines_is_one_sentence(hf_home, tmp_path):
    path = tmp_path / "one_line.txt"
    with path.open("wb") as file:
        for _ in range(500):
            file.write(b"a" * 1_000_000)
    with pytest.raises(UserError, match="line 1 is longer than 1,000,000 bytes"):
        load_spa_eng(SpaEngDataConfig(source=str(path)))
    assert corpus_folders(hf_home) == []


def test_invalid_utf8_names_the_line_and_byte(hf_home, tmp_path):
    path = tmp_path / "pairs.txt"
    path.write_bytes(b"Go.\tVe.\n" * 10 + b"Hi.\tHol\xe1.\n")
    with pytest.raises(UserError, match=r"line 11 is not UTF-8 \(byte 87 is 0xe1\)"):
        load_spa_eng(SpaEngDataConfig(source=str(path)))


def test_cleaning_matches_a_plain_python_reference(hf_home, tmp_path):
    lines = [(f"Sentence  {i % 700}!", f"¡Frase {i % 700}!") for i in range(3000)]  # many exact duplicates
    lines += [("", "vacía"), (" ".join(["word"] * 60), "larga")]
    path = tmp_path / "pairs.tsv"
    path.write_text("".join(f"{en}\t{es}\tCC-BY\n" for en, es in lines), encoding="utf-8")
    config = SpaEngDataConfig(source=str(path), test_size=100, validation_size=100)
    expected, seen = [], set()
    for en, es in lines:
        pair = (normalize(en), normalize(es))
        if all(pair) and max(len(pair[0].split()), len(pair[1].split())) <= 50 and pair not in seen:
            seen.add(pair)
            expected.append(pair)
    corpus = load_spa_eng(config)
    rows = [pair for split in ("test", "validation", "train")
            for pair in zip(corpus[split]["en"], corpus[split]["es"], strict=True)]
    assert len(rows) == len(expected) == 700 and sorted(rows) == sorted(expected)
    shuffled = Dataset.from_dict({"en": [en for en, _ in expected], "es": [es for _, es in expected]}).shuffle(seed=42)
    assert rows == list(zip(shuffled["en"], shuffled["es"], strict=True))  # the same split as cleaning in memory gave


def test_pair_lengths_are_the_longer_side(hf_home):
    corpus = load_spa_eng(SpaEngDataConfig(max_words=20, test_size=50, validation_size=50, max_train_pairs=300))
    tokenizer, target_size = build_translation_tokenizer(corpus["train"]["en"], corpus["train"]["es"], 200, 200)
    encoded = encode_pairs(corpus, tokenizer, target_size)["train"]
    assert pair_lengths(encoded).tolist() == [max(len(s), len(t)) for s, t in
                                              zip(encoded["input_ids"], encoded["labels"], strict=True)]
