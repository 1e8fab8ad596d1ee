"""Classic analogies (top 5), the reference's bias probe, and Google analogy accuracy for GloVe 6B 50-d.

    python scripts/analogy_report.py [--restrict-vocab 30000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hf_nlp.reports.writing import markdown_table  # noqa: E402
from hf_nlp.text.embeddings import WordVectors, load_google_analogies, top_words  # noqa: E402

# (a, b, c): a is to b as c is to ?  ->  b - a + c
CLASSIC = [("man", "king", "woman"), ("paris", "france", "rome"), ("walk", "walked", "swim"),
           ("good", "better", "bad"), ("man", "doctor", "woman"), ("woman", "doctor", "man")]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--restrict-vocab", type=int, default=30_000)
    args = parser.parse_args(argv)
    vectors = WordVectors.from_glove()
    rows = [{"query": f"{b} - {a} + {c}", "top 5": top_words(vectors.analogy(a, b, c))} for a, b, c in CLASSIC]
    print(markdown_table(rows))
    result = vectors.evaluate_analogies(load_google_analogies(), restrict_vocab=args.restrict_vocab)
    semantic = [s for s in result["sections"] if not s.startswith("gram")]
    def accuracy(names):
        return sum(result["sections"][n]["correct"] for n in names) / sum(result["sections"][n]["questions"] for n in names)
    print(f"\nGoogle analogies (top {result['restrict_vocab']:,} words): {100 * result['accuracy']:.1f} % of "
          f"{result['questions']:,} questions ({result['skipped']:,} skipped); semantic "
          f"{100 * accuracy(semantic):.1f} %, syntactic {100 * accuracy([s for s in result['sections'] if s not in semantic]):.1f} %")
    return result


if __name__ == "__main__":
    main()
