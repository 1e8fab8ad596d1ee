"""One entry for every benchmark section; each prints ratios against a baseline run in the same process.

    python scripts/bench.py                 # every section
    python scripts/bench.py char_rnn --steps 100
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts import bench_char_rnn, bench_peak, bench_sentiment, bench_translate, bench_vectorize  # noqa: E402

SECTIONS = {
    "peak": bench_peak.main,
    "char_rnn": bench_char_rnn.main,
    "vectorize": bench_vectorize.main,
    "sentiment": bench_sentiment.main,
    "translate": bench_translate.main,
}


def main(argv: list[str]) -> None:
    names = [a for a in argv if a in SECTIONS] or list(SECTIONS)
    rest = [a for a in argv if a not in SECTIONS]
    for name in names:
        print(f"== {name}")
        SECTIONS[name](rest)


if __name__ == "__main__":
    main(sys.argv[1:])
