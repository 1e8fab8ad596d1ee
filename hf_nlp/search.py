"""`hf-nlp search`: hyper-parameter search with optuna, each trial a normal recipe run.

    hf-nlp search sentiment_rnn --config sentiment_rnn --space space.yaml --trials 10 --output runs/search_gru

The space is a YAML file of recipe keys (the dotted names of `hf-nlp train RECIPE --keys`), each a
distribution:

    train.learning_rate: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
    model.hidden_size: {type: int, low: 32, high: 256, step: 32}
    model.cell_type: {type: categorical, choices: [gru, lstm]}

Each trial is `hf-nlp train RECIPE --config ... <overrides> <its values>` in `OUTPUT/trial_<n>/` (its own
run folder, config and log), run with `--train.validation_only true`: the loop picks the best model on
validation and the recipe stops before anything scores the test split, so the search never sees a test
figure. The trial's score is its best validation `metric_for_best` (the config's; `greater_is_better`
gives the direction). While a trial trains, each evaluation in its `metrics.jsonl` is reported to optuna,
whose median pruner stops a trial that is worse than the median of earlier trials at the same epoch
(when the config evaluates once per epoch, so that trials of different batch sizes meet) or step.

The study lives in `OUTPUT/study.db` (SQLite), so a search that was killed, even with kill -9, goes on
where it stopped when the same command is run again: the trial that was running is run again with the
same values in the same folder, where the recipe resumes from its newest checkpoint. The search writes
`trials.json` and `trials.md` (every trial) and `best_config.yaml` (the best trial's full config, ready
for `hf-nlp train RECIPE --config OUTPUT/best_config.yaml`) after every trial.
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hf_nlp.atomic import write_json_atomic, write_text_atomic
from hf_nlp.config import load_yaml, override_flags
from hf_nlp.errors import UserError

STUDY_FILE = "study.db"
SEARCH_FILE = "search.json"  # the arguments the study was started with: a resumed search must match them
TRIAL_LOG = "trial.log"
VALIDATION_FILE = "validation.json"  # written by the loop under --train.validation_only
POLL_SECONDS = 1.0
DISTRIBUTIONS = ("float", "int", "categorical")


@dataclass(frozen=True)
class Dimension:
    """One key of the search space and the distribution its values are drawn from."""

    key: str
    type: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: tuple | None = None

    def suggest(self, trial) -> Any:
        if self.type == "categorical":
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.type == "int":
            return trial.suggest_int(self.key, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.key, self.low, self.high, step=self.step, log=self.log)

    def example(self) -> Any:
        """A value of the right type, to check the key against the recipe before any trial."""
        if self.type == "categorical":
            return self.choices[0]
        return int(self.low) if self.type == "int" else self.low


def read_space(path: Path) -> list[Dimension]:
    """The search space of a YAML file, or one sentence naming what is wrong with it."""
    if not path.is_file():
        raise UserError(f"there is no search space `{path}`; write a YAML file of `key: {{type: float, low: ..., "
                        "high: ...}}` entries (docs/training.md, hyper-parameter search).")
    space = load_yaml(path)
    if not isinstance(space, dict) or not space:
        raise UserError(f"`{path}` holds no search space; give at least one `key: {{type: ..., ...}}` entry.")
    dimensions = []
    for key, spec in space.items():
        if not isinstance(spec, dict) or spec.get("type") not in DISTRIBUTIONS:
            raise UserError(f"`{key}` in `{path}` needs a `type` of {', '.join(DISTRIBUTIONS)}, e.g. "
                            f"`{key}: {{type: float, low: 0.0001, high: 0.01, log: true}}`.")
        kind = spec["type"]
        known = {"type", "choices"} if kind == "categorical" else {"type", "low", "high", "step", "log"}
        if set(spec) - known:
            raise UserError(f"`{key}` in `{path}` has keys a {kind} dimension does not take: "
                            f"{', '.join(sorted(set(spec) - known))}; it takes {', '.join(sorted(known))}.")
        if kind == "categorical":
            choices = spec.get("choices")
            if not isinstance(choices, list) or not choices:
                raise UserError(f"`{key}` in `{path}` needs a non-empty list of `choices`.")
            dimensions.append(Dimension(key, kind, choices=tuple(choices)))
            continue
        low, high = spec.get("low"), spec.get("high")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high)) or low >= high:
            raise UserError(f"`{key}` in `{path}` needs numbers `low` < `high`; got low {low!r}, high {high!r}.")
        if spec.get("log") and low <= 0:
            raise UserError(f"`{key}` in `{path}` is drawn on a log scale, so `low` must be above 0; got {low}.")
        dimensions.append(Dimension(key, kind, float(low), float(high), spec.get("step"), bool(spec.get("log"))))
    return dimensions


@dataclass
class Search:
    """One study: what each trial runs and where everything is written."""

    recipe: str
    config: str
    space: list[Dimension]
    overrides: list[str]
    output: Path
    num_processes: int | None = None
    seed: int = 42
    final_section: str = "train"
    """The config section of the training whose model the recipe keeps (stopped there, validation only)."""
    prune_by: str = "step"
    """What evaluations are compared by across trials: `epoch` when the config evaluates once per epoch
    (trials with different batch sizes then still meet at each epoch's end), else `step`."""

    def trial_args(self, params: dict[str, Any], run_dir: Path) -> list[str]:
        """The recipe's own arguments for a trial (what `hf-nlp train RECIPE` would be given)."""
        return ["--config", self.config, *self.overrides, *override_flags(params), "--train.output_dir", str(run_dir),
                f"--{self.final_section}.validation_only", "true", "--train.progress_bar", "false"]


def run_search(search: Search, trials: int) -> dict[str, Any]:
    """Run trials until `trials` have finished (completed or pruned), resuming a stored study; returns the
    summary written to `trials.json`."""
    try:
        import optuna  # lazy: the search verb only
    except ImportError:
        raise UserError("`hf-nlp search` needs optuna; install it with `pip install 'hf-nlp[search]'` "
                        "(or `pip install optuna`).") from None

    from hf_nlp.config import parse_config  # lazy: with the recipes, below
    from hf_nlp.recipes import RECIPES, config_class  # lazy: imports torch and transformers

    if search.recipe not in RECIPES or not RECIPES[search.recipe].distributed:
        trainable = ", ".join(name for name, recipe in RECIPES.items() if recipe.distributed)
        raise UserError(f"`{search.recipe}` is not a recipe that trains a model; search one of {trainable}.")
    example = {d.key: d.example() for d in search.space}
    resolved = parse_config(config_class(search.recipe), ["--config", search.config, *search.overrides,
                                                          *override_flags(example)])  # bad keys: one sentence now
    # The training whose model the recipe keeps: the encoder recipe's `two_stage` trains a head, then `finetune`.
    search.final_section = "finetune" if getattr(resolved.model, "method", None) == "two_stage" else "train"
    final = getattr(resolved, search.final_section)
    metric, maximize = final.metric_for_best, final.greater_is_better
    search.prune_by = "epoch" if not final.eval_every else "step"
    search.output.mkdir(parents=True, exist_ok=True)
    _check_same_search(search, metric, maximize)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name="search", storage=f"sqlite:///{search.output.resolve() / STUDY_FILE}", load_if_exists=True,
        direction="maximize" if maximize else "minimize",
        # A trial is judged against at least two others that reached the same epoch or step.
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_min_trials=2))
    _requeue_interrupted(study)
    # A sampler seeded alike in every process would draw the first trials' values again after a resume:
    # its seed moves on with the trials the study already holds (still the same for the same history).
    study.sampler = optuna.samplers.TPESampler(seed=search.seed + len(study.get_trials(deepcopy=False)))

    def objective(trial: optuna.Trial) -> float:
        params = {d.key: d.suggest(trial) for d in search.space}
        run_dir = Path(trial.user_attrs.get("run_dir") or search.output / f"trial_{trial.number}")
        trial.set_user_attr("run_dir", str(run_dir))
        return run_trial(search, trial, params, run_dir, metric)

    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    while (done := len(study.get_trials(deepcopy=False, states=finished))) < trials:
        _say(f"trial {done + 1}/{trials}")
        study.optimize(objective, n_trials=1)
        write_results(search, study, metric, maximize)  # after every trial: a killed search leaves them current
    return write_results(search, study, metric, maximize)


def run_trial(search: Search, trial, params: dict[str, Any], run_dir: Path, metric: str) -> float:
    """Train one trial, reporting its evaluations to optuna; its best validation `metric`."""
    import optuna

    from hf_nlp.launch import accelerate_launch_command  # lazy: with the recipes, below
    from hf_nlp.recipes import recipe_file  # lazy: the recipes package imports torch

    shown = ", ".join(f"{k} {_short(v)}" for k, v in params.items())
    _say(f"  {run_dir.name}: {shown}")
    run_dir.mkdir(parents=True, exist_ok=True)
    script, args = recipe_file(search.recipe), search.trial_args(params, run_dir)
    if (search.num_processes or 1) == 1:
        # The recipe itself, as `python recipes/<recipe>.py` runs it: accelerate's one-process launcher
        # would SIGKILL it 5 s after a SIGTERM, before a slow step and its checkpoint are done.
        argv, env = [sys.executable, str(script), *args], {}
    else:  # torchrun's agent passes a SIGTERM on to every process and waits for them
        command = accelerate_launch_command(script, args, search.num_processes, None, gpus=_gpus())
        argv, env = command.argv, command.env
    log = run_dir / "metrics.jsonl"
    with open(run_dir / TRIAL_LOG, "ab") as output:
        # Its own process group (a pruned trial is stopped whole), and SIGTERM to it if this search
        # dies, even by kill -9: the recipe then saves a checkpoint and stops, and the resumed search
        # carries on from that checkpoint in the same folder.
        process = subprocess.Popen(argv, env={**os.environ, **env}, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent)
        reported, reported_at, pruned = 0, set(), False
        try:
            while True:
                exited = process.poll() is not None  # before reading: an exited run's log is complete
                evaluations = _evaluations(log, metric, search.prune_by)  # the log read once per poll
                for at, value in evaluations[reported:]:
                    reported += 1
                    if at in reported_at:
                        continue  # the loop's final evaluation, in the epoch whose end it already scored
                    reported_at.add(at)
                    trial.report(value, at)
                    if trial.should_prune():
                        pruned = True
                        _say(f"  pruned at {search.prune_by} {at}: {metric} {value:.4f}")
                        _stop(process)
                        break
                if pruned or exited:
                    break
                time.sleep(POLL_SECONDS)
        except BaseException:
            _stop(process)
            raise
        process.wait()
    if pruned:
        raise optuna.TrialPruned()
    result = run_dir / VALIDATION_FILE
    if process.returncode != 0 or not result.is_file():
        raise UserError(f"trial {trial.number} failed (exit {process.returncode}); its output is in "
                        f"`{run_dir / TRIAL_LOG}`. Fix the cause and run the same command to go on.")
    chosen = json.loads(result.read_text())
    trial.set_user_attr("best_step", chosen["best_step"])
    trial.set_user_attr("train_minutes", chosen["train_minutes"])
    _say(f"  validation {metric} {chosen['best_metric']:.4f} (step {chosen['best_step']}, "
         f"{chosen['train_minutes']:.1f} min)")
    return float(chosen["best_metric"])


def write_results(search: Search, study, metric: str, maximize: bool) -> dict[str, Any]:
    """`trials.json`, `trials.md` and, once a trial completed, `best_config.yaml`."""
    import optuna

    rows = []
    for t in study.get_trials(deepcopy=False):
        rows.append({"trial": t.number, "state": t.state.name.lower(), "value": t.value,
                     "last reported": (t.intermediate_values[max(t.intermediate_values)]
                                       if t.intermediate_values else None),
                     "best step": t.user_attrs.get("best_step"), "train min": t.user_attrs.get("train_minutes"),
                     "run_dir": t.user_attrs.get("run_dir"), **t.params})
    complete = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))]
    best = study.best_trial if complete else None
    summary = {"recipe": search.recipe, "config": search.config, "overrides": search.overrides,
               "metric": f"validation {metric}", "direction": "maximize" if maximize else "minimize",
               "trials": rows, "best": None}
    if best is not None:
        best_config = _best_config(Path(best.user_attrs["run_dir"]), search)
        summary["best"] = {"trial": best.number, "value": best.value, "params": best.params,
                           "config": str(best_config)}
    write_json_atomic(search.output / "trials.json", summary)
    write_text_atomic(search.output / "trials.md", _trials_markdown(summary, [d.key for d in search.space]))
    return summary


def _best_config(run_dir: Path, search: Search) -> Path:
    """The best trial's resolved config (as its best model saved it), set to train a normal run."""
    config = load_yaml(run_dir / "best_model" / "config.yaml")
    for section in config.values():  # `train`, and the encoder recipe's `finetune`
        if isinstance(section, dict) and "validation_only" in section:
            section["validation_only"] = False
            section["progress_bar"] = True
    config["train"]["output_dir"] = f"runs/{search.output.name}_best"
    path = search.output / "best_config.yaml"
    header = (f"# The best trial of `hf-nlp search {search.recipe}` in {search.output} ({run_dir.name}).\n"
              f"#   hf-nlp train {search.recipe} --config {path}\n")
    write_text_atomic(path, header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return path


def _trials_markdown(summary: dict[str, Any], keys: list[str]) -> str:
    from hf_nlp.reports.writing import markdown_table  # lazy: matplotlib comes with it

    columns = ["trial", "state", "value", "last reported", "best step", "train min", *keys]
    header = f"# Search: {summary['recipe']} --config {summary['config']}\n\nScore: {summary['metric']} " \
             f"({summary['direction']}); pruned trials show their last reported value.\n\n"
    best = summary["best"]
    footer = f"\n\nBest: trial {best['trial']}, {best['value']:.4f}; config `{best['config']}`.\n" if best else "\n"
    return header + markdown_table(summary["trials"], columns, lambda column, value: _short(value)) + footer


def _short(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}" if not math.isnan(value) else "nan"
    return str(value)


def _evaluations(log: Path, metric: str, by: str) -> list[tuple[int, float]]:
    """The `(epoch or step, eval_<metric>)` pairs of a run's log so far."""
    key = f"eval_{metric}"
    pairs = []
    if log.is_file():
        for line in log.read_text().splitlines():
            if not line.endswith("}"):
                continue  # a line still being written
            entry = json.loads(line)
            if key in entry:
                pairs.append((entry[by], float(entry[key])))
    return pairs


def _requeue_interrupted(study) -> None:
    """A trial left running by a killed search is marked failed and queued again with its values and
    folder, so its run resumes from its newest checkpoint."""
    import optuna

    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study._storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
        study.enqueue_trial(trial.params, user_attrs={"run_dir": trial.user_attrs.get("run_dir")})
        _say(f"trial {trial.number} was interrupted; running it again in {trial.user_attrs.get('run_dir')}")


def _check_same_search(search: Search, metric: str, maximize: bool) -> None:
    stored = search.output / SEARCH_FILE
    described = {"recipe": search.recipe, "config": search.config, "overrides": search.overrides,
                 "space": [d.__dict__ | {"choices": list(d.choices) if d.choices else None} for d in search.space],
                 "metric": metric, "maximize": maximize, "seed": search.seed}
    if stored.is_file():
        if json.loads(stored.read_text()) != described:
            raise UserError(f"`{search.output}` holds a search started with other arguments; run it with the same "
                            "recipe, config, overrides and space to go on, or pass another `--output`.")
        return
    write_json_atomic(stored, described)


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the trial's process group (the recipe saves a checkpoint and stops), SIGKILL after 60 s."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def _die_with_parent() -> None:
    """In the trial's launcher, before it starts: SIGTERM when the search process dies (Linux)."""
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _say(line: str) -> None:
    """One progress line on stdout, at once (the search runs for hours; its output is often a log file)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _gpus() -> int:
    import torch

    return torch.cuda.device_count()


__all__ = ["Dimension", "Search", "read_space", "run_search"]
