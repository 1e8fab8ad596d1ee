"""FLOPs counted by torch match the textbook count, and shares of the peak are rate x FLOPs / peak."""

import pytest
import torch

from hf_nlp.models.char_rnn import CharRNNConfig, CharRNNForCausalLM
from scripts import bench_flops, bench_peak
from scripts.bench_table import ratio_table


def test_training_flops_of_the_char_rnn_are_three_times_its_textbook_forward():
    model = CharRNNForCausalLM(CharRNNConfig(vocab_size=40, embedding_size=16, hidden_size=128))
    batch = torch.randint(2, 40, (4, 50))
    flops = bench_flops.training_flops(model, {"input_ids": batch, "labels": batch})
    forward_per_char = 2 * 3 * (16 * 128 + 128 * 128) + 2 * 128 * 40  # GRU gates + output layer
    assert flops / (4 * 50) == pytest.approx(3 * forward_per_char, rel=0.01)
    assert all(p.grad is None for p in model.parameters())  # counting leaves no gradients behind


def test_share_of_peak_uses_the_peak_measured_in_this_process(monkeypatch):
    monkeypatch.setattr(bench_peak, "MEASURED", {"float32": 100.0})
    bench_flops.peak_gflops.cache_clear()
    try:
        assert bench_flops.share_of_peak(items_per_s=2e6, flops_per_item=1e4) == pytest.approx(0.2)
    finally:
        bench_flops.peak_gflops.cache_clear()


def test_ratio_table_rows_are_relative_to_the_baseline(capsys):
    table = ratio_table("w", "items/s", {"slow": 10.0, "fast": 25.0}, "slow", "fast", "d", {"fast": 0.5})
    assert [(r["name"], r["ratio"], r["share_of_peak"]) for r in table["rows"]] == [("slow", 1.0, None),
                                                                                     ("fast", 2.5, 0.5)]
    printed = capsys.readouterr().out
    assert "w (d)" in printed and "x2.50" in printed and "50.0 % of peak" in printed
