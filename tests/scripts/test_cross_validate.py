"""`scripts/cross_validate.py` end to end: the sentiment GRU on the toy CSV, 2 folds, each a real
recipe run in a subprocess; finished folds are reused, clashing settings refused in one sentence."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hf_nlp.evaluation.cross_validation import TFIDF
from hf_nlp.reports.suite import suite_report
from tests.conftest import REPO_ROOT
from tests.e2e.test_sentiment_rnn_recipe import toy_csv  # noqa: F401  (fixture)

SCRIPT = str(REPO_ROOT / "scripts" / "cross_validate.py")
TINY = ["--config", "recipes/configs/sentiment_rnn.yaml", "--data.text_column", "review", "--data.label_column",
        "sentiment", "--model.embedding_size", "16", "--model.hidden_size", "16", "--train.num_epochs", "8",
        "--train.learning_rate", "0.01", "--train.batch_size", "16", "--train.progress_bar", "false",
        "--train.save_every", "20"]


def cross_validate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, SCRIPT, "recipes/sentiment_rnn.py", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.e2e
@pytest.mark.slow  # the default run stays under 15 minutes on 2 cores; CI runs the slow tier too
def test_two_folds_test_every_text_once_and_are_reused(toy_csv, tmp_path):  # noqa: F811
    out, summary_path = tmp_path / "cv", tmp_path / "reports" / "toy.json"
    args = ["--folds", "2", "--output", str(out), "--summary", str(summary_path), "--data.source", str(toy_csv), *TINY]
    done = cross_validate(*args)
    assert done.returncode == 0, done.stderr[-3000:]

    folds = [json.loads((out / f"fold_{i}" / "metrics.json").read_text()) for i in (1, 2)]
    assert [m["cv_fold"] for m in folds] == ["1/2", "2/2"]
    assert [m["split_sizes"]["test"] for m in folds] == [200, 200]  # the toy set's 400 texts, each tested once
    summary = json.loads(summary_path.read_text())
    assert summary == json.loads((out / "cross_validation.json").read_text())
    gru = summary["models"][folds[0]["variants"][0]["name"]]
    assert gru["accuracy"] == [m["variants"][0]["test"]["accuracy"] for m in folds]
    assert summary["models"][TFIDF]["accuracy"] == [m["tfidf_logreg"]["accuracy"] for m in folds]
    assert gru["pooled_accuracy"] > 0.9 and summary["test_texts"] == 400
    assert "Cross-validation on" in (out / "cross_validation.md").read_text() and "pooled (400 texts)" in done.stdout
    assert summary_path.with_suffix(".md").read_text() == (out / "cross_validation.md").read_text()

    # `hf-nlp evaluate` rebuilds a fold's own test split from the run's config (not the standard one).
    hf_nlp = str(Path(sys.executable).with_name("hf-nlp"))
    evaluated = subprocess.run([hf_nlp, "evaluate", "--model", str(out / "fold_2"), "--task", "classification"],
                               cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    result = json.loads((out / "fold_2" / "best_model" / "eval" / "test.json").read_text())["metrics"]
    assert result["examples"] == 200 and result["confusion"] == folds[1]["variants"][0]["test"]["confusion"]

    # Each fold has its own splits and baseline, so the suite report gives each its own table.
    report = json.loads((suite_report([out], tmp_path / "report").parent / "report.json").read_text())
    assert sorted(report["tables"]) == [f"classification:{toy_csv} (cv fold {i}/2)" for i in (1, 2)]

    stamps = [(out / f"fold_{i}" / "metrics.json").stat().st_mtime_ns for i in (1, 2)]
    again = cross_validate(*args)
    assert again.returncode == 0 and again.stdout.count("finished earlier with the same arguments, reused") == 2
    assert [(out / f"fold_{i}" / "metrics.json").stat().st_mtime_ns for i in (1, 2)] == stamps
    assert json.loads(summary_path.read_text())["models"] == summary["models"]

    # A fold stopped before writing its metrics resumes from its latest checkpoint and ends the same.
    (out / "fold_2" / "metrics.json").unlink()
    resumed = cross_validate(*args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "fold_1: finished earlier" in resumed.stdout and "Checkpoint detected, resuming" in resumed.stderr
    assert json.loads((out / "fold_2" / "metrics.json").read_text())["variants"][0]["test"] == \
        folds[1]["variants"][0]["test"]

    clash = cross_validate(*args, "--train.num_epochs", "2")
    assert clash.returncode == 2 and "holds a run with other arguments" in clash.stderr
    assert "Traceback" not in clash.stderr


def test_settings_the_script_owns_are_refused(tmp_path, capsys):
    from hf_nlp.errors import exit_on_user_error
    from scripts.cross_validate import main

    for argv, message in ((["recipes/sentiment_rnn.py", *TINY, "--data.cv_fold", "1"], "sets `--data.cv_folds`"),
                          (["recipes/sentiment_rnn.py", *TINY, "--folds", "1"], "`--folds` must be at least 2"),
                          (["recipes/nope.py"], "no recipe `recipes/nope.py`")):
        with pytest.raises(SystemExit) as exit_info:
            exit_on_user_error(main)([*argv, "--output", str(tmp_path / "cv")])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "cv").exists()


def test_fold_in_an_override_becomes_each_folds_number():
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    from cross_validate import fold_command

    overrides = ["--model.encoder", "runs/cv/fold_{fold}/best_model", "--train.num_epochs", "1"]
    commands = [fold_command(["python"], "recipes/finetune_encoder.py", overrides, 3, fold, Path(f"out/fold_{fold}"))
                for fold in (1, 2, 3)]
    assert [command[3] for command in commands] == [f"runs/cv/fold_{fold}/best_model" for fold in (1, 2, 3)]
    assert commands[1][-6:] == ["--data.cv_folds", "3", "--data.cv_fold", "2", "--train.output_dir", "out/fold_2"]
    assert overrides[1] == "runs/cv/fold_{fold}/best_model"  # the caller's list is left as it was
