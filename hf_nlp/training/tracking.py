"""Experiment trackers for the shared loop: what it logs sent to TensorBoard, trackio, Weights & Biases
or MLflow through accelerate's own tracker classes (`accelerate.tracking`).

`--train.report_to` names them (`none`, the default, needs no package, account or network; `all` is
every supported tracker that is installed). Why not `Accelerator(log_with=...)`: a process shares one
Accelerator among every training it runs (`hf_nlp.training.accelerator`; the encoder recipe's two
stages are two trainings), while a tracker run belongs to one training: its run folder, its name, its
resumption. So each training starts its own trackers from accelerate's classes, on the main process
only (one tracker run however many processes train), and finishes them when it ends, however it ends.

A resumed training continues its tracker runs: TensorBoard writes on in the same folder and drops
what the interrupted run logged past the checkpoint (`purge_step`), trackio continues the run of the
same name, W&B and MLflow the run whose id `trackers.json` in the run folder recorded. That file (the
tracker's folder, project, run name or id) is copied into the run's `all_results.json` by its report.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from typing import Any

from hf_nlp.atomic import write_json_atomic
from hf_nlp.errors import UserError

TRACKER_PACKAGES = {"tensorboard": "tensorboard", "trackio": "trackio", "wandb": "wandb", "mlflow": "mlflow"}
"""Supported trackers and the package each needs (the `trackers` extra installs tensorboard and trackio)."""
TRACKERS_FILE = "trackers.json"
"""In the run folder: where each tracker keeps this run (read back on resume and by the report)."""
TENSORBOARD_DIR = "tensorboard"
"""TensorBoard's event files, in the run folder: `tensorboard --logdir runs` shows every run."""


def tracker_names(report_to: str) -> tuple[str, ...]:
    """The trackers `--train.report_to` names: `none`, `all`, or a comma-separated list (checked for
    spelling only; `resolve_trackers` checks they are installed)."""
    names = tuple(dict.fromkeys(name.strip() for name in report_to.split(",") if name.strip()))
    if names in ((), ("none",)):
        return ()
    if names == ("all",):
        return names
    unknown = [name for name in names if name not in TRACKER_PACKAGES]
    if unknown or "none" in names or "all" in names:
        raise ValueError(f"`{report_to}` is not `none`, `all` or a comma-separated list of "
                         f"{', '.join(TRACKER_PACKAGES)}")
    return names


def resolve_trackers(report_to: str, flag: str = "--train.report_to") -> tuple[str, ...]:
    """The installed trackers to start: `all` becomes every supported one that is installed; a named one
    that is not installed is one sentence naming what to install."""
    try:
        names = tracker_names(report_to)
    except ValueError as error:
        raise UserError(f"`{flag}`: {error}.") from None
    if names == ("all",):
        names = tuple(name for name in TRACKER_PACKAGES if _installed(name))
        if not names:
            raise UserError(f"`{flag} all` found no tracker installed; install some with "
                            "`pip install 'hf-nlp[trackers]'` (TensorBoard and trackio) or pass `none`.")
        return names
    missing = [name for name in names if not _installed(name)]
    if missing:
        extra = "`pip install 'hf-nlp[trackers]'`" if set(missing) <= {"tensorboard", "trackio"} \
            else f"`pip install {' '.join(TRACKER_PACKAGES[name] for name in missing)}`"
        raise UserError(f"`{flag} {report_to}` needs {' and '.join(missing)}, which is not installed; install it "
                        f"with {extra} or pass `{flag} none`.")
    return names


def tracker_scalars(entry: dict[str, Any]) -> dict[str, float]:
    """A `metrics.jsonl` line as tracker scalars, named as transformers' `report_to` names them
    (`train/loss`, `train/learning_rate`, `eval/<metric>`)."""
    scalars: dict[str, float] = {}
    for key, value in entry.items():
        if key == "step" or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if key.startswith("eval_"):
            name = f"eval/{key.removeprefix('eval_')}"
        else:
            name = {"train_loss": "train/loss", "lr": "train/learning_rate"}.get(key, f"train/{key}")
        scalars[name] = float(value)
    return scalars


class RunTrackers:
    """The trackers of one training, started on the main process (see the module docstring)."""

    def __init__(self, names: tuple[str, ...], output_dir: Path, run_name: str, project: str,
                 hyperparameters: dict[str, Any], resumed_at: int | None):
        """`hyperparameters` (the run's flattened config) are stored when a tracker run starts, not again when
        a resumed training continues it; `resumed_at` is the checkpoint's step, or None for a new run."""
        saved = _read_saved_runs(output_dir) if resumed_at is not None else {}
        self.trackers = []
        for name in names:
            tracker = _build(name, output_dir, run_name, project, saved.get(name, {}), resumed_at)
            try:
                tracker.start()
                if name not in saved:  # a new tracker run (a resumed one has them already)
                    tracker.store_init_configuration(_hyperparameter_values(hyperparameters))
            except Exception as error:  # a tracker's own failure (login, server): the user's to fix
                self.finish()
                raise UserError(f"the {name} tracker did not start ({type(error).__name__}: {error}); fix its "
                                "setup or leave it out of `--train.report_to`.") from None
            self.trackers.append(tracker)
        write_json_atomic(output_dir / TRACKERS_FILE,
                          {tracker.name: _run_record(tracker, output_dir, project) for tracker in self.trackers})

    def log(self, entry: dict[str, Any], step: int) -> None:
        scalars = tracker_scalars(entry)
        for tracker in self.trackers:
            tracker.log(scalars, step=step)

    def finish(self) -> None:
        for tracker in self.trackers:
            tracker.finish()
        self.trackers = []


def _installed(name: str) -> bool:
    return importlib.util.find_spec(TRACKER_PACKAGES[name]) is not None


def _build(name: str, output_dir: Path, run_name: str, project: str, saved: dict[str, Any], resumed_at: int | None):
    """accelerate's tracker for `name`, set to continue the saved run when the training resumes."""
    from accelerate.tracking import MLflowTracker, TensorBoardTracker, TrackioTracker, WandBTracker

    resumed = resumed_at is not None
    if name == "tensorboard":
        # purge_step: TensorBoard hides the interrupted run's events from this step on (they are redone).
        return TensorBoardTracker(TENSORBOARD_DIR, output_dir, **({"purge_step": resumed_at + 1} if resumed else {}))
    if name == "trackio":
        return TrackioTracker(project, name=run_name, resume="allow" if resumed else "never", embed=False)
    if name == "wandb":
        continued = {"id": saved["id"], "resume": "allow"} if resumed and "id" in saved else {}
        return WandBTracker(project, name=run_name, dir=str(output_dir), **continued)
    return MLflowTracker(experiment_name=project, run_name=run_name,
                         run_id=saved.get("run_id") if resumed else None)


def _run_record(tracker, output_dir: Path, project: str) -> dict[str, Any]:
    """Where the tracker keeps this run: enough to find it, and to continue it on resume."""
    if tracker.name == "tensorboard":
        return {"log_dir": str(output_dir / TENSORBOARD_DIR)}
    run = tracker.tracker
    if tracker.name == "trackio":
        return {"project": project, "run": run.name}
    if tracker.name == "wandb":
        return {"project": project, "id": run.id, "url": run.url}
    return {"experiment": project, "run_id": run.info.run_id}


def _read_saved_runs(output_dir: Path) -> dict[str, Any]:
    try:
        saved = json.loads((output_dir / TRACKERS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # none yet, or unreadable: the trackers start new runs
    return saved if isinstance(saved, dict) else {}


def _hyperparameter_values(flat: dict[str, Any]) -> dict[str, Any]:
    """Values every tracker takes as a hyper-parameter (TensorBoard's `add_hparams` refuses None, lists
    and non-finite floats): those written as text."""
    def value(item: Any) -> Any:
        if isinstance(item, (bool, int, str)) or (isinstance(item, float) and math.isfinite(item)):
            return item
        return json.dumps(item)
    return {key: value(item) for key, item in flat.items()}


__all__ = ["RunTrackers", "TENSORBOARD_DIR", "TRACKERS_FILE", "TRACKER_PACKAGES", "resolve_trackers",
           "tracker_names", "tracker_scalars"]
