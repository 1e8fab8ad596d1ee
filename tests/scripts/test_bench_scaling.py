"""2 CPU processes against 1 at the same global batch: both runs finish, are timed, and report the
validation metric side by side (a long end-to-end run: the recipes on their real data)."""

import pytest

from scripts import bench_scaling


@pytest.mark.slow
def test_scaling_runs_both_recipes_with_one_and_two_processes():
    results = bench_scaling.main(["--char-steps", "10", "--sentiment-epochs", "1"])
    for name in ("char_rnn", "sentiment"):
        assert results[name]["speedup"] > 0
        assert list(results[name]["validation"]) == [bench_scaling.run_label(1), bench_scaling.run_label(2)]
    losses = list(results["char_rnn"]["validation"].values())
    assert abs(losses[0] - losses[1]) < 0.05  # same global batch, steps and seed: the same training, split in two
