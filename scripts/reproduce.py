"""Rerun every run behind the published results tables, then regenerate the tables from them.

    python scripts/reproduce.py --dry-run                   # every command, with its expected CPU minutes
    python scripts/reproduce.py --family char               # rerun the char family, regenerate its table
    python scripts/reproduce.py --family char --only char_gpt2_quick
    python scripts/reproduce.py --record                    # rewrite reports/reproduce.yaml from report.json

`reports/reproduce.yaml` holds one entry per run of `reports/report.json` (each row of the results
tables names its run): the recipe, the shipped config and the overrides it was trained with, and its
expected minutes on 2 CPU cores; and, per family, the other commands behind its tables (the
cross-validation summaries, the translation comparison). `--record` writes the run entries from the
resolved configs that `report.json` keeps for each run, as the shipped config closest to it plus the
keys that differ, so a row's command is the run's exact configuration; entries whose configuration was
changed on purpose since (e.g. to select translations by BLEU) carry a `note`.

A run is trained into `runs/<name>/` under the current directory with `hf-nlp train`, where it resumes
if it was interrupted; a run folder that already holds `all_results.json` is reused (`--force` trains
it again from scratch). Then `hf-nlp report <the family's runs> --output reports --update` replaces the
family's rows in `reports/report.json` and `scripts/readme_results.py` rewrites the tables of README.md
and docs/.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file, find `hf_nlp`
from hf_nlp.atomic import write_text_atomic  # noqa: E402
from hf_nlp.config import flatten_config, override_flags, parse_config, to_dict  # noqa: E402
from hf_nlp.errors import UserError, exit_on_user_error  # noqa: E402
from hf_nlp.manifest import read_json_file  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
MANIFEST = REPO_ROOT / "reports" / "reproduce.yaml"
REPORT = REPO_ROOT / "reports" / "report.json"
FAMILIES = {"lm": "char", "classification": "sentiment", "translation": "translation"}
CROSSVAL = REPO_ROOT / "reports" / "crossval"
COMPARISON = REPO_ROOT / "reports" / "translation" / "comparison.json"
# Keys (of any training section) that say where and how a run is watched, not what it computes: never
# part of a row's command.
BOOKKEEPING = (".output_dir", ".progress_bar", ".overwrite", ".resume_from", ".report_to", ".run_name",
               ".tracker_project", ".validation_only", ".save_every", ".keep_checkpoints")


@dataclass
class RunEntry:
    """One run behind a results row: `hf-nlp train RECIPE --config CONFIG OVERRIDES` into runs/NAME."""

    name: str
    family: str
    recipe: str
    config: str
    overrides: list[str] = field(default_factory=list)
    minutes: float | None = None
    note: str | None = None

    def command(self, runs_dir: Path) -> list[str]:
        return ["hf-nlp", "train", self.recipe, "--config", self.config, *self.overrides,
                "--train.output_dir", str(runs_dir / self.name)]


@dataclass
class Command:
    """Another command behind a family's tables (cross-validation, the MT comparison), run after its runs."""

    family: str
    what: str
    command: str
    minutes: float | None = None


def read_manifest(path: Path = MANIFEST) -> tuple[list[RunEntry], list[Command]]:
    if not path.is_file():
        raise UserError(f"there is no `{path}`; write it with `python scripts/reproduce.py --record`.")
    manifest = yaml.safe_load(path.read_text())
    runs = [RunEntry(name=name, **entry) for name, entry in manifest["runs"].items()]
    return runs, [Command(**entry) for entry in manifest.get("commands", [])]


# --------------------------------------------------------------------------- --record


def recipe_of(run: dict) -> str:
    """The recipe that trained a reported run, from its family and resolved config."""
    if run["family"] == "lm":
        return "char_rnn"
    if run["family"] == "translation":
        return "translate_seq2seq"
    return "finetune_encoder" if "encoder" in run["config"]["model"] else "sentiment_rnn"


def closest_config(recipe: str, resolved: dict, name: str) -> tuple[str, list[str]]:
    """The shipped config of `recipe` from which the fewest flags give `resolved`, and those flags (keys the
    recipe no longer has are left out: the run predates their removal)."""
    from hf_nlp.recipes import CONFIGS, config_class, config_file

    cls = config_class(recipe)
    wanted = {k: v for k, v in flatten_config(resolved).items()
              if not k.endswith(BOOKKEEPING) and not k.startswith("push_to_hub.")}
    best: tuple[int, bool, str, list[str]] | None = None
    for stem, shipped in CONFIGS.items():
        if shipped.recipe != recipe:
            continue
        base = flatten_config(to_dict(parse_config(cls, ["--config", str(config_file(stem))])))
        differing = {k: v for k, v in wanted.items() if k in base and base[k] != v}
        candidate = (len(differing), stem != name, stem, override_flags(differing))
        best = candidate if best is None or candidate[:3] < best[:3] else best
    assert best is not None, recipe
    return best[2], best[3]


def record(report_path: Path, manifest_path: Path) -> list[RunEntry]:
    """Run entries for every run of `report.json` (entries of an existing manifest with a `note` kept as
    written), and the commands behind the cross-validation and translation-comparison tables."""
    report = read_json_file(report_path, "write it with `hf-nlp report runs --output reports`")
    old_runs, old_commands = read_manifest(manifest_path) if manifest_path.is_file() else ([], [])
    kept = {entry.name: entry for entry in old_runs}
    entries = []
    for run in report["runs"]:
        recipe = recipe_of(run)
        previous = kept.get(run["run"])
        if previous is not None and previous.note:  # changed on purpose: keep its command as written
            entries.append(previous)
            continue
        config, overrides = closest_config(recipe, run["config"], run["run"])
        minutes = run.get("wall_minutes") or sum(  # older reports kept no wall time for classifiers
            row.get("train min") or 0 for rows in report["tables"].values() for row in rows
            if row["run"] == run["run"] and row.get("kind") != "tfidf")
        entries.append(RunEntry(run["run"], FAMILIES[run["family"]], recipe, config, overrides, round(minutes, 1)))
    # Runs that other commands start from, written by hand (`what: prerequisite ...`), stay first.
    prerequisites = [c for c in old_commands if c.what.startswith("prerequisite")]
    write_manifest(manifest_path, entries, prerequisites + other_commands())
    return entries


def other_commands() -> list[Command]:
    """The commands behind the tables that are not a run's row: each cross-validation summary (as its JSON
    records it) and the translation comparison."""
    commands = []
    for path in sorted(CROSSVAL.glob("*.json")):
        summary = read_json_file(path, "regenerate it with the command in its .md")
        command = summary["command"]
        if "--summary" not in command:
            command += f" --summary {path.relative_to(REPO_ROOT)}"
        minutes = sum(sum(model.get("train_minutes", [])) for model in summary["models"].values())
        commands.append(Command("sentiment", f"cross-validation `{path.stem}`", command, round(minutes, 1)))
    # A cross-validation that starts from another's folds (`--model.init_from runs/cv_X/fold_{fold}`) after it.
    outputs = {c.command.split("--output runs/", 1)[1].split()[0]: c for c in commands if "--output runs/" in c.command}

    def depth(command: Command) -> int:
        return max((1 + depth(outputs[name]) for name in outputs if f"runs/{name}/" in command.command), default=0)

    commands.sort(key=depth)
    if COMPARISON.is_file():
        comparison = read_json_file(COMPARISON, "regenerate it with `hf-nlp train compare_mt`")
        commands.append(Command("translation", "the translation comparison (Opus-MT, Apertium, CTranslate2)",
                                "hf-nlp train compare_mt --config compare_mt",
                                round(comparison.get("wall_minutes") or 0, 1) or None))
    return commands


def write_manifest(path: Path, runs: list[RunEntry], commands: list[Command]) -> None:
    header = ("# Every run behind the published results tables and the other commands behind them; read by\n"
              "# scripts/reproduce.py (`--dry-run` lists them, `--record` rewrites the run entries from\n"
              "# reports/report.json). minutes: wall time of the published run on 2 CPU cores.\n")
    body = {"runs": {e.name: {k: v for k, v in asdict(e).items() if k != "name" and v not in (None, [])}
                     for e in runs},
            "commands": [{k: v for k, v in asdict(c).items() if v is not None} for c in commands]}
    write_text_atomic(path, header + yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=110))


# --------------------------------------------------------------------------- running


def selected(runs: list[RunEntry], commands: list[Command], family: str | None, only: list[str] | None):
    if only:
        unknown = sorted(set(only) - {e.name for e in runs})
        if unknown:
            raise UserError(f"no published run is named {', '.join(unknown)}; `--dry-run` lists them.")
        return [e for e in runs if e.name in only], []
    if family is None:
        return runs, commands
    return [e for e in runs if e.family == family], [c for c in commands if c.family == family]


def dry_run(runs: list[RunEntry], commands: list[Command], runs_dir: Path) -> str:
    lines, total = [], 0.0
    for entry in runs:
        total += entry.minutes or 0
        minutes = f"{entry.minutes:>6.1f}" if entry.minutes is not None else "     ?"
        lines.append(f"{minutes} min  [{entry.family}] {shlex.join(entry.command(runs_dir))}"
                     + (f"\n             ({entry.note})" if entry.note else ""))
    for command in commands:
        total += command.minutes or 0
        minutes = f"{command.minutes:>6.1f}" if command.minutes is not None else "     ?"
        lines.append(f"{minutes} min  [{command.family}] {command.command}   # {command.what}")
    families = sorted({e.family for e in runs} | {c.family for c in commands})
    lines.append(f"{total:>6.1f} min in all ({total / 60:.1f} h on 2 CPU cores); then `hf-nlp report ... --output "
                 f"reports --update` for {', '.join(families)} and `python scripts/readme_results.py`")
    return "\n".join(lines)


def reproduce(runs: list[RunEntry], commands: list[Command], runs_dir: Path, force: bool,
              reports_dir: Path = REPO_ROOT / "reports") -> None:
    for entry in runs:
        run_dir = runs_dir / entry.name
        if (run_dir / "all_results.json").is_file() and not force:
            print(f"{entry.name}: finished earlier in {run_dir}, reused", flush=True)
            continue
        command = entry.command(runs_dir) + (["--train.overwrite", "true"] if force else [])
        print(f"{entry.name}: {shlex.join(command)}", flush=True)
        _run(command)
    for command in commands:
        print(f"{command.what}: {command.command}", flush=True)
        _run(shlex.split(command.command))
    if runs:
        _run(["hf-nlp", "report", *(str(runs_dir / e.name) for e in runs), "--output", str(reports_dir), "--update"])
    tables = [sys.executable, str(REPO_ROOT / "scripts" / "readme_results.py")]
    if reports_dir.resolve() == (REPO_ROOT / "reports").resolve():
        _run(tables)
    else:  # a report elsewhere is not the one the pages show
        print(f"{reports_dir / 'report.json'} written; `{shlex.join(tables)} --report ...` fills pages from it")


def _run(command: list[str]) -> None:
    result = subprocess.run(command, cwd=Path.cwd())
    if result.returncode != 0:
        raise UserError(f"`{shlex.join(command)}` failed (exit {result.returncode}); fix it and run this script "
                        "again: finished runs are reused and an interrupted one resumes.")


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", choices=sorted(set(FAMILIES.values())), default=None,
                        help="rerun one family's runs and regenerate its tables (default: every family)")
    parser.add_argument("--only", nargs="+", default=None, help="rerun these runs (by name) only")
    parser.add_argument("--dry-run", action="store_true", help="list the commands and their expected minutes")
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="where the runs are trained")
    parser.add_argument("--force", action="store_true", help="train finished runs again from scratch")
    parser.add_argument("--record", action="store_true",
                        help="rewrite the run entries of reports/reproduce.yaml from reports/report.json")
    parser.add_argument("--reports", type=Path, default=REPO_ROOT / "reports",
                        help="the report folder to update (default: reports/, whose tables the docs show)")
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--report", type=Path, default=REPORT)
    args = parser.parse_args(argv)
    if args.record:
        entries = record(args.report, args.manifest)
        print(f"{args.manifest}: {len(entries)} runs")
        return
    runs, commands = selected(*read_manifest(args.manifest), args.family, args.only)
    if args.dry_run:
        print(dry_run(runs, commands, args.runs))
        return
    reproduce(runs, commands, args.runs, args.force, args.reports)


if __name__ == "__main__":
    main()
