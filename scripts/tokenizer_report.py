"""Tokens per word and out-of-vocabulary rate of BPE, WordPiece and Unigram on held-out text.

Each tokenizer is trained on a corpus' training split and measured on its test split:
tokens per whitespace word (lower is a more compact segmentation) and the share of test words
that contain `[UNK]`.

    python scripts/tokenizer_report.py --vocab-size 8000 --out runs/tokenizer_report.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hf_nlp.data.sentiment import load_reviews  # noqa: E402
from hf_nlp.data.shakespeare import load_shakespeare  # noqa: E402
from hf_nlp.reports.writing import markdown_table  # noqa: E402
from hf_nlp.text.bpe import KINDS, segmentation_stats, train_tokenizer  # noqa: E402


def corpora() -> dict[str, tuple[list[str], list[str]]]:
    shakespeare = load_shakespeare()
    found = {"shakespeare": tuple(shakespeare[s][0]["text"].split("\n") for s in ("train", "test"))}
    for name in ("polarity", "sentences"):
        reviews = load_reviews(name)
        found[f"reviews-{name}"] = (reviews["train"]["text"], reviews["test"]["text"])
    return found


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    rows = []
    for corpus, (train, test) in corpora().items():
        for kind in KINDS:
            tokenizer = train_tokenizer(train, kind=kind, vocab_size=args.vocab_size)
            stats = segmentation_stats(tokenizer, test)
            rows.append({"corpus": corpus, "kind": kind, "vocab": len(tokenizer), "test words": stats["words"],
                         "tokens/word": stats["tokens_per_word"], "OOV words %": 100 * stats["oov_rate"]})
    print(markdown_table(rows))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    main()
