"""One Accelerator per process: trainers and scorers share it; what may differ between two trainings of
one run (gradient accumulation, data seed) is updated, a different mixed precision rebuilds it."""

from __future__ import annotations

from hf_nlp.training.accelerator import reset_shared_accelerator, shared_accelerator


def test_the_accelerator_is_shared_and_updated():
    reset_shared_accelerator()
    first = shared_accelerator("no", gradient_accumulation_steps=1, data_seed=1)
    first.step = 7  # micro-batches counted by an earlier training
    again = shared_accelerator("no", gradient_accumulation_steps=4, data_seed=2)
    assert again is first
    assert again.gradient_accumulation_steps == 4 and again.dataloader_config.data_seed == 2
    assert again.step == 0  # a new training counts its micro-batches from zero


def test_another_mixed_precision_rebuilds_it_in_one_process():
    reset_shared_accelerator()
    plain = shared_accelerator("no")
    bf16 = shared_accelerator("bf16")
    assert bf16 is not plain and bf16.mixed_precision == "bf16"
    assert shared_accelerator("bf16") is bf16
    reset_shared_accelerator()
