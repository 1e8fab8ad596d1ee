"""Crash-safe checkpoints: complete-or-absent folders, damaged ones skipped, no pickle ever read, reruns resume."""

import json
import logging
import pickle
from dataclasses import dataclass, field

import pytest
import torch

from hf_nlp.atomic import recover_folder, replace_folder, staging_folder
from hf_nlp.errors import UserError
from hf_nlp.training import checkpoint as ckpt
from hf_nlp.training.config import TrainingConfig
from hf_nlp.training.loop import METRICS_LOG, Trainer
from tests.training.test_loop import (
    LM,
    config,
    interrupted_after,
    make_data,
    make_model,
    train_losses,
)


def checkpoints(run_dir) -> list[str]:
    return [p.name for p in ckpt.list_checkpoints(run_dir / "checkpoints")]


def straight_and_interrupted(tmp_path, stop_at: int, **overrides):
    """An uninterrupted 20-step run in a/, and the same run stopped by Ctrl-C after step `stop_at` in b/."""
    train, valid = make_data()
    straight = Trainer(config(tmp_path / "a", **overrides), LM).fit(make_model(), train, valid)
    with pytest.raises(KeyboardInterrupt):
        Trainer(config(tmp_path / "b", **overrides), LM).fit(interrupted_after(stop_at, make_model()), train, valid)
    return straight, train, valid


@pytest.mark.e2e
def test_a_rerun_resumes_and_matches_an_uninterrupted_run_even_off_the_logging_boundary(tmp_path, caplog):
    # Stopped at step 7: the log averages steps 5..8 into its step-8 line, so the window must be saved.
    straight, train, valid = straight_and_interrupted(tmp_path, 7, log_every=4, save_every=0)
    with caplog.at_level(logging.WARNING):
        resumed = Trainer(config(tmp_path / "b", log_every=4, save_every=0), LM).fit(make_model(), train, valid)
    assert "Checkpoint detected, resuming training at step 7" in caplog.text
    a, b = train_losses(tmp_path / "a" / "run"), train_losses(tmp_path / "b" / "run")
    assert sorted(a) == sorted(b) == [4, 8, 12, 16, 20]
    assert [a[s] for s in a] == [b[s] for s in a]
    assert resumed.best_metric == straight.best_metric
    best_a = (tmp_path / "a" / "run" / "best_model" / "model.safetensors").read_bytes()
    assert (tmp_path / "b" / "run" / "best_model" / "model.safetensors").read_bytes() == best_a


@pytest.mark.e2e
def test_checkpoints_are_json_and_safetensors_with_a_manifest(tmp_path):
    train, valid = make_data()
    Trainer(config(tmp_path, max_steps=10), LM).fit(make_model(), train, valid)
    folder = tmp_path / "run" / "checkpoints" / "step_00000010"
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["manifest.json", "model.safetensors", "optimizer.json", "optimizer.safetensors",
                     "process_state_0.json", "rng_state_0.json", "scheduler.json", "trainer_state.json"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert sorted(manifest["files"]) == [n for n in names if n != "manifest.json"]
    assert all(entry["bytes"] == (folder / name).stat().st_size for name, entry in manifest["files"].items())
    ckpt.verify(folder)
    assert not list((tmp_path / "run" / "checkpoints").glob(".*"))  # no staging folder left behind


@pytest.mark.e2e
def test_a_damaged_newest_checkpoint_is_skipped_with_one_line_and_the_run_still_ends_the_same(tmp_path, caplog):
    straight, train, valid = straight_and_interrupted(tmp_path, 12, save_every=5)
    run = tmp_path / "b" / "run"
    assert checkpoints(run) == ["step_00000010", "step_00000012"]
    weights = run / "checkpoints" / "step_00000012" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # truncated (a full disk, a partial copy)
    with caplog.at_level(logging.WARNING):
        Trainer(config(tmp_path / "b", save_every=5), LM).fit(make_model(), train, valid)
    assert "skipping checkpoint" in caplog.text and "step_00000012: model.safetensors has 100 bytes" in caplog.text
    assert "resuming training at step 10" in caplog.text
    a, b = train_losses(tmp_path / "a" / "run"), train_losses(run)
    assert [a[s] for s in range(1, 21)] == [b[s] for s in range(1, 21)]
    assert checkpoints(run) == ["step_00000015", "step_00000020"]  # the damaged one rotated away


DAMAGE = [  # (file, what happens to it): the faults the issue lists, and a few more
    ("model.safetensors", "truncate"), ("optimizer.safetensors", "garble"), ("optimizer.json", "garble"),
    ("trainer_state.json", "truncate"), ("trainer_state.json", "extend"), ("scheduler.json", "garble"),
    ("scheduler.json", "delete"), ("rng_state_0.json", "empty"), ("manifest.json", "truncate"),
    ("manifest.json", "delete"), ("optimizer.safetensors", "flip_a_byte"),
]


def damage(path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif how == "extend":
        path.write_bytes(data + b'\n{"global_step": 99}')
    elif how == "garble":
        path.write_bytes(b"\x80garbage" + data[9:])
    elif how == "flip_a_byte":
        path.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    elif how == "empty":
        path.write_bytes(b"")
    else:
        path.unlink()


@pytest.mark.e2e
@pytest.mark.parametrize(("name", "how"), DAMAGE, ids=[f"{how} {name}" for name, how in DAMAGE])
def test_every_kind_of_damage_is_detected(tmp_path, name, how):
    train, valid = make_data()
    Trainer(config(tmp_path, max_steps=5), LM).fit(make_model(), train, valid)
    folder = tmp_path / "run" / "checkpoints" / "step_00000005"
    damage(folder / name, how)
    with pytest.raises(UserError, match=r"no usable checkpoint in .*step_00000005 incomplete or damaged.*overwrite"):
        Trainer(config(tmp_path, max_steps=5), LM)
    with pytest.raises(UserError, match=r"cannot be resumed .*overwrite true"):
        Trainer(config(tmp_path, max_steps=5, resume_from=str(folder)), LM)
    Trainer(config(tmp_path, max_steps=5, overwrite=True), LM).fit(make_model(), train, valid)
    ckpt.verify(folder)


@pytest.mark.e2e
def test_an_explicit_damaged_checkpoint_names_an_older_one(tmp_path):
    train, valid = make_data()
    Trainer(config(tmp_path, max_steps=10, keep_checkpoints=3), LM).fit(make_model(), train, valid)
    newest = tmp_path / "run" / "checkpoints" / "step_00000010"
    (newest / "scheduler.json").write_text("{}")
    with pytest.raises(UserError, match=r"scheduler.json .* pass an older one \(`--train.resume_from .*step_00000005`\)"):
        Trainer(config(tmp_path, max_steps=10, resume_from=str(newest)), LM)


@pytest.mark.e2e
def test_an_interrupted_write_leaves_no_checkpoint_and_is_cleared(tmp_path):
    train, valid = make_data()
    root = tmp_path / "run" / "checkpoints"
    staging = root / ".step_00000003.partial"
    staging.mkdir(parents=True)
    (staging / "model.safetensors").write_bytes(b"half")
    Trainer(config(tmp_path, max_steps=5), LM).fit(make_model(), train, valid)
    assert checkpoints(tmp_path / "run") == ["step_00000005"] and not staging.exists()


class MarkerPayload:
    """A pickle that, when loaded, creates a file: what an attacker's checkpoint would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.e2e
def test_resuming_never_unpickles_a_planted_file(tmp_path):
    straight, train, valid = straight_and_interrupted(tmp_path, 7, save_every=0)
    folder = tmp_path / "b" / "run" / "checkpoints" / "step_00000007"
    marker = tmp_path / "pwned"
    # The files accelerate's save_state would have written and load_state would have unpickled.
    for name in ("custom_checkpoint_0.pkl", "random_states_0.pkl", "optimizer.bin", "scheduler.bin", "model.bin"):
        (folder / name).write_bytes(pickle.dumps(MarkerPayload(marker)))
    ckpt.write_manifest(folder, step=7)  # even listed in a valid manifest, they are never read
    Trainer(config(tmp_path / "b", save_every=0), LM).fit(make_model(), train, valid)
    assert not marker.exists()
    a, b = train_losses(tmp_path / "a" / "run"), train_losses(tmp_path / "b" / "run")
    assert [a[s] for s in range(1, 21)] == [b[s] for s in range(1, 21)]


def test_an_accelerate_format_checkpoint_is_refused_without_reading_its_pickles(tmp_path):
    legacy = tmp_path / "run" / "checkpoints" / "step_00000005"
    legacy.mkdir(parents=True)
    marker = tmp_path / "pwned"
    (legacy / "trainer_state.json").write_text(json.dumps({"global_step": 5}))
    (legacy / "custom_checkpoint_0.pkl").write_bytes(pickle.dumps(MarkerPayload(marker)))
    with pytest.raises(UserError, match="no manifest.json"):
        Trainer(config(tmp_path, resume_from=str(legacy)), LM)
    assert not marker.exists()


@dataclass
class ToyRunConfig:
    model: dict = field(default_factory=lambda: {"hidden_size": 8})
    train: TrainingConfig = field(default_factory=TrainingConfig)
    samples: dict = field(default_factory=lambda: {"prompt": "to be"})


@pytest.mark.e2e
def test_a_rerun_with_other_settings_is_refused_naming_them(tmp_path):
    train, valid = make_data()
    Trainer(config(tmp_path, max_steps=5), LM, run_config=ToyRunConfig()).fit(make_model(), train, valid)
    with pytest.raises(UserError, match=r"other settings \(model.hidden_size 8 -> 16, train.batch_size 8 -> 4\).*"
                                         r"--train.overwrite true"):
        Trainer(config(tmp_path, max_steps=5, batch_size=4), LM, run_config=ToyRunConfig(model={"hidden_size": 16}))
    # Budget, bookkeeping and sections outside `resume_sections` may change.
    Trainer(config(tmp_path, max_steps=8, eval_every=4, save_every=4), LM,
            run_config=ToyRunConfig(samples={"prompt": "other"})).fit(make_model(), train, valid)
    assert max(train_losses(tmp_path / "run")) == 8


@pytest.mark.e2e
def test_an_early_stopped_run_stays_stopped_when_rerun(tmp_path):
    train, valid = make_data()
    settings = dict(learning_rate=1e-30, lr_scheduler="constant", warmup_steps=0, early_stopping_patience=2,
                    max_steps=100)
    first = Trainer(config(tmp_path, **settings), LM).fit(make_model(), train, valid)
    rerun = Trainer(config(tmp_path, **settings), LM).fit(make_model(), train, valid)
    assert first.stop_reason == rerun.stop_reason == "early_stopping"
    assert rerun.global_step == first.global_step == 15


@pytest.mark.e2e
def test_a_line_cut_short_in_the_log_is_dropped_on_resume(tmp_path, caplog):
    straight, train, valid = straight_and_interrupted(tmp_path, 7, save_every=0)
    log = tmp_path / "b" / "run" / METRICS_LOG
    log.write_text(log.read_text() + '{"step": 8, "train_lo')
    with caplog.at_level(logging.WARNING):
        Trainer(config(tmp_path / "b", save_every=0), LM).fit(make_model(), train, valid)
    assert "dropped unreadable line(s) 9" in caplog.text  # after 7 step lines and the eval at step 5
    a, b = train_losses(tmp_path / "a" / "run"), train_losses(tmp_path / "b" / "run")
    assert [a[s] for s in range(1, 21)] == [b[s] for s in range(1, 21)]


def test_a_folder_swap_cut_between_its_two_renames_is_undone(tmp_path):
    target = tmp_path / "best_model"
    target.mkdir()
    (target / "weights").write_text("old")
    staging = staging_folder(target)
    (staging / "weights").write_text("new")
    replace_folder(staging, target)
    assert (target / "weights").read_text() == "new" and not list(tmp_path.glob(".*"))
    # The crash: the old version stepped aside, the new one never arrived.
    (tmp_path / ".best_model.old").mkdir()
    (tmp_path / ".best_model.old" / "weights").write_text("new")
    target.rename(tmp_path / "gone")
    recover_folder(target)
    assert (target / "weights").read_text() == "new"


def test_the_optimizer_round_trips_through_json_and_safetensors(tmp_path):
    model = make_model()
    for optimizer in (torch.optim.NAdam(model.parameters(), lr=0.01), torch.optim.AdamW(model.parameters(), lr=0.01),
                      torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)):
        model(input_ids=torch.randint(0, 12, (2, 5)), labels=torch.randint(0, 12, (2, 5))).loss.backward()
        optimizer.step()
        ckpt.save_optimizer(tmp_path, optimizer.state_dict())
        (tmp_path / ckpt.MANIFEST).unlink(missing_ok=True)
        ckpt.write_manifest(tmp_path)
        restored = ckpt.load_optimizer(tmp_path)
        original = optimizer.state_dict()
        assert restored["param_groups"] == original["param_groups"]
        for pid, entries in original["state"].items():
            for key, value in entries.items():
                torch.testing.assert_close(restored["state"][pid][key], value)


@pytest.mark.e2e
def test_a_checkpoint_swap_cut_between_its_two_renames_is_undone_at_the_next_start(tmp_path):
    train, valid = make_data()
    Trainer(config(tmp_path, max_steps=10), LM).fit(make_model(), train, valid)
    root = tmp_path / "run" / "checkpoints"
    (root / "step_00000010").rename(root / ".step_00000010.old")  # a rerun rewriting step 10, cut mid-swap
    trainer = Trainer(config(tmp_path, max_steps=10), LM)
    assert trainer._resume_folder == root / "step_00000010" and not (root / ".step_00000010.old").exists()
