"""Scaling: the char-RNN and the sentiment GRU trained by their recipes with 2 CPU processes
(DDP over gloo, `torchrun`, one thread each) against 1 process (both cores), at the same global
batch, the same steps and the same seed. Reports the training speed-up and both runs'
validation metrics, which should match (the batches differ in which process computes what, not in
what the optimizer sees, up to float rounding and the shuffling of a distributed sampler).

    python scripts/bench.py scaling           # or: python scripts/bench_scaling.py --char-steps 600

Each run is a subprocess, as a user would start it (`python recipes/...` vs `torchrun
--nproc_per_node 2 recipes/...`); times are the loop's own training time (`train_minutes`), so
interpreter start-up and data loading are left out.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file, find `scripts`
from hf_nlp.training.cpu_threads import cpu_threads_per_process  # noqa: E402
from scripts.bench_table import ratio_table  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]


def run_label(processes: int) -> str:
    """"2 processes x 1 thread": the threads being what the loop gives each process on this machine."""
    threads = cpu_threads_per_process(local_processes=processes)
    return f"{processes} process{'es' if processes > 1 else ''} x {threads} thread{'s' if threads > 1 else ''}"


def run_recipe(recipe: str, args: list[str], processes: int, run_dir: Path) -> dict:
    """metrics.json of `recipe` trained into `run_dir` by `processes` local CPU processes."""
    launcher = [sys.executable] if processes == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes)]
    env = {**os.environ, "ACCELERATE_USE_CPU": "1"}
    done = subprocess.run([*launcher, recipe, *args, "--train.output_dir", str(run_dir), "--train.progress_bar",
                           "false"], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{recipe} with {processes} process(es) failed:\n{done.stderr[-3000:]}")
    return json.loads((run_dir / "metrics.json").read_text())


def compare(name: str, recipe: str, args: list[str], global_batch: int, unit: str, items_per_step: int,
            metric: tuple[str, ...]) -> dict:
    """One run per process count; the per-process batch keeps the global batch at `global_batch`."""
    runs = {}
    with tempfile.TemporaryDirectory() as scratch:
        for processes in (1, 2):
            per_process = ["--train.batch_size", str(global_batch // processes)]
            runs[processes] = run_recipe(recipe, args + per_process, processes, Path(scratch) / f"p{processes}")
    rates, validation = {}, {}
    for processes, metrics in runs.items():
        variant = metrics["variants"][0] if "variants" in metrics else metrics  # sentiment: one variant per run
        found = metrics
        for key in metric:
            found = found[key]
        row = run_label(processes)
        rates[row] = variant["train_steps"] * items_per_step / (60 * variant["train_minutes"])
        validation[row] = found
    rows = list(rates)
    table = ratio_table(name, unit, rates, rows[0], rows[1], f"global batch {global_batch}, same steps and seed",
                        notes={row: f"validation {metric[-1]} {value:.4f}" for row, value in validation.items()})
    return {"table": table, "speedup": rates[rows[1]] / rates[rows[0]], "validation": validation}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--char-steps", type=int, default=400, help="char-RNN steps (fast config: batch 256, bf16)")
    parser.add_argument("--sentiment-source", default="polarity", help="the reference's full reviews (long texts)")
    parser.add_argument("--sentiment-epochs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    args, _ = parser.parse_known_args(argv)  # other sections' flags pass through `scripts/bench.py`

    char_batch, window = 256, 100
    char_rnn = compare(
        "char-RNN training, 2 processes", "recipes/char_rnn.py",
        ["--config", "recipes/configs/char_rnn_fast.yaml", "--train.max_steps", str(args.char_steps),
         "--train.max_minutes", "null", "--train.eval_every", "0", "--train.save_every", "0",
         "--samples.max_new_tokens", "1"],
        char_batch, "chars/s", char_batch * window, ("validation", "loss"))
    sentiment_batch = 32
    sentiment = compare(
        "sentiment GRU training, 2 processes", "recipes/sentiment_rnn.py",
        ["--config", "recipes/configs/sentiment_rnn.yaml", "--data.source", args.sentiment_source,
         "--train.num_epochs", str(args.sentiment_epochs), "--train.early_stopping_patience", "null"],
        sentiment_batch, "reviews/s", sentiment_batch, ("variants", 0, "validation", "accuracy"))
    results = {"settings": vars(args) | {"out": str(args.out) if args.out else None},
               "char_rnn": char_rnn, "sentiment": sentiment, "tables": [char_rnn["table"], sentiment["table"]]}
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
