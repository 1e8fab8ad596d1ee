"""`hf-nlp search`: optuna trials that are real recipe runs, scored on validation, pruned, resumed after kill -9."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import psutil
import pytest

from hf_nlp.config import parse_config
from hf_nlp.search import Dimension, Search, run_trial
from recipes.sentiment_rnn import SentimentRecipeConfig
from tests.conftest import REPO_ROOT, cli_in_process

CONFIG = str(REPO_ROOT / "recipes/configs/sentiment_rnn.yaml")
SPACE = """\
train.learning_rate: {type: float, low: 1.0e-3, high: 3.0e-2, log: true}
model.hidden_size: {type: int, low: 4, high: 16}
model.cell_type: {type: categorical, choices: [gru, lstm]}
"""


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> tuple[Path, Path]:
    """A separable review CSV and a search space over the GRU's learning rate, width and cell."""
    rng = random.Random(0)
    rows = []
    for i in range(240):
        words = rng.choices(["the", "film", "plot", "was", "a", "story"], k=rng.randint(3, 12)) + \
            [rng.choice(["great", "superb", "moving"] if i % 2 else ["awful", "dull", "tedious"])]
        rng.shuffle(words)
        rows.append(f'{" ".join(words)},{"pos" if i % 2 else "neg"}')
    folder = tmp_path_factory.mktemp("search")
    (folder / "toy.csv").write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    (folder / "space.yaml").write_text(SPACE)
    return folder / "toy.csv", folder / "space.yaml"


def overrides(csv: Path) -> list[str]:
    return ["--data.source", str(csv), "--model.embedding_size", "8", "--train.num_epochs", "3",
            "--train.early_stopping_patience", "null"]


def search_command(csv: Path, space: Path, output: Path, trials: int) -> list[str]:
    return [sys.executable, "-m", "hf_nlp.cli", "search", "sentiment_rnn", "--config", CONFIG, "--space", str(space),
            "--trials", str(trials), "--output", str(output), *overrides(csv)]


def accuracies(run_dir: Path) -> list[tuple[int, float]]:
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [(entry["step"], entry["eval_accuracy"]) for entry in lines if "eval_accuracy" in entry]


def test_a_search_scores_trials_on_validation_and_writes_the_best_config(toy, tmp_path, capsys):
    csv, space = toy
    output = tmp_path / "search"
    code, out, err = cli_in_process(["search", "sentiment_rnn", "--config", CONFIG, "--space", str(space),
                                     "--trials", "3", "--output", str(output), *overrides(csv)], capsys)
    assert code == 0, err
    summary = json.loads((output / "trials.json").read_text())
    assert [t["state"] for t in summary["trials"]] == ["complete"] * 3  # the first 3 are never pruned
    assert summary["metric"] == "validation accuracy" and summary["direction"] == "maximize"
    for trial in summary["trials"]:
        run_dir = Path(trial["run_dir"])
        assert run_dir == output / f"trial_{trial['trial']}"
        # The trial's score is its best validation accuracy, as logged by the loop...
        assert trial["value"] == max(value for _, value in accuracies(run_dir))
        # ... and nothing after training ran: no test scores, no report (the recipe writes both after `fit`).
        assert not (run_dir / "metrics.json").exists() and not (run_dir / "report.md").exists()
        chosen = json.loads((run_dir / "validation.json").read_text())
        assert chosen["best_metric"] == trial["value"] and "test" not in json.dumps(chosen)
        saved = parse_config(SentimentRecipeConfig, ["--config", str(run_dir / "best_model" / "config.yaml")])
        assert saved.train.learning_rate == trial["train.learning_rate"]
        assert (saved.model.hidden_size, saved.model.cell_type) == (trial["model.hidden_size"],
                                                                     trial["model.cell_type"])
    best = max(summary["trials"], key=lambda t: t["value"])
    assert summary["best"]["trial"] == best["trial"] and f"best: trial {best['trial']}" in out
    config = parse_config(SentimentRecipeConfig, ["--config", str(output / "best_config.yaml")])
    assert config.train.learning_rate == best["train.learning_rate"] and config.model.cell_type == best["model.cell_type"]
    assert config.train.validation_only is False and config.data.source == str(csv)
    assert "| trial | state | value |" in (output / "trials.md").read_text()

    # The same command again: the study is complete, nothing runs; a different space is refused.
    code, out, err = cli_in_process(["search", "sentiment_rnn", "--config", CONFIG, "--space", str(space),
                                     "--trials", "3", "--output", str(output), *overrides(csv)], capsys)
    assert code == 0 and "trial_3" not in out and not (output / "trial_3").exists()
    other = tmp_path / "other.yaml"
    other.write_text("train.learning_rate: {type: float, low: 0.1, high: 0.2}\n")
    code, _, err = cli_in_process(["search", "sentiment_rnn", "--config", CONFIG, "--space", str(other),
                                   "--trials", "4", "--output", str(output), *overrides(csv)], capsys)
    assert code == 2 and "holds a search started with other arguments" in err


def test_a_pruned_trial_is_stopped_while_it_trains(toy, tmp_path):
    csv, _ = toy
    search = Search("sentiment_rnn", CONFIG, [Dimension("model.hidden_size", "int", 4, 8)],
                    [*overrides(csv), "--train.num_epochs", "1000"], tmp_path)  # no early stopping: 1000 epochs
    # Prunes at the first report whatever the accuracy: the 1000-epoch run must be stopped there. (With the
    # fused GRU a toy epoch takes about 15 ms: 68 ran between the first report and the stop, 40 could all be over.)
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=2.0))
    trial = study.ask()
    started = time.monotonic()
    with pytest.raises(optuna.TrialPruned):
        run_trial(search, trial, {"model.hidden_size": 4}, tmp_path / "trial_0", "accuracy")
    steps = [step for step, _ in accuracies(tmp_path / "trial_0")]
    assert steps and len(steps) < 1000 and time.monotonic() - started < 120
    assert not (tmp_path / "trial_0" / "validation.json").exists()


@pytest.mark.slow  # the default run stays under 15 minutes on 2 cores; CI runs the slow tier too
def test_a_search_killed_with_sigkill_resumes_its_interrupted_trial(toy, tmp_path):
    csv, space = toy
    output = tmp_path / "search"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    command = search_command(csv, space, output, 3)
    # Long enough that the kill lands while trial 1 trains: a toy epoch takes about 15 ms on the fused GRU,
    # so 25 epochs could be over, checkpoint and all, before the search is killed (a SIGTERM after the loop
    # has nothing left to save).
    epochs = 120
    command[command.index("--train.num_epochs") + 1] = str(epochs)
    search = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path)
    second = output / "trial_1" / "metrics.jsonl"
    deadline = time.monotonic() + 300
    while not (second.is_file() and "eval_accuracy" in second.read_text()):
        assert search.poll() is None and time.monotonic() < deadline, search.stdout.read().decode()
        time.sleep(0.5)
    search.send_signal(signal.SIGKILL)
    search.wait()
    # The trial's launcher and recipe stop with the search (SIGTERM on the parent's death): no orphan
    # goes on writing into the folder.
    deadline = time.monotonic() + 60
    while any(str(output / "trial_1") in " ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"])):
        assert time.monotonic() < deadline, "the interrupted trial is still running"
        time.sleep(0.5)

    # The recipe saved a checkpoint when the search's death stopped it.
    checkpoints = sorted((output / "trial_1" / "checkpoints").glob("step_*"))
    assert checkpoints, "the interrupted trial saved no checkpoint"
    resumed = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "trial 1 was interrupted" in resumed.stdout
    interrupted_at = int(checkpoints[-1].name.removeprefix("step_"))
    assert f"resuming training at step {interrupted_at}" in (output / "trial_1" / "trial.log").read_text()
    trials = json.loads((output / "trials.json").read_text())["trials"]
    assert [t["state"] for t in trials] == ["complete", "fail", "complete", "complete"]
    interrupted, rerun = trials[1], trials[2]
    assert rerun["run_dir"] == interrupted["run_dir"] == str(output / "trial_1")
    values = [{k: v for k, v in trial.items() if "." in k} for trial in trials]
    assert values[2] == values[1]
    assert values[3] not in (values[0], values[1])  # the resumed sampler draws new values, not the first ones again
    steps = [step for step, _ in accuracies(output / "trial_1")]
    assert steps == sorted(set(steps)) and len(steps) == epochs  # resumed in its folder: each epoch once


def test_a_bad_space_is_one_sentence_before_any_trial(toy, tmp_path, capsys):
    csv, _ = toy
    cases = {
        "model.hidden_size: {type: normal, low: 1, high: 2}\n": "needs a `type` of float, int, categorical",
        "model.hidden_size: {type: int, low: 8, high: 4}\n": "needs numbers `low` < `high`",
        "train.learning_rate: {type: float, low: 0, high: 1, log: true}\n": "`low` must be above 0",
        "model.cell_type: {type: categorical, choices: []}\n": "non-empty list of `choices`",
        "model.no_such_key: {type: int, low: 1, high: 4}\n": "no_such_key",
    }
    for text, message in cases.items():
        space = tmp_path / "space.yaml"
        space.write_text(text)
        code, _, err = cli_in_process(["search", "sentiment_rnn", "--config", CONFIG, "--space", str(space),
                                       "--trials", "2", "--output", str(tmp_path / "out"), *overrides(csv)], capsys)
        assert code == 2 and message in err and err.count("\n") == 1, (text, err)
        assert not list((tmp_path / "out").glob("trial_*"))
