"""One entry for every benchmark section; each prints ratios against a baseline run in the same process.

    python scripts/bench.py                          # every section
    python scripts/bench.py char_rnn --steps 100     # one section, its own flags
    python scripts/bench.py --quick --out bench.json # every section at a small size (a few minutes), JSON too

`--quick` gives each section small settings (`QUICK`): enough to see every ratio, too small for
figures to quote. The README's "Performance" section is generated from a full run's JSON:

    python scripts/bench.py --out reports/bench/bench.json && python scripts/readme_results.py

With TensorFlow installed (`pip install ".[bench-keras]"`) the char-RNN and sentiment sections
also run the reference's Keras models; without it they say so and skip those rows.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hf_nlp.reports.writing import environment_info  # noqa: E402
from scripts import (  # noqa: E402
    bench_char_rnn,
    bench_compile,
    bench_fused_rnn,
    bench_keras,
    bench_marian,
    bench_peak,
    bench_scale,
    bench_scaling,
    bench_sentiment,
    bench_translate,
    bench_vectorize,
)

SECTIONS = {
    "peak": bench_peak.main,
    "char_rnn": bench_char_rnn.main,
    "vectorize": bench_vectorize.main,
    "sentiment": bench_sentiment.main,
    "translate": bench_translate.main,
    "marian": bench_marian.main,
    "scaling": bench_scaling.main,
    "scale": bench_scale.main,
    "compile": bench_compile.main,
    "fused": bench_fused_rnn.main,
}
QUICK = {
    "peak": ["--sizes", "512", "1024", "--repeats", "3"],
    "char_rnn": ["--steps", "40", "--repeats", "1", "--new-tokens", "60"],
    "vectorize": ["--repeat", "1", "--repeats", "1"],
    "sentiment": ["--repeats", "1", "--encoder-examples", "300", "--encoder-steps", "6"],
    "translate": ["--sentences", "24", "--decode-batch-size", "24", "--max-new-tokens", "15", "--train-pairs", "300",
                  "--repeats", "1"],
    "marian": ["--sentences", "48", "--max-new-tokens", "40", "--repeats", "1"],
    "scaling": ["--char-steps", "40", "--sentiment-epochs", "1"],
    "scale": ["--base-mb", "0.1", "--base-pairs", "5000", "--base-reviews", "300", "--factors", "1", "10", "--steps", "5",
              "--eval-chars", "10000", "--repeats", "1"],
    "compile": ["--workloads", "char_rnn", "--steps", "5", "--warmup", "3"],
    "fused": ["--steps", "20", "--repeats", "1", "--train-pairs", "200", "--sentiment-source", "tweets"],
}


def main(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(add_help=False)  # the rest of argv goes to the sections
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args, rest = parser.parse_known_args(argv)
    names = [a for a in rest if a in SECTIONS] or list(SECTIONS)
    rest = [a for a in rest if a not in SECTIONS]
    results = {}
    for name in names:
        print(f"== {name}")
        results[name] = SECTIONS[name]((QUICK[name] if args.quick else []) + rest)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"quick": args.quick, "environment": environment_info(),
                                        "keras": bench_keras.tensorflow_version() or bench_keras.SKIPPED,
                                        "sections": results}, indent=2, default=str))
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
