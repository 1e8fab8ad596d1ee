"""`hf-nlp report` over one run of each family: tables, JSON, plots, environment, references."""

import json
from pathlib import Path

import pytest

from hf_nlp.evaluation.significance import format_difference
from tests.conftest import cli_in_process

pytestmark = pytest.mark.e2e  # every test runs `hf-nlp report` over trained runs


def test_one_report_across_the_three_families(lm_run, classifier_run, translator_run, tmp_path, capsys):
    out = tmp_path / "report"
    # Parent folders are searched for runs; the classifier run is passed directly.
    code, _, err = cli_in_process(["report", str(lm_run.parent), str(classifier_run), str(translator_run.parent),
                                   "--output", str(out)], capsys)
    assert code == 0, err[-2000:]
    data = json.loads((out / "report.json").read_text())
    assert {run["family"] for run in data["runs"]} == {"lm", "classification", "translation"}
    lm_metrics = json.loads((lm_run / "metrics.json").read_text())
    (lm_row,) = data["tables"]["lm"]
    assert lm_row["validation loss"] == lm_metrics["validation"]["loss"] and lm_row["reference (val. loss)"] == 1.5477
    classifier_metrics = json.loads((classifier_run / "metrics.json").read_text())
    model_row, tfidf_row = data["tables"][f"classification:{classifier_metrics['source']}"]
    assert model_row["test accuracy"] == classifier_metrics["variants"][0]["test"]["accuracy"]
    assert tfidf_row["test accuracy"] == classifier_metrics["tfidf_logreg"]["accuracy"]
    paired = classifier_metrics["variants"][0]["test"]["vs_tfidf"]  # on the run's own test texts
    assert model_row["vs TF-IDF, 95 % CI"] == format_difference(paired) and tfidf_row["vs TF-IDF, 95 % CI"] == "—"
    (translation_row,) = data["tables"]["translation"]
    translation_metrics = json.loads((translator_run / "metrics.json").read_text())
    assert translation_row["BLEU beam 3"] == translation_metrics["decoding"]["beam 3"]["bleu"]
    assert translation_row["reference (val. token acc.)"] == 0.711  # the quick config has Luong attention
    for row in (lm_row, model_row, translation_row):
        assert "CPU" in row["hardware"] or "GPU" in row["hardware"]
        assert row["versions"].startswith("torch ")
    markdown = (out / "report.md").read_text()
    for title in ("Char-RNN language models", "Text classifiers", "English→Spanish translators"):
        assert f"## {title}" in markdown
    for chart in ("lm.png", "translation.png"):
        assert (out / chart).stat().st_size > 5000
    figures = {Path(f).name for run in data["runs"] for f in run["figures"]}
    assert {"loss_curve.png", "attention_1.png"} <= figures
    assert any(name.startswith("confusion_") for name in figures)
    for run in data["runs"]:
        for figure in run["figures"]:
            assert (out / figure).is_file() and f"]({figure})" in markdown


def test_nothing_to_report_is_one_sentence(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, _, err = cli_in_process(["report", str(tmp_path / "empty"), "--output", str(tmp_path / "out")], capsys)
    assert code == 2 and "no finished runs" in err and len(err.splitlines()) == 1
