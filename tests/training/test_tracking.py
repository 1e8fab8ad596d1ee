"""Experiment trackers (`--train.report_to`): what the loop logs, read back with each tracker's own reader
(TensorBoard's EventAccumulator, trackio's local SQLite store), offline."""

from __future__ import annotations

import importlib.util
import json
import shutil

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from hf_nlp.errors import UserError
from hf_nlp.training.config import TrainingConfig
from hf_nlp.training.loop import METRICS_LOG, Trainer
from hf_nlp.training.tracking import TRACKERS_FILE, resolve_trackers, tracker_names, tracker_scalars
from tests.training.test_loop import LM, config, make_data, make_model


def logged(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / METRICS_LOG).read_text().splitlines()]


def scalars(log_dir, tag: str) -> dict[int, float]:
    """A TensorBoard scalar as step -> value, failing if a step appears twice."""
    events = EventAccumulator(str(log_dir))
    events.Reload()
    points = [(event.step, event.value) for event in events.Scalars(tag)]
    assert len({step for step, _ in points}) == len(points), f"{tag}: a step logged twice: {points}"
    return dict(points)


def test_report_to_names_known_trackers_or_none():
    assert tracker_names("none") == () and tracker_names("") == ()
    assert tracker_names("tensorboard, trackio,tensorboard") == ("tensorboard", "trackio")
    assert tracker_names("all") == ("all",)
    for wrong in ("tensorbord", "none,tensorboard", "all,wandb"):
        with pytest.raises(ValueError):
            tracker_names(wrong)
    with pytest.raises(UserError, match=r"^`--train.report_to`: `tensorbord` is not `none`, `all` or a comma-separated"):
        TrainingConfig(report_to="tensorbord")


@pytest.mark.skipif(importlib.util.find_spec("wandb") is not None, reason="wandb is installed here")
def test_a_tracker_that_is_not_installed_is_one_sentence_naming_the_package(tmp_path):
    with pytest.raises(UserError) as error:
        Trainer(config(tmp_path, report_to="tensorboard,wandb"), LM)
    assert str(error.value) == ("`--train.report_to tensorboard,wandb` needs wandb, which is not installed; install it "
                                "with `pip install wandb` or pass `--train.report_to none`.")
    assert set(resolve_trackers("all")) == {"tensorboard", "trackio"}  # the installed ones (the dev extra)


def test_scalars_are_named_as_transformers_names_them():
    assert tracker_scalars({"step": 5, "epoch": 0, "train_loss": 2.5, "lr": 0.01, "examples_per_second": 80.0}) == {
        "train/epoch": 0.0, "train/loss": 2.5, "train/learning_rate": 0.01, "train/examples_per_second": 80.0}
    assert tracker_scalars({"step": 5, "epoch": 1, "eval_loss": 2.0, "eval_accuracy": 0.5, "eval_count": 90}) == {
        "train/epoch": 1.0, "eval/loss": 2.0, "eval/accuracy": 0.5, "eval/count": 90.0}


@pytest.mark.e2e
def test_tensorboard_shows_the_logged_curves_and_a_resumed_run_logs_each_step_once(tmp_path):
    train, valid = make_data()
    cfg = config(tmp_path, max_steps=20, log_every=2, eval_every=10, save_every=10, report_to="tensorboard")
    Trainer(cfg, LM).fit(make_model(), train, valid)
    run_dir = tmp_path / "run"
    log_dir = run_dir / "tensorboard"
    assert json.loads((run_dir / TRACKERS_FILE).read_text()) == {"tensorboard": {"log_dir": str(log_dir)}}

    # As if killed after logging steps 11-20 but before its step-20 checkpoint: the rerun resumes from
    # step 10 and logs 11-20 again, which TensorBoard must show once (the earlier ones purged).
    shutil.rmtree(run_dir / "checkpoints" / "step_00000020")
    Trainer(cfg, LM).fit(make_model(), train, valid)
    lines = logged(run_dir)
    losses = scalars(log_dir, "train/loss")
    assert losses == pytest.approx({line["step"]: line["train_loss"] for line in lines if "train_loss" in line})
    assert sorted(losses) == list(range(2, 21, 2))
    assert scalars(log_dir, "eval/loss") == pytest.approx({line["step"]: line["eval_loss"] for line in lines
                                                           if "eval_loss" in line})
    assert scalars(log_dir, "train/learning_rate")[20] == pytest.approx(lines[-2]["lr"])
    assert all(value > 0 for value in scalars(log_dir, "train/examples_per_second").values())

    # The run's settings as TensorBoard hyper-parameters, stored once (the resumed training continues the run).
    sessions = [folder for folder in log_dir.iterdir() if any(folder.glob("events.out.tfevents.*"))]
    assert len(sessions) == 1
    hparams = EventAccumulator(str(sessions[0]))
    hparams.Reload()
    start = plugin_data_pb2.HParamsPluginData.FromString(
        hparams.PluginTagToContent("hparams")["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["train.learning_rate"].number_value == pytest.approx(0.01)
    assert start.hparams["train.max_steps"].number_value == 20
    assert start.hparams["train.max_grad_norm"].number_value == 1.0
    assert start.hparams["train.resume_from"].string_value == "null"  # None, as text


@pytest.mark.e2e
def test_trackio_keeps_the_run_in_its_local_project(tmp_path):
    from trackio.sqlite_storage import SQLiteStorage

    train, valid = make_data()
    cfg = config(tmp_path, max_steps=10, log_every=5, eval_every=5, report_to="trackio",
                 tracker_project="hf-nlp-tests", run_name="tiny-lm")
    Trainer(cfg, LM).fit(make_model(), train, valid)
    lines = logged(tmp_path / "run")
    assert json.loads((tmp_path / "run" / TRACKERS_FILE).read_text()) == {
        "trackio": {"project": "hf-nlp-tests", "run": "tiny-lm"}}
    stored = SQLiteStorage.get_logs("hf-nlp-tests", "tiny-lm")
    train_points = {entry["step"]: entry["train/loss"] for entry in stored if "train/loss" in entry}
    assert train_points == pytest.approx({line["step"]: line["train_loss"] for line in lines if "train_loss" in line})
    assert {entry["step"] for entry in stored if "eval/accuracy" in entry} == {5, 10}
    assert SQLiteStorage.get_run_config("hf-nlp-tests", "tiny-lm")["train.log_every"] == 5
