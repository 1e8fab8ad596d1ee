"""The reference's Keras models as a baseline: training throughput of Géron's char-RNN and sentiment GRU.

Hands-On ML (3rd ed., ch. 16) trains both models with Keras on TensorFlow. This script times them
as the book builds and compiles them, so our PyTorch benchmarks can print a ratio against the
reference in the same process (`keras_char_rnn_chars_per_s`, `keras_sentiment_reviews_per_s`):

1. char-RNN: Embedding(40, 16) -> GRU(128, return_sequences) -> Dense(40, softmax), Nadam,
   `model.fit` on random windows of 100 ids, batch 32. Training chars/s.
2. sentiment GRU: Embedding(1000, 128, mask_zero) -> GRU(128) -> Dense(1, sigmoid), Nadam, batch 32,
   every batch padded to its longest review (as the reference's TextVectorization does on batched
   text). Training reviews/s over one epoch. Tokenization is not timed: the inputs are token ids.

Graph tracing is a one-off cost and is left out (a short warm-up fit runs first). TensorFlow is an
optional extra (`pip install ".[bench-keras]"`); without it the script says so and skips.

    python scripts/bench_keras.py                     # or: python scripts/bench_keras.py --steps 100 --threads 2
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import time
from pathlib import Path
from types import ModuleType

import numpy as np

SKIPPED = 'TensorFlow is not installed (pip install ".[bench-keras]")'
WARMUP_STEPS = 3  # enough to trace the train step; its cost is paid once per model


def keras_available() -> bool:
    """True when TensorFlow can be imported (checked without importing it: that takes seconds)."""
    return importlib.util.find_spec("tensorflow") is not None


def tensorflow_version() -> str | None:
    """"TensorFlow X.Y.Z" when installed (from the package metadata, without importing it), else None."""
    from importlib import metadata

    for package in ("tensorflow", "tensorflow-cpu"):
        try:
            return f"TensorFlow {metadata.version(package)}"
        except metadata.PackageNotFoundError:
            continue
    return None


def import_tensorflow(threads: int | None = None) -> ModuleType:
    """TensorFlow, quiet, with Keras on its TensorFlow backend and, if asked, `threads` intra-op threads.

    TensorFlow fixes its thread pools when the first op runs, once per process: a later request
    for another count is reported and ignored (the figures then say which count was really used).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide the C++ INFO/WARNING lines (oneDNN notes, ...)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # Keras 3 could otherwise run on torch or JAX
    import tensorflow as tf

    if threads is not None and tf.config.threading.get_intra_op_parallelism_threads() != threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)  # one graph op at a time, like torch
        except RuntimeError:  # "... cannot be modified after initialization"
            print(f"  (TensorFlow is already initialized in this process: threads={threads} ignored)")
    return tf


def tensorflow_threads() -> str:
    """The intra-op thread count TensorFlow runs with, in words (0 means its default: all cores)."""
    import tensorflow as tf

    threads = tf.config.threading.get_intra_op_parallelism_threads()
    return str(threads) if threads else f"default ({os.cpu_count()} cores)"


def best_fit_seconds(model, data, repeats: int, **fit_kwargs) -> float:
    """Best of `repeats` one-epoch `model.fit` calls on the same model (its train step already traced)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        model.fit(data, epochs=1, verbose=0, **fit_kwargs)
        best = min(best, time.perf_counter() - started)
    return best


# --------------------------------------------------------------------------- 1. char-RNN


def build_char_rnn(tf: ModuleType, vocab_size: int):
    """The reference char-RNN, compiled as the book does, minus the accuracy metric (it costs time)."""
    tf.random.set_seed(42)
    model = tf.keras.Sequential([
        tf.keras.layers.Embedding(input_dim=vocab_size, output_dim=16),
        tf.keras.layers.GRU(128, return_sequences=True),
        tf.keras.layers.Dense(vocab_size, activation="softmax"),
    ])
    # jit_compile stays at Keras' default, "auto": XLA on accelerators, off on a CPU-only machine.
    model.compile(loss="sparse_categorical_crossentropy", optimizer="nadam")
    return model


def random_windows(vocab_size: int, window: int, samples: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and next-character targets, both (samples, window), cut from one random id stream."""
    ids = np.random.default_rng(seed).integers(2, vocab_size, samples * window + 1, dtype=np.int32)
    return ids[:-1].reshape(samples, window), ids[1:].reshape(samples, window)


def keras_char_rnn_chars_per_s(vocab_size: int = 40, window: int = 100, batch_size: int = 32, steps: int = 300,
                               repeats: int = 1, threads: int | None = None) -> float:
    """Training chars/s of the reference char-RNN: `steps` batches per timed fit, best of `repeats`."""
    tf = import_tensorflow(threads)
    model = build_char_rnn(tf, vocab_size)
    inputs, targets = random_windows(vocab_size, window, steps * batch_size)  # exactly `steps` full batches
    warmup = WARMUP_STEPS * batch_size
    model.fit(inputs[:warmup], targets[:warmup], batch_size=batch_size, epochs=1, verbose=0)
    seconds = best_fit_seconds(model, inputs, repeats, y=targets, batch_size=batch_size, shuffle=True)
    return steps * batch_size * window / seconds


# --------------------------------------------------------------------------- 2. sentiment GRU


def build_sentiment_gru(tf: ModuleType, vocab_size: int):
    """The reference sentiment GRU (after its TextVectorization layer, which the timing leaves out)."""
    tf.random.set_seed(42)
    model = tf.keras.Sequential([
        tf.keras.layers.Embedding(vocab_size, 128, mask_zero=True),
        tf.keras.layers.GRU(128),
        tf.keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(loss="binary_crossentropy", optimizer="nadam")  # jit_compile: Keras' default, as above
    return model


def random_reviews(vocab_size: int, num_reviews: int, mean_length: float, max_length: int,
                   seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """Random token ids (2 .. vocab_size - 1: 0 pads, 1 is [UNK]) with review-like, right-skewed lengths
    (gamma, mean `mean_length` before the cut to `max_length`), and random 0/1 labels."""
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.gamma(shape=3.0, scale=mean_length / 3.0, size=num_reviews), 1, max_length).astype(int)
    token_ids = [rng.integers(2, vocab_size, n, dtype=np.int32) for n in lengths]
    return token_ids, rng.integers(0, 2, num_reviews)


def padded_batches(tf: ModuleType, token_ids, labels, max_length: int, batch_size: int, seed: int = 42):
    """The reference's input pipeline after tokenization: reviews shuffled (seeded, once, so every
    timed epoch sees the same batches), cut to `max_length`, batched, each batch zero-padded to its
    longest review, one batch prefetched."""
    order = np.random.default_rng(seed).permutation(len(token_ids))
    rows = [np.asarray(token_ids[i][:max_length], dtype=np.int32) for i in order]
    ragged = tf.RaggedTensor.from_row_lengths(np.concatenate(rows), [len(row) for row in rows])
    targets = np.asarray(labels, dtype=np.float32)[order]
    dataset = tf.data.Dataset.from_tensor_slices((ragged, targets)).batch(batch_size)
    return dataset.map(lambda x, y: (x.to_tensor(), y)).prefetch(1)


def keras_sentiment_reviews_per_s(token_ids: list[list[int]] | None = None, labels: list[int] | None = None,
                                  vocab_size: int = 1000, max_length: int = 500, batch_size: int = 32,
                                  num_reviews: int = 2000, mean_length: float = 230, max_batches: int | None = None,
                                  repeats: int = 1, threads: int | None = None) -> float:
    """Training reviews/s of the reference sentiment GRU over one epoch (or `max_batches` batches),
    best of `repeats`. Without `token_ids`, `num_reviews` random reviews are made (see `random_reviews`);
    ids must be below `vocab_size`, 0 being padding."""
    tf = import_tensorflow(threads)
    if token_ids is None:
        token_ids, labels = random_reviews(vocab_size, num_reviews, mean_length, max_length)
    elif labels is None:
        raise ValueError("token_ids need their labels")
    model = build_sentiment_gru(tf, vocab_size)
    batches = padded_batches(tf, token_ids, labels, max_length, batch_size)
    if max_batches is not None:
        batches = batches.take(max_batches)
    # shuffle=False: the batches are shuffled already, and Keras warns when asked to shuffle a Dataset.
    model.fit(batches.take(WARMUP_STEPS), epochs=1, verbose=0, shuffle=False)
    reviews = min(len(token_ids), batch_size * int(batches.cardinality()))
    return reviews / best_fit_seconds(model, batches, repeats, shuffle=False)


# --------------------------------------------------------------------------- report


def main(argv: list[str] | None = None) -> dict:
    # allow_abbrev=False: flags meant for other sections (e.g. vectorize's `--repeat`) must not be read as ours.
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--steps", type=int, default=300, help="char-RNN batches per timed fit")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--reviews", type=int, default=2000, help="random reviews in the sentiment epoch")
    parser.add_argument("--mean-length", type=float, default=230, help="their mean length in tokens (before the cut)")
    parser.add_argument("--max-length", type=int, default=500, help="reviews cut to this many tokens")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: TensorFlow's, all cores)")
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    args, _ = parser.parse_known_args(argv)  # other sections' flags pass through `scripts/bench.py`
    if not keras_available():
        print(f"Keras reference baseline skipped: {SKIPPED}")
        return {"skipped": SKIPPED}

    tf = import_tensorflow(args.threads)
    char_rnn = keras_char_rnn_chars_per_s(window=args.window, batch_size=args.batch_size, steps=args.steps,
                                          repeats=args.repeats, threads=args.threads)
    sentiment = keras_sentiment_reviews_per_s(num_reviews=args.reviews, mean_length=args.mean_length,
                                              max_length=args.max_length, batch_size=args.batch_size,
                                              repeats=args.repeats, threads=args.threads)
    results = {
        "settings": vars(args) | {"out": str(args.out) if args.out else None},
        "tensorflow": tf.__version__, "keras": tf.keras.__version__, "keras_backend": tf.keras.backend.backend(),
        "threads": tensorflow_threads(),
        "jit_compile": build_char_rnn(tf, 40).jit_compile,  # what Keras' "auto" resolved to on this machine
        "char_rnn_chars_per_s": char_rnn,
        "sentiment_reviews_per_s": sentiment,
    }
    print(f"Keras reference (TensorFlow {results['tensorflow']}, Keras {results['keras']}), "
          f"threads: {results['threads']}, XLA {'on' if results['jit_compile'] else 'off'}, best of {args.repeats}")
    print(f"  char-RNN GRU 128, batch {args.batch_size}, windows of {args.window}  {char_rnn:>10,.0f} chars/s")
    print(f"  sentiment GRU 128, batch {args.batch_size}, {args.reviews:,} random reviews (mean ~{args.mean_length:.0f} "
          f"tokens, cut to {args.max_length})  {sentiment:>8,.1f} reviews/s")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
