"""`read_columns` and `token_counts`: the rows `datasets` itself gives, in order, for every shape a split
can take (whole cache files, shards, an indices mapping, a slice, renamed columns, in memory)."""

from __future__ import annotations

import numpy as np
import pytest
from datasets import Dataset, concatenate_datasets, load_from_disk

from hf_nlp.data.columns import _whole_files, read_columns, token_counts
from hf_nlp.text.vectorize import TextVectorization

ROWS = 2_345


def _corpus() -> Dataset:
    rng = np.random.default_rng(0)
    words = ["the", "sea", "is", "wide", "el", "mar", "es", "ancho"]
    texts = [" ".join(rng.choice(words, size=rng.integers(0, 9))) for _ in range(ROWS)]
    return Dataset.from_dict({"text": texts, "ids": [list(range(len(t.split()))) for t in texts],
                              "label": list(range(ROWS))})


@pytest.fixture(scope="module")
def on_disk(tmp_path_factory) -> dict[str, Dataset]:
    """A split as the recipes get it (saved, loaded: one Arrow file), in three shards, and derived views."""
    root = tmp_path_factory.mktemp("columns")
    corpus = _corpus()
    corpus.save_to_disk(str(root / "one"), max_shard_size="100MB")
    corpus.save_to_disk(str(root / "three"), num_shards=3)
    whole = load_from_disk(str(root / "one"))
    shards = load_from_disk(str(root / "three"))
    return {"whole": whole, "shards": shards, "shuffled": whole.shuffle(seed=1), "sliced": whole.select(range(100, 1_900)),
            "renamed": whole.rename_column("label", "y").rename_column("y", "label"),
            "concatenated": concatenate_datasets([whole, shards]), "in_memory": corpus}


def test_whole_files_are_recognized_and_views_are_not(on_disk):
    assert len(_whole_files(on_disk["whole"].data)) == 1
    assert len(_whole_files(on_disk["shards"].data)) == 3
    assert len(_whole_files(on_disk["concatenated"].data)) == 4
    assert _whole_files(on_disk["sliced"].data) is None  # a slice replay: not the file as stored
    assert _whole_files(on_disk["renamed"].data) is None
    assert _whole_files(on_disk["in_memory"].data) is None


@pytest.mark.parametrize("shape", ["whole", "shards", "shuffled", "sliced", "renamed", "concatenated", "in_memory"])
@pytest.mark.parametrize("rows", [1, 700, 10_000])
def test_read_columns_gives_the_datasets_rows_in_order(on_disk, shape, rows):
    dataset = on_disk[shape]
    tables = list(read_columns(dataset, ["label", "text"], rows=rows))
    assert [t.num_rows for t in tables[:-1]] == [rows] * (len(tables) - 1)
    assert 0 < tables[-1].num_rows <= rows
    assert all(t.column_names == ["label", "text"] for t in tables)
    assert [x for t in tables for x in t.column("text").to_pylist()] == list(dataset["text"])
    assert [x for t in tables for x in t.column("label").to_pylist()] == list(dataset["label"])


@pytest.mark.parametrize("shape", ["whole", "shards", "shuffled", "sliced", "in_memory"])
def test_token_counts_are_the_list_lengths(on_disk, shape):
    dataset = on_disk[shape]
    expected = [len(ids) for ids in dataset["ids"]]
    assert token_counts(dataset, "ids").tolist() == expected
    assert token_counts(dataset.select([]), "ids").tolist() == []


def test_adapt_on_a_split_column_counts_what_a_list_does(on_disk):
    for shape in ("whole", "shards", "shuffled"):
        column = on_disk[shape]["text"]
        from_column = TextVectorization().adapt(column).get_vocabulary()
        from_list = TextVectorization().adapt(list(column)).get_vocabulary()
        assert from_column == from_list and len(from_list) > 8
