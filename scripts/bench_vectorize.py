"""TextVectorization throughput (adapt + transform, texts/s) against baselines in the same process.

Baselines: a pure-Python `collections.Counter` + `str.split` vectorizer (same standardization,
same vocabulary order, same padded output), and Keras' own `TextVectorization` when TensorFlow
is installed (skipped otherwise). Corpus: the Pang & Lee movie reviews (full reviews + snippets),
repeated `--repeat` times.

    python scripts/bench.py vectorize          # or: python -m scripts.bench_vectorize --repeat 4
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from hf_nlp.data.sentiment import load_reviews
from hf_nlp.text.vectorize import TextVectorization

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file, find `scripts`
from scripts import bench_keras  # noqa: E402
from scripts.bench_table import ratio_table  # noqa: E402

PUNCTUATION = str.maketrans("", "", """!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'""")


def review_texts(repeat: int) -> list[str]:
    texts = []
    for name in ("polarity", "sentences"):
        corpus = load_reviews(name)
        for split in corpus:
            texts.extend(corpus[split]["text"])
    return texts * repeat


def pure_python(texts: list[str], max_tokens: int, length: int) -> tuple[list[str], np.ndarray]:
    counts = Counter()
    for text in texts:
        counts.update(text.lower().translate(PUNCTUATION).split())
    vocabulary = ["", "[UNK]"] + sorted(counts, key=lambda t: (counts[t], t), reverse=True)[: max_tokens - 2]
    index = {token: i for i, token in enumerate(vocabulary)}
    out = np.zeros((len(texts), length), dtype=np.int64)
    for row, text in enumerate(texts):
        ids = [index.get(token, 1) for token in text.lower().translate(PUNCTUATION).split()][:length]
        out[row, : len(ids)] = ids
    return vocabulary, out


def ours(texts: list[str], max_tokens: int, length: int) -> tuple[list[str], np.ndarray]:
    vectorizer = TextVectorization(max_tokens=max_tokens, output_sequence_length=length).adapt(texts)
    return vectorizer.get_vocabulary(), vectorizer(texts).numpy()


def keras(texts: list[str], max_tokens: int, length: int):
    tf = bench_keras.import_tensorflow()

    layer = tf.keras.layers.TextVectorization(max_tokens=max_tokens, output_sequence_length=length)
    layer.adapt(texts)
    return layer.get_vocabulary(), layer(texts).numpy()


def best_time(function, *args, repeats: int):
    timings, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function(*args)
        timings.append(time.perf_counter() - started)
    return min(timings), result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--repeat", type=int, default=4, help="copies of the review corpus")
    parser.add_argument("--max-tokens", type=int, default=20_000)
    parser.add_argument("--length", type=int, default=200, help="output_sequence_length")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per contender (best kept)")
    parser.add_argument("--out", type=Path, default=None)
    args, _ = parser.parse_known_args(argv)  # other sections' flags pass through `scripts/bench.py`

    texts = review_texts(args.repeat)
    words = sum(len(t.split()) for t in texts)
    contenders = {"pure_python": pure_python, "hf_nlp": ours}
    if bench_keras.keras_available():
        bench_keras.import_tensorflow()  # seconds of import, paid here, not inside Keras' first timed run
        contenders["keras"] = keras
    results: dict = {"texts": len(texts), "words": words, "max_tokens": args.max_tokens, "length": args.length}
    outputs = {}
    for name, function in contenders.items():
        seconds, outputs[name] = best_time(function, texts, args.max_tokens, args.length, repeats=args.repeats)
        results[f"{name}_texts_per_s"] = len(texts) / seconds
    for name in contenders:
        results[f"{name}_vs_pure_python"] = results[f"{name}_texts_per_s"] / results["pure_python_texts_per_s"]
    # Same vocabulary and ids as the baseline: the speed-up is for identical work.
    results["identical_to_pure_python"] = bool(
        outputs["hf_nlp"][0] == outputs["pure_python"][0] and np.array_equal(outputs["hf_nlp"][1], outputs["pure_python"][1])
    )
    names = {"pure_python": "pure Python (Counter + str.split)", "hf_nlp": "hf_nlp TextVectorization",
             "keras": "Keras TextVectorization"}
    table = ratio_table("TextVectorization adapt + transform", "texts/s",
                        {names[name]: results[f"{name}_texts_per_s"] for name in contenders},
                        names["pure_python"], names["hf_nlp"],
                        f"{len(texts):,} reviews ({words:,} words), max_tokens {args.max_tokens:,}, length {args.length}"
                        + ("" if "keras" in contenders else "; Keras skipped: TensorFlow not installed"))
    results["tables"] = [table]
    print(f"  same vocabulary and ids as the pure-Python baseline: {results['identical_to_pure_python']}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
