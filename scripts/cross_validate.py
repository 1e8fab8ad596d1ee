"""K-fold cross-validation of a sentiment recipe: every text of a small corpus tested once.

    python scripts/cross_validate.py recipes/finetune_encoder.py \
        --config recipes/configs/finetune_encoder_minilm_full.yaml --folds 3 \
        --output runs/cv_minilm_full_polarity --summary reports/crossval/minilm_full_polarity.json

Runs the recipe once per fold (`--data.cv_folds K --data.cv_fold i`, see `hf_nlp.data.sentiment`)
into `<output>/fold_<i>/`, a subprocess each, as a user would start it (`--launch "accelerate
launch"` for several processes); every argument this script does not know goes to the recipe as
an override (`{fold}` in one is replaced by the fold's number: a second stage can start each fold
from the same fold's first-stage model, which never saw that fold's test texts). A fold whose run
already finished with the same arguments is reused, and an interrupted fold resumes from its
latest checkpoint, so nothing is lost when the script stops.

Each fold run also fits the TF-IDF + logistic-regression baseline on its own splits, so the
summary compares every model with TF-IDF fold by fold: per fold, the mean and standard deviation
over folds, the pooled accuracy over all the test texts (each counted once), and the paired
difference to TF-IDF. It is written as `<output>/cross_validation.{json,md}` (and as `--summary`
and the same name in `.md`; `scripts/readme_results.py` reads that JSON for the README's
`crossval:<name>` tables).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file, find `hf_nlp`
from hf_nlp.atomic import write_text_atomic  # noqa: E402
from hf_nlp.errors import UserError, exit_on_user_error  # noqa: E402
from hf_nlp.evaluation.cross_validation import summarize, summary_markdown  # noqa: E402

ARGS_FILE = "cross_validation_args.json"  # what a fold was run with, to know when it can be reused


def fold_command(launch: list[str], recipe: str, overrides: list[str], folds: int, fold: int,
                 fold_dir: Path) -> list[str]:
    """The recipe's command line for `fold`; `{fold}` in an override becomes the fold's number, so a
    fold can start from its own earlier run (`--model.init_from runs/cv/fold_{fold}`)."""
    per_fold = [override.replace("{fold}", str(fold)) for override in overrides]
    return [*launch, recipe, *per_fold, "--data.cv_folds", str(folds), "--data.cv_fold", str(fold),
            "--train.output_dir", str(fold_dir)]


def run_fold(command: list[str], fold_dir: Path, arguments: dict) -> dict:
    """metrics.json of one fold: reused when that fold already finished with `arguments`, else the
    recipe's command (which resumes from the fold's newest checkpoint when it was interrupted)."""
    args_file, metrics_file = fold_dir / ARGS_FILE, fold_dir / "metrics.json"
    same = args_file.is_file() and json.loads(args_file.read_text()) == arguments
    if same and metrics_file.is_file():
        print(f"{fold_dir.name}: finished earlier with the same arguments, reused", flush=True)
        return json.loads(metrics_file.read_text())
    if fold_dir.exists() and not same:
        raise UserError(f"`{fold_dir}` holds a run with other arguments; pass another `--output` or delete it.")
    fold_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args_file, json.dumps(arguments, indent=2))
    print(f"{fold_dir.name}: {shlex.join(command)}", flush=True)
    done = subprocess.run(command)  # in the caller's directory: paths mean what they typed
    if done.returncode != 0:
        raise SystemExit(f"{fold_dir.name} failed (exit {done.returncode}); its output is above. Rerun the same "
                         "command to resume it.")
    return json.loads(metrics_file.read_text())


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="Other arguments (--config, --data.source, ...) go to the recipe.")
    parser.add_argument("recipe", help="a sentiment recipe: recipes/finetune_encoder.py or recipes/sentiment_rnn.py")
    parser.add_argument("--folds", type=int, default=5, help="number of folds (default 5)")
    parser.add_argument("--output", type=Path, required=True, help="folder for fold_<i>/ and the summary")
    parser.add_argument("--summary", type=Path, help="also write the summary here, JSON + .md beside it "
                                                     "(e.g. reports/crossval/NAME.json)")
    parser.add_argument("--launch", default=shlex.join([sys.executable]),
                        help='how to start the recipe (default: this Python; e.g. "accelerate launch")')
    args, overrides = parser.parse_known_args(argv)
    if args.folds < 2:
        raise UserError("`--folds` must be at least 2.")
    if not Path(args.recipe).is_file():
        raise UserError(f"no recipe `{args.recipe}`; pass recipes/finetune_encoder.py or recipes/sentiment_rnn.py.")
    if any(flag.startswith(("--data.cv_fold", "--train.output_dir")) for flag in overrides):
        raise UserError("this script sets `--data.cv_folds`, `--data.cv_fold` and `--train.output_dir` itself; "
                        "drop them (use `--folds` and `--output`).")
    launch = shlex.split(args.launch)
    output = args.output.resolve()
    fold_metrics = []
    for fold in range(1, args.folds + 1):
        fold_dir = output / f"fold_{fold}"
        command = fold_command(launch, args.recipe, overrides, args.folds, fold, fold_dir)
        arguments = {"recipe": args.recipe, "overrides": overrides, "folds": args.folds, "fold": fold}
        print(f"== fold {fold} of {args.folds}", flush=True)
        fold_metrics.append(run_fold(command, fold_dir, arguments))
    summary = summarize(fold_metrics)
    shown_command = shlex.join(["python", "scripts/cross_validate.py", args.recipe, "--folds", str(args.folds),
                                "--output", str(args.output), *overrides])
    summary["command"] = shown_command
    markdown = summary_markdown(summary, shown_command)
    write_text_atomic(output / "cross_validation.json", json.dumps(summary, indent=2))
    write_text_atomic(output / "cross_validation.md", markdown)
    if args.summary:
        args.summary.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(args.summary, json.dumps(summary, indent=2))
        write_text_atomic(args.summary.with_suffix(".md"), markdown)
    print(markdown)
    return summary


if __name__ == "__main__":
    exit_on_user_error(main)()
