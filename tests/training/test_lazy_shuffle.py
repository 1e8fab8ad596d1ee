"""The lazy shuffle visits every example once per epoch, in a seeded order, and resumes exactly."""

import numpy as np
import pytest
import torch

from hf_nlp.training import loop
from hf_nlp.training.lazy_shuffle import FeistelPermutation, LazyPermutationSampler
from hf_nlp.training.loop import Trainer
from tests.training.test_loop import LM, config, interrupted_after, make_data, make_model, train_losses


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 1000, 1023, 1024, 1025, 70_001])
def test_every_index_once_per_epoch(n):
    order = list(LazyPermutationSampler(n, seed=7))
    assert len(order) == n and sorted(order) == list(range(n))


def test_the_order_is_a_function_of_seed_and_epoch():
    sampler = LazyPermutationSampler(5000, seed=1)
    first = list(sampler)
    assert list(LazyPermutationSampler(5000, seed=1)) == first
    assert list(LazyPermutationSampler(5000, seed=2)) != first
    sampler.set_epoch(1)
    assert list(sampler) != first and sorted(sampler) == sorted(first)


def test_the_order_looks_shuffled():
    order = np.array(list(LazyPermutationSampler(100_000, seed=3)), dtype=float)
    positions = np.arange(len(order), dtype=float)
    assert abs(np.corrcoef(positions, order)[0, 1]) < 0.02  # no drift with position
    assert abs(np.corrcoef(order[:-1], order[1:])[0, 1]) < 0.02  # neighbours unrelated
    # Each tenth of the epoch draws from the whole range, as a true shuffle does.
    assert all(abs(chunk.mean() / len(order) - 0.5) < 0.02 for chunk in np.array_split(order, 10))


def test_positions_of_a_huge_dataset_cost_no_memory():
    permute = FeistelPermutation(10**12, seed=0)
    out = permute(np.arange(1000, dtype=np.uint64))
    assert len(set(out.tolist())) == 1000 and out.max() < 10**12


def test_the_loop_shuffles_a_large_dataset_lazily_and_resumes_exactly(tmp_path, monkeypatch):
    monkeypatch.setattr(loop, "LAZY_SHUFFLE_ABOVE", 100)  # the 2,390 training windows count as large
    used = []
    monkeypatch.setattr(loop, "LazyPermutationSampler",
                        lambda n, seed: used.append(n) or LazyPermutationSampler(n, seed))
    train, valid = make_data()
    Trainer(config(tmp_path / "a"), LM).fit(make_model(), train, valid)
    assert used == [len(train)]
    with pytest.raises(KeyboardInterrupt):
        Trainer(config(tmp_path / "b"), LM).fit(interrupted_after(10, make_model()), train, valid)
    Trainer(config(tmp_path / "b", resume_from="latest"), LM).fit(make_model(), train, valid)
    a, b = train_losses(tmp_path / "a" / "run"), train_losses(tmp_path / "b" / "run")
    assert [a[s] for s in range(1, 21)] == [b[s] for s in range(1, 21)]
    torch.manual_seed(0)  # the small path is torch's own shuffle, unchanged
    monkeypatch.setattr(loop, "LAZY_SHUFFLE_ABOVE", 10**9)
    Trainer(config(tmp_path / "c"), LM).fit(make_model(), train, valid)
    assert used == [len(train)] * 3 and train_losses(tmp_path / "c" / "run") != a
