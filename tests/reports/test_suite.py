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


def test_translation_runs_are_tested_against_a_baseline_sentence_by_sentence(translator_run, tmp_path, capsys):
    import shutil

    from hf_nlp.evaluation.translation import TEST_TRANSLATIONS, paired_bootstrap, read_test_translations

    saved = read_test_translations(translator_run)
    assert saved is not None and len(saved["en"]) == 20 and set(saved) == {"en", "reference", "greedy", "beam 3"}
    # A second system on the same test sentences: the run's folder with every beam output replaced by the reference.
    other = tmp_path / "runs" / "perfect"
    shutil.copytree(translator_run, other)
    lines = [json.loads(line) for line in (other / TEST_TRANSLATIONS).read_text().splitlines()]
    (other / TEST_TRANSLATIONS).write_text("".join(json.dumps({**line, "beam 3": line["reference"]}) + "\n"
                                                   for line in lines))
    out = tmp_path / "report"
    code, _, err = cli_in_process(["report", str(translator_run), str(other), "--output", str(out),
                                   "--baseline", translator_run.name], capsys)
    assert code == 0, err[-2000:]
    data = json.loads((out / "report.json").read_text())
    rows = {row["run"]: row for row in data["tables"]["translation"]}
    expected = paired_bootstrap({translator_run.name: saved["beam 3"], "perfect": saved["reference"]},
                                saved["reference"], translator_run.name)
    assert data["significance"]["translation"] == json.loads(json.dumps(expected))
    for name, row in rows.items():
        assert row["BLEU ±"] == expected["systems"][name]["bleu"]["ci"]
        assert row["chrF ±"] == expected["systems"][name]["chrf"]["ci"]
    assert rows[translator_run.name]["p (BLEU / chrF)"] == "baseline"
    bleu_p = expected["systems"]["perfect"]["bleu"]["p_value"]
    assert rows["perfect"]["p (BLEU / chrF)"].startswith(f"{bleu_p:.4f} / ")
    assert expected["signatures"]["bleu"] in (out / "report.md").read_text()

    code, _, err = cli_in_process(["report", str(translator_run), str(other), "--output", str(out),
                                   "--baseline", "nope"], capsys)
    assert code == 2 and "`--baseline nope` is not a translation run" in err and err.count("\n") == 1
