"""The scale benchmark runs each family's recipe on generated corpora and measures it from outside."""

import json

import pytest

from hf_nlp.reports.writing import environment_info
from scripts import bench_scale, readme_results


@pytest.mark.e2e
@pytest.mark.slow  # the default run stays under 15 minutes on 2 cores; CI runs the slow tier too
def test_each_family_is_measured_at_each_size_and_tabled(tmp_path, monkeypatch):
    results = bench_scale.main(["--base-mb", "0.05", "--base-pairs", "5000", "--base-reviews", "200", "--factors", "1",
                                "2", "--steps", "2", "--eval-chars", "2000", "--repeats", "1"])
    char, translate = results["families"]["char_rnn"]["runs"], results["families"]["translate"]["runs"]
    sentiment, stream = results["families"]["sentiment"]["runs"], results["families"]["sentiment_stream"]["runs"]
    assert sentiment["2x"]["rows"] == stream["2x"]["rows"] == 400
    assert sentiment["2x"]["train_examples"] == 320 and stream["2x"]["train_examples"] is None  # 80 %; streamed
    assert set(char) == set(translate) == {"1x", "2x"}
    assert char["2x"]["train_chars"] == pytest.approx(2 * char["1x"]["train_chars"], abs=2)
    assert translate["1x"]["lines"] == 5000 and translate["2x"]["lines"] == 10_000
    assert translate["2x"]["train_pairs"] > translate["1x"]["train_pairs"] > 0
    for run in [*char.values(), *translate.values(), *sentiment.values(), *stream.values()]:
        assert run["data_seconds"] > 0 and 100 < run["peak_rss_mb"] < 8000
    assert [table["title"] for table in results["tables"]] == [
        f"{family} data preparation" for family in ("char_rnn", "translate", "sentiment", "sentiment_stream")]

    path = tmp_path / "scale.json"
    path.write_text(json.dumps({"quick": False, "environment": environment_info(), "sections": {"scale": results}}))
    table = readme_results.scale_table(path)
    assert table.count("| char_rnn |") == 2 and "10,000 lines" in table and "400 reviews, 320 training" in table


def test_a_short_preparation_is_repeated_and_its_median_kept(tmp_path, monkeypatch):
    """Seconds-long preparations swing between identical runs: up to `repeats` runs, the median time and
    the largest RSS kept; a long one is run once."""
    scripted = iter([(3.0, 500.0), (9.0, 700.0), (4.0, 600.0), (45.0, 900.0), (50.0, 100.0)])

    def fake_run(command, work):
        assert not (work / "run").exists()  # each run starts from a fresh folder and an empty HF_HOME
        seconds, rss = next(scripted)
        return {"data_seconds": seconds, "peak_rss_mb": rss, "wall_seconds": seconds + 10}, {"split_sizes": {}}

    monkeypatch.setattr(bench_scale, "run_recipe", fake_run)
    corpus = tmp_path / "reviews.csv"
    corpus.write_text("text,label\n")
    (tmp_path / "short").mkdir()
    short = bench_scale.measure("sentiment_stream", corpus, tmp_path / "short", 1, 1, rows=1)
    assert short["data_seconds_each"] == [3.0, 9.0, 4.0]
    assert short["data_seconds"] == 4.0 and short["peak_rss_mb"] == 700.0 and short["wall_seconds"] == 14.0
    (tmp_path / "long").mkdir()
    long = bench_scale.measure("sentiment_stream", corpus, tmp_path / "long", 1, 1, rows=1)
    assert long["data_seconds_each"] == [45.0] and long["peak_rss_mb"] == 900.0
