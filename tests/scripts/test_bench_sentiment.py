"""The sentiment benchmark runs end to end on toy data (its numbers only mean something on a quiet machine)."""

import random

import pytest

from scripts import bench_sentiment
from tests.e2e.test_sentiment_rnn_recipe import FILLER, NEGATIVE, POSITIVE
from tests.models.tiny_encoder import make_tiny_encoder

pytestmark = pytest.mark.e2e  # the benchmark trains the GRU and fine-tunes an encoder (transformers.Trainer, our loop)


def test_sentiment_benchmark_runs_and_reports_ratios(tmp_path):
    rng = random.Random(0)
    rows = [f'"{" ".join(rng.choices(FILLER, k=rng.randint(3, 300)) + [rng.choice(POSITIVE if i % 2 else NEGATIVE)])}",'
            f'{"pos" if i % 2 else "neg"}' for i in range(50)]
    csv = tmp_path / "toy.csv"
    csv.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    encoder = make_tiny_encoder(tmp_path / "encoder", FILLER + POSITIVE + NEGATIVE)
    results = bench_sentiment.main(["--gru-source", str(csv), "--encoder", str(encoder), "--encoder-source", str(csv),
                                    "--encoder-examples", "40", "--encoder-steps", "2", "--batch-size", "8",
                                    "--repeats", "1", "--precision", "no", "--no-keras"])
    gru = results["gru"]
    assert gru["reviews"] == 40 and gru["ours_vs_keras"] is None
    rows = {row["name"]: row for row in gru["table"]["rows"]}
    assert set(rows) == {"every batch padded to 500", "dynamic padding", "dynamic padding, length-grouped"}
    assert all(row["rate"] > 0 and 0 < row["share_of_peak"] < 1 for row in rows.values())
    # Per token: the GRU(128 -> 128) forward x 3 (the head runs once per review, not per token).
    assert abs(gru["flops_per_token"] / (3 * 2 * 3 * (128 * 128 + 128 * 128)) - 1) < 0.01
    encoder_rows = [row["name"] for row in results["encoder"]["table"]["rows"]]
    assert encoder_rows == ["transformers.Trainer", "our shared loop"]
    assert [t["title"] for t in results["tables"]] == ["sentiment GRU training", "encoder fine-tuning"]
