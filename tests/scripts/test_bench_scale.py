"""The scale benchmark runs each family's recipe on generated corpora and measures it from outside."""

import json

import pytest

from hf_nlp.reports.writing import environment_info
from scripts import bench_scale, readme_results


@pytest.mark.e2e
def test_each_family_is_measured_at_each_size_and_tabled(tmp_path, monkeypatch):
    results = bench_scale.main(["--base-mb", "0.05", "--base-pairs", "5000", "--base-reviews", "200", "--factors", "1",
                                "2", "--steps", "2", "--eval-chars", "2000"])
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
