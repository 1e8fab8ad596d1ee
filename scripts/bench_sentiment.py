"""Sentiment benchmarks, printed as ratios against baselines run in the same process.

1. GRU training reviews/s on the full movie reviews (cut to 500 tokens): every batch padded to
   500 (the naive layout, baseline) vs dynamic padding, and dynamic padding with length-grouped
   batches (what `recipes/sentiment_rnn.py` does). One epoch each, masking on. With TensorFlow
   installed (`pip install ".[bench-keras]"`), the reference's Keras GRU on the same token ids
   too. Each as a share of the fp32 matmul peak, counting the FLOPs of real (unpadded) tokens.
2. Encoder fine-tuning samples/s in steady state (runs of N and 2N steps, differenced): our shared
   loop vs `transformers.Trainer` on the same model (all-MiniLM-L6-v2 + classification head), data
   (tweets, 64 tokens), batch, optimizer, schedule, clipping, length grouping and precision.
   Target: ratio >= 1.0. The fixed costs (setup, final checkpoint) are printed apart.

    python scripts/bench.py sentiment           # or: python -m scripts.bench_sentiment
    python scripts/bench_sentiment.py --repeats 3 --encoder-steps 40

The machines are noisy (±2x between runs), so runs alternate baseline/candidate and the best of
`--repeats` is kept for each.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
from datasets import Dataset
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding

from hf_nlp.data.sentiment import load_sentiment
from hf_nlp.models.rnn_classifier import RNNClassifierConfig, RNNForSequenceClassification
from hf_nlp.text.sentence_embeddings import pretrained_encoder_path
from hf_nlp.text.vectorize import TextVectorization
from hf_nlp.training.accelerator import reset_shared_accelerator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file, find `scripts`
from scripts import bench_keras  # noqa: E402
from scripts.bench_flops import share_of_peak, training_flops  # noqa: E402
from scripts.bench_table import ratio_table  # noqa: E402
from scripts.bench_timing import timed_fit  # noqa: E402

NAIVE_LENGTH = 500


# --------------------------------------------------------------------------- 1. GRU: padding layouts


def tokenized_reviews(source: str) -> tuple[Dataset, object]:
    """The training reviews as token ids (cut to 500 tokens) and the reference's 1,000-word tokenizer."""
    corpus = load_sentiment(source)
    tokenizer = TextVectorization(max_tokens=1000).adapt(corpus["train"]["text"]).to_tokenizer()
    data = corpus["train"].map(lambda b: tokenizer(b["text"], truncation=True, max_length=NAIVE_LENGTH),
                               batched=True, remove_columns=["text"]).rename_column("label", "labels")
    return data, tokenizer


def gru_epoch_seconds(data: Dataset, tokenizer, layout: str, batch_size: int, rnn_backend: str = "auto",
                      masking: bool = True, num_epochs: int = 1) -> float:
    """Seconds for `num_epochs` training epochs of the reference GRU (Trainer.fit, setup included)."""
    torch.manual_seed(0)
    num_labels = data.features["labels"].num_classes if hasattr(data.features["labels"], "num_classes") else 2
    model = RNNForSequenceClassification(RNNClassifierConfig(vocab_size=len(tokenizer), pad_token_id=0,
                                                             num_labels=num_labels, rnn_backend=rnn_backend,
                                                             masking=masking))
    padding = {"padding": "max_length", "max_length": NAIVE_LENGTH} if layout == "pad_to_500" else {}
    collate = DataCollatorWithPadding(tokenizer, return_tensors="pt", **padding)
    lengths = [len(ids) for ids in data["input_ids"]] if layout == "length_grouped" else None
    return timed_fit(model, data, collate, lengths, batch_size=batch_size, num_epochs=num_epochs, optimizer="nadam")


def bench_gru(source: str, batch_size: int, repeats: int, keras: bool) -> dict:
    data, tokenizer = tokenized_reviews(source)
    layouts = {"pad_to_500": "every batch padded to 500", "dynamic_padding": "dynamic padding",
               "length_grouped": "dynamic padding, length-grouped"}
    seconds: dict[str, list[float]] = {name: [] for name in layouts.values()}
    for _ in range(repeats):
        for layout, name in layouts.items():
            seconds[name].append(gru_epoch_seconds(data, tokenizer, layout, batch_size))
    rates = {name: len(data) / min(t) for name, t in seconds.items()}
    if keras and bench_keras.keras_available():  # after torch: TensorFlow's thread pools stay up once started
        rates["Keras reference (padded to the longest in batch)"] = bench_keras.keras_sentiment_reviews_per_s(
            data["input_ids"], data["labels"], vocab_size=len(tokenizer), max_length=NAIVE_LENGTH,
            batch_size=batch_size, repeats=repeats)
    lengths = [len(ids) for ids in data["input_ids"]]
    mean_tokens = sum(lengths) / len(lengths)
    # Useful work: FLOPs of the real tokens only (what padding adds is waste, not throughput).
    torch.manual_seed(0)
    model = RNNForSequenceClassification(RNNClassifierConfig(vocab_size=len(tokenizer), pad_token_id=0, num_labels=2))
    sample = {"input_ids": torch.randint(2, len(tokenizer), (batch_size, 100)), "labels": torch.zeros(batch_size).long()}
    flops_per_token = training_flops(model, sample) / (batch_size * 100)
    shares = {name: share_of_peak(rate * mean_tokens, flops_per_token) for name, rate in rates.items()}
    table = ratio_table("sentiment GRU training", "reviews/s", rates, layouts["pad_to_500"], layouts["length_grouped"],
                        f"GRU 128 on `{source}`, {len(data):,} reviews, mean {mean_tokens:.0f} tokens, "
                        f"{100 * sum(n < NAIVE_LENGTH for n in lengths) / len(lengths):.0f} % under 500, batch "
                        f"{batch_size}, one epoch, {flops_per_token:,.0f} FLOPs per real token", shares)
    keras_row = next((name for name in rates if name.startswith("Keras")), None)
    if keras_row is None:
        print(f"  Keras reference skipped: {bench_keras.SKIPPED if keras else '--no-keras'}")
    return {"table": table, "reviews": len(data), "mean_tokens": mean_tokens, "flops_per_token": flops_per_token,
            "ours_vs_keras": rates[layouts["length_grouped"]] / rates[keras_row] if keras_row else None}


# --------------------------------------------------------------------------- 2. encoder: our loop vs Trainer


def our_loop_seconds(model, data: Dataset, collate, batch_size: int, steps: int, bf16: bool) -> float:
    return timed_fit(model, data, collate, [len(ids) for ids in data["input_ids"]], batch_size=batch_size,
                     max_steps=steps, optimizer="adamw", learning_rate=5e-5, weight_decay=0.01, lr_scheduler="linear",
                     max_grad_norm=1.0, mixed_precision="bf16" if bf16 else "no")


def hf_trainer_seconds(model, data: Dataset, collate, batch_size: int, steps: int, bf16: bool) -> float:
    from transformers import Trainer as HFTrainer
    from transformers import TrainingArguments

    with tempfile.TemporaryDirectory() as run_dir:
        args = TrainingArguments(
            output_dir=run_dir, per_device_train_batch_size=batch_size, max_steps=steps, learning_rate=5e-5,
            weight_decay=0.01, lr_scheduler_type="linear", max_grad_norm=1.0, bf16=bf16, use_cpu=True,
            train_sampling_strategy="group_by_length", report_to="none", save_strategy="no", eval_strategy="no",
            logging_strategy="no", disable_tqdm=True, dataloader_num_workers=0, seed=0)
        started = time.perf_counter()
        HFTrainer(model=model, args=args, train_dataset=data, data_collator=collate).train()
        elapsed = time.perf_counter() - started
    reset_shared_accelerator()
    return elapsed


def bench_encoder(encoder: str, source: str, examples: int, max_length: int, batch_size: int, steps: int,
                  repeats: int, bf16: bool) -> dict:
    path = pretrained_encoder_path(encoder)
    tokenizer = AutoTokenizer.from_pretrained(path)
    train = load_sentiment(source)["train"]
    train = train.select(range(min(examples, len(train))))
    num_labels = train.features["label"].num_classes
    data = train.map(lambda b: tokenizer(b["text"], truncation=True, max_length=max_length), batched=True,
                     remove_columns=["text"]).rename_column("label", "labels")
    collate = DataCollatorWithPadding(tokenizer, return_tensors="pt")

    def fresh_model():
        torch.manual_seed(0)
        return AutoModelForSequenceClassification.from_pretrained(path, num_labels=num_labels)

    # Each framework runs `steps` and `2 * steps` steps; the difference is the cost of `steps` steps
    # in steady state, free of the fixed costs (setup; our final resumable checkpoint, which writes
    # the model and optimizer state, and best_model/ — transformers.Trainer here saves nothing).
    runners = {"transformers_trainer": hf_trainer_seconds, "our_loop": our_loop_seconds}
    steady: dict[str, list[float]] = {name: [] for name in runners}
    fixed: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(repeats):
        for name, runner in runners.items():
            short = runner(fresh_model(), data, collate, batch_size, steps, bf16)
            long = runner(fresh_model(), data, collate, batch_size, 2 * steps, bf16)
            steady[name].append(max(long - short, 1e-9))
            fixed[name].append(max(short - (long - short), 0.0))
    names = {"transformers_trainer": "transformers.Trainer", "our_loop": "our shared loop"}
    rates = {names[name]: steps * batch_size / min(t) for name, t in steady.items()}
    notes = {names[name]: f"+ {min(t):.1f} s fixed" + (" (incl. checkpoint)" if name == "our_loop" else "")
             for name, t in fixed.items()}
    table = ratio_table("encoder fine-tuning", "samples/s", rates, names["transformers_trainer"], names["our_loop"],
                        f"`{encoder}` on `{source}`, {max_length} tokens, batch {batch_size}, {steps} steps in steady "
                        f"state, {'bf16' if bf16 else 'fp32'}", notes=notes)
    return {"table": table}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--gru-source", default="polarity", help="corpus for the GRU section (long texts)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-keras", action="store_true", help="skip the Keras reference even if installed")
    parser.add_argument("--encoder", default="minilm", help="`minilm`, a model dir or a Hub id")
    parser.add_argument("--encoder-source", default="tweets")
    parser.add_argument("--encoder-examples", type=int, default=2000)
    parser.add_argument("--encoder-max-length", type=int, default=64)
    parser.add_argument("--encoder-steps", type=int, default=30)
    parser.add_argument("--precision", choices=["bf16", "no"], default="bf16")
    parser.add_argument("--only", choices=["gru", "encoder"], default=None, help="run one section")
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    args, _ = parser.parse_known_args(argv)  # other sections' flags pass through `scripts/bench.py`

    bf16 = args.precision == "bf16"
    results: dict = {"settings": vars(args) | {"out": str(args.out) if args.out else None,
                                               "torch_threads": torch.get_num_threads()}, "tables": []}
    if args.only in (None, "gru"):
        results["gru"] = bench_gru(args.gru_source, args.batch_size, args.repeats, keras=not args.no_keras)
        results["tables"].append(results["gru"]["table"])
    if args.only in (None, "encoder"):
        results["encoder"] = bench_encoder(args.encoder, args.encoder_source, args.encoder_examples,
                                           args.encoder_max_length, args.batch_size, args.encoder_steps,
                                           args.repeats, bf16)
        results["tables"].append(results["encoder"]["table"])
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
