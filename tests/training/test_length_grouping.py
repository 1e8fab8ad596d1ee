"""The numpy length-grouped order is transformers' order (so runs keep their batches), held in arrays."""

import numpy as np
import pytest
import torch
from transformers.trainer_pt_utils import get_length_grouped_indices

from hf_nlp.training.length_grouping import LengthGroupedSampler, length_grouped_indices


@pytest.mark.parametrize(("examples", "batch_size"), [(1, 4), (7, 32), (100, 4), (1000, 32), (12_345, 16)])
def test_same_order_as_transformers(examples, batch_size):
    lengths = np.random.default_rng(examples).integers(1, 30, examples)  # many ties: the sort must be stable
    expected = get_length_grouped_indices(lengths.tolist(), batch_size, generator=torch.Generator().manual_seed(3))
    assert length_grouped_indices(lengths, batch_size, torch.Generator().manual_seed(3)).tolist() == expected


def test_sampler_is_a_function_of_seed_and_epoch():
    sampler = LengthGroupedSampler(8, np.arange(200) % 17, seed=5)
    first = list(sampler)
    assert sorted(first) == list(range(200)) and list(sampler) == first
    sampler.set_epoch(1)
    assert list(sampler) != first
    assert all(isinstance(i, int) for i in first)
