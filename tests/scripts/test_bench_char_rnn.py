"""The benchmark script runs end to end (its numbers are only meaningful on a quiet machine)."""

from scripts import bench_char_rnn


def test_char_rnn_benchmark_runs_and_reports_ratios():
    results = bench_char_rnn.main(["--hidden-size", "8", "--steps", "3", "--repeats", "1", "--window", "10",
                                   "--batch-size", "4", "--new-tokens", "5", "--prompt-length", "3"])
    assert results["training"]["loop_vs_plain"] > 0
    assert results["generation"]["state_vs_rerun_prefix"] > 0
    assert set(results["generation"]) >= {"rerun_prefix_chars_per_s", "generate_with_state_chars_per_s"}
