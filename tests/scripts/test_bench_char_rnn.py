"""The char-RNN benchmark runs end to end and reports every row as a ratio and a share of the peak
(its numbers are only meaningful on a quiet machine)."""

import pytest

from scripts import bench_char_rnn

pytestmark = pytest.mark.e2e  # the benchmark trains the char-RNN (plain PyTorch and the shared loop)


def test_char_rnn_benchmark_runs_and_reports_ratios():
    results = bench_char_rnn.main(["--hidden-size", "8", "--steps", "3", "--repeats", "1", "--window", "10",
                                   "--fast-batch-size", "64", "--new-tokens", "5", "--prompt-length", "3",
                                   "--no-keras"])
    training = results["training"]
    rows = {row["name"]: row for row in training["table"]["rows"]}
    assert set(rows) == {"plain PyTorch, batch 32 fp32", "shared loop, batch 32 fp32", "plain PyTorch, batch 64 bf16",
                         "shared loop, batch 64 bf16"}
    assert training["table"]["baseline"] == "plain PyTorch, batch 32 fp32"  # no Keras rows asked for
    assert rows["plain PyTorch, batch 32 fp32"]["ratio"] == 1.0
    assert all(row["rate"] > 0 and 0 < row["share_of_peak"] < 1 for row in rows.values())
    # GRU(16 -> 8) + Linear(8 -> 40), forward x 3: the FLOPs torch counted are the textbook ones.
    forward = 2 * 3 * (16 * 8 + 8 * 8) + 2 * 8 * 40
    assert abs(training["flops_per_char"] / (3 * forward) - 1) < 0.02
    assert training["keras_skipped"] == "--no-keras"
    generation = {row["name"]: row for row in results["generation"]["table"]["rows"]}
    assert generation["generate(), state carried"]["ratio"] > 0
    assert [t["title"] for t in results["tables"]] == ["char-RNN training", "char-RNN generation"]
