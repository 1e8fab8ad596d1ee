"""Tab-separated files read in Arrow blocks: the same fields as reading line by line, whatever the block size,
and errors that name the line and byte wherever a block boundary falls."""

import random
import sys

import pyarrow as pa
import pytest

from hf_nlp.data import tab_separated
from hf_nlp.data.spa_eng import WHITESPACE, normalize, normalize_column
from hf_nlp.data.tab_separated import tab_separated_columns
from hf_nlp.errors import UserError


def read_all(path, block_bytes, fields=2):
    rows = []
    for columns in tab_separated_columns(path, fields, "English TAB Spanish", "(the Anki format)", block_bytes):
        rows += zip(*(column.to_pylist() for column in columns), strict=True)
    return rows


def line_by_line(text):
    return [tuple(line.split("\t")[:2]) for line in (raw.rstrip("\r\n") for raw in text.splitlines(True)) if line]


@pytest.mark.parametrize("block_bytes", [7, 64, 1000, 2**20])
def test_blocks_give_the_fields_a_line_reader_gives(tmp_path, block_bytes):
    random.seed(block_bytes)
    lines = [f"Go {i}. ñ\tVe {i}. \u00e9\tCC-BY #{i}" for i in range(300)]
    lines[10], lines[20] = "", "Only.\tSolo.\r"  # an empty line, a Windows line ending
    text = "\n".join(lines) + ("\n" if block_bytes % 2 else "")  # with and without a final newline
    path = tmp_path / "pairs.tsv"
    path.write_text(text, encoding="utf-8")
    assert read_all(path, block_bytes) == line_by_line(text)


@pytest.mark.parametrize("block_bytes", [5, 100, 2**20])
def test_errors_name_the_line_across_block_boundaries(tmp_path, block_bytes):
    path = tmp_path / "pairs.tsv"
    good = b"Go.\tVe.\n" * 30  # 8 bytes a line
    path.write_bytes(good + b"Hi.\tHol\xe1.\n")
    with pytest.raises(UserError, match=r"line 31 is not UTF-8 \(byte 247 is 0xe1\)"):
        read_all(path, block_bytes)
    path.write_bytes(good + b"no tab\n" + good)
    with pytest.raises(UserError, match="line 31 has no TAB; each line needs English TAB Spanish"):
        read_all(path, block_bytes)
    path.write_bytes(good + b"a\x00b\tc\n")
    with pytest.raises(UserError, match="looks binary \\(a NUL byte on line 31\\)"):
        read_all(path, block_bytes)


def test_a_long_line_is_named_inside_a_block_and_across_reads(tmp_path, monkeypatch):
    monkeypatch.setattr(tab_separated, "MAX_LINE_BYTES", 50)
    path = tmp_path / "pairs.tsv"
    path.write_bytes(b"Go.\tVe.\n" * 3 + b"x" * 60 + b"\tlong\n")
    for block_bytes in (10, 1000):  # the line spans several reads / sits inside one block
        with pytest.raises(UserError, match="line 4 is longer than 50 bytes"):
            read_all(path, block_bytes)


def test_the_whitespace_class_is_pythons():
    assert WHITESPACE == "".join(chr(code) for code in range(sys.maxunicode + 1) if chr(code).isspace())


def test_normalize_column_is_normalize_on_every_text():
    random.seed(0)
    alphabet = [*WHITESPACE, *"ab¡¿é İßÑ,.!?\u200b\u00ad", "\U0001f600", *["word"] * 20]
    texts = ["".join(random.choices(alphabet, k=random.randint(0, 12))) for _ in range(20_000)] + [None, "a  b"]
    column = pa.chunked_array([pa.array(texts[:500], pa.string()), pa.array(texts[500:], pa.string())])
    for lowercase in (False, True):
        assert normalize_column(column, lowercase).to_pylist() == [normalize(text, lowercase) for text in texts]
