"""The translation benchmark runs end to end on toy pairs (its numbers only mean something on a quiet machine)."""

import random

import pytest

from scripts import bench_translate

pytestmark = pytest.mark.e2e  # the benchmark trains the seq2seq model


def test_translate_benchmark_runs_and_reports_ratios(tmp_path):
    rng = random.Random(0)
    words = "a b c d e f g h".split()
    lines = [" ".join(rng.choices(words, k=rng.randint(2, 12))) + "\t" + " ".join(rng.choices(words, k=rng.randint(2, 12)))
             for _ in range(120)]
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("\n".join(lines) + "\n", encoding="utf-8")
    results = bench_translate.main(["--source", str(pairs), "--test-size", "10", "--validation-size", "10",
                                    "--vocab-size", "20", "--hidden-size", "16", "--sentences", "6", "--beams", "2",
                                    "--max-new-tokens", "5", "--decode-batch-size", "4", "--train-pairs", "40",
                                    "--batch-size", "8", "--repeats", "1"])
    beam, training = results["beam"], results["training"]
    assert beam["sentences"] == 6 and beam["batched_vs_one_at_a_time"] > 0
    assert results["beam_bfloat16"]["dtype"] == "bfloat16" and results["beam_bfloat16"]["batched_sentences_per_s"] > 0
    assert training["pairs"] == 40 and training["flops_per_pair"] > 0
    beam_table, training_table = results["tables"]
    assert len(beam_table["rows"]) == 4 and beam_table["ours"] == "batched (translate_texts), float32"
    assert [row["name"] for row in training_table["rows"]] == ["every batch padded to 50", "length-grouped, dynamic padding"]
    assert all(0 < row["share_of_peak"] < 1 for row in training_table["rows"])
