"""The sentiment benchmark runs end to end on toy data (its numbers only mean something on a quiet machine)."""

import random

from scripts import bench_sentiment
from tests.e2e.test_sentiment_rnn_recipe import FILLER, NEGATIVE, POSITIVE
from tests.models.tiny_encoder import make_tiny_encoder


def test_sentiment_benchmark_runs_and_reports_ratios(tmp_path):
    rng = random.Random(0)
    rows = [f'"{" ".join(rng.choices(FILLER, k=rng.randint(3, 600)) + [rng.choice(POSITIVE if i % 2 else NEGATIVE)])}",'
            f'{"pos" if i % 2 else "neg"}' for i in range(100)]
    csv = tmp_path / "toy.csv"
    csv.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    encoder = make_tiny_encoder(tmp_path / "encoder", FILLER + POSITIVE + NEGATIVE)
    results = bench_sentiment.main(["--gru-source", str(csv), "--encoder", str(encoder), "--encoder-source", str(csv),
                                    "--encoder-examples", "40", "--encoder-steps", "2", "--batch-size", "8",
                                    "--repeats", "1", "--precision", "no"])
    gru, encoder_rates = results["gru"], results["encoder"]
    assert gru["reviews"] == 80 and 0 < gru["share_shorter_than_500"] < 1
    assert gru["dynamic_vs_pad_to_500"] > 0 and gru["grouped_vs_pad_to_500"] > 0
    assert encoder_rates["ours_vs_transformers_trainer"] > 0
