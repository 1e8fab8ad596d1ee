"""Token ids on disk read like a 1-D LongTensor, in any process."""

import multiprocessing

import numpy as np
import pytest
import torch

from hf_nlp.data.token_ids import id_dtype, split_token_ids, token_ids_file


@pytest.fixture
def ids_file(tmp_path):
    path = tmp_path / "ids.bin"
    np.arange(1000, dtype=np.uint16).tofile(path)
    return path


def test_slices_read_like_a_tensor(ids_file):
    ids, tensor = token_ids_file(ids_file, np.uint16), torch.arange(1000)
    assert len(ids) == 1000
    for index in (slice(0, 10), slice(990, 2000), slice(-5, None), slice(None), slice(10, 5)):
        assert torch.equal(ids[index], tensor[index])
    assert ids[:3].dtype == torch.long
    with pytest.raises(TypeError, match="contiguous"):
        ids[::2]


def test_splits_and_heads_are_offsets_into_the_one_file(ids_file):
    splits = split_token_ids(token_ids_file(ids_file, np.uint16), {"train": 900, "validation": 60, "test": 40})
    assert [len(split) for split in splits.values()] == [900, 60, 40]
    assert splits["test"][:2].tolist() == [960, 961]
    assert splits["validation"].head(3)[:].tolist() == [900, 901, 902] and len(splits["test"].head(99)) == 40


def _read_in_child(ids, queue):
    queue.put(ids[500:503].tolist())


def test_a_forked_process_reads_with_its_own_descriptor(ids_file):
    ids = token_ids_file(ids_file, np.uint16)
    ids[:1]  # opens the file in this process first
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_read_in_child, args=(ids, queue))
    child.start()
    child.join(30)
    assert queue.get(timeout=5) == [500, 501, 502]


def test_the_narrowest_dtype_is_chosen():
    assert [id_dtype(n).name for n in (2, 256, 257, 65_536, 65_537)] == ["uint8", "uint8", "uint16", "uint16", "uint32"]
