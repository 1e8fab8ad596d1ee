"""`hf-nlp evaluate` rebuilds each family's data split from the run's config and reproduces the
recipe's own test metrics through the same loop; results land in eval/<split>.json and the card."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from tests.conftest import REPO_ROOT, cli_in_process

HF_NLP = str(Path(sys.executable).with_name("hf-nlp"))


def evaluate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([HF_NLP, "evaluate", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)


def evaluate_in_process(capsys, *args: str) -> subprocess.CompletedProcess:
    """As `evaluate`, in this process (no second import of torch and transformers)."""
    code, out, err = cli_in_process(["evaluate", *args], capsys)
    return subprocess.CompletedProcess(["hf-nlp", "evaluate", *args], code, out, err)


def test_lm_metrics_match_the_recipe(lm_run):
    done = evaluate("--model", str(lm_run), "--task", "lm", "--split", "validation")
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((lm_run / "best_model" / "eval" / "validation.json").read_text())
    recipe = json.loads((lm_run / "metrics.json").read_text())["validation"]
    for key in ("loss", "bits_per_char", "perplexity", "accuracy"):
        assert result["metrics"][key] == pytest.approx(recipe[key], rel=1e-5), key
    assert result["metrics"]["tokens"] == recipe["chars"]
    assert result["environment"]["libraries"]["torch"] and result["data"]["window"] == 20


def test_evaluate_scores_without_a_training_run_and_leaves_no_temporary_folder(lm_run, tmp_path):
    """No run folder, checkpoint or log is made to score a model: the temporary directory stays empty and
    the model folder gains only its eval/ results."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    before = sorted(p.relative_to(lm_run) for p in lm_run.rglob("*") if "eval" not in p.parts)
    done = subprocess.run([HF_NLP, "evaluate", "--model", str(lm_run), "--task", "lm", "--split", "test"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TMPDIR": str(temporary)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert list(temporary.iterdir()) == []
    assert sorted(p.relative_to(lm_run) for p in lm_run.rglob("*") if "eval" not in p.parts) == before
    assert (lm_run / "best_model" / "eval" / "test.json").is_file()


def test_classification_metrics_match_the_recipe_and_reach_the_card(classifier_run, capsys):
    done = evaluate_in_process(capsys, "--model", str(classifier_run), "--task", "classification")
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((classifier_run / "best_model" / "eval" / "test.json").read_text())["metrics"]
    recipe = json.loads((classifier_run / "metrics.json").read_text())["variants"][-1]["test"]
    assert metrics["accuracy"] == pytest.approx(recipe["accuracy"])
    assert metrics["f1_macro"] == pytest.approx(recipe["f1_macro"])
    assert metrics["confusion"] == recipe["confusion"] and metrics["examples"] == recipe["examples"]
    assert (classifier_run / "best_model" / "eval" / "test_confusion.png").stat().st_size > 1000
    card = ModelCard.load(classifier_run / "best_model" / "README.md")
    evaluated = [r for r in card.data.eval_results if r.dataset_split == "test (hf-nlp evaluate)"]
    assert {r.metric_type for r in evaluated} == {"accuracy", "f1"}


def test_translation_metrics_match_the_recipe(translator_run, capsys):
    done = evaluate_in_process(capsys, "--model", str(translator_run), "--task", "translation")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "bleu" in done.stdout and done.stdout.strip().endswith("test.json")
    metrics = json.loads((translator_run / "best_model" / "eval" / "test.json").read_text())["metrics"]
    recipe = json.loads((translator_run / "metrics.json").read_text())
    assert metrics["num_beams"] == 3  # the decoding the run saved in its generation config
    assert metrics["token_accuracy"] == pytest.approx(recipe["test"]["token_accuracy"], rel=1e-6)
    assert metrics["bleu"] == pytest.approx(recipe["decoding"]["beam 3"]["bleu"], abs=1e-6)
    assert metrics["chrf"] == pytest.approx(recipe["decoding"]["beam 3"]["chrf"], abs=1e-6)
    assert metrics["sentences"] == 20


def test_wrong_task_or_data_is_one_sentence(classifier_run, tmp_path, capsys):
    wrong_task = evaluate_in_process(capsys, "--model", str(classifier_run), "--task", "translation")
    wrong_data = evaluate_in_process(capsys, "--model", str(classifier_run), "--task", "classification", "--source", "tweets",
                          "--output", str(tmp_path))
    for result, message in ((wrong_task, "could not load model"), (wrong_data, "do not cover the data's")):
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert message in result.stderr.strip().splitlines()[-1]  # after any progress bars: one sentence
