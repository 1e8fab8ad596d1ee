"""Fused GRU/LSTM layers against PyTorch's and the reference's Keras, in one process (issue 27).

1. char-RNN training chars/s through the shared loop, PyTorch's GRU vs the fused one, at the
   reference's settings (batch 32, float32) and at batch 256 in float32 and bf16; the reference's
   Keras model at batch 32 and 256 (float32) when TensorFlow is installed. Each row also as a share
   of the matching (float32 or bf16) matmul peak.
2. sentiment GRU training reviews/s over length-grouped batches, in steady state (three epochs minus
   one, halved, as Keras' warm `fit` is timed): PyTorch vs fused with masking, the fused one without
   masking (what masking costs inside the kernel), and Keras.
3. seq2seq training pairs/s: the LSTM 512 encoder–decoder (bidirectional, Luong), length-grouped,
   PyTorch vs fused in float32 and under bf16 autocast.
4. Where one char-RNN training step's time goes (batch 32 float32), PyTorch's GRU and the fused
   one: torch.profiler self time per op, the largest first.

    python scripts/bench.py fused               # or: python -m scripts.bench_fused_rnn
    python scripts/bench_fused_rnn.py --steps 100 --repeats 1 --no-keras --parts char step_profile

Runs alternate backends and keep the best of `--repeats` (the machines are noisy).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile
from transformers import DataCollatorForSeq2Seq

from hf_nlp.data.spa_eng import SpaEngDataConfig, encode_pairs, load_spa_eng
from hf_nlp.models.fused_rnn import fused_extension, set_rnn_backend
from hf_nlp.models.seq2seq_rnn import RNNForSeq2SeqLM, Seq2SeqRNNConfig
from hf_nlp.text.translation_tokenizer import build_translation_tokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file, find `scripts` and `recipes`
from scripts import bench_keras  # noqa: E402
from scripts.bench_char_rnn import REFERENCE_BATCH, VOCAB, make_model, make_windows, shared_loop_training  # noqa: E402
from scripts.bench_flops import share_of_peak, training_flops  # noqa: E402
from scripts.bench_sentiment import NAIVE_LENGTH, gru_epoch_seconds, tokenized_reviews  # noqa: E402
from scripts.bench_table import ratio_table  # noqa: E402
from scripts.bench_timing import timed_fit  # noqa: E402

BACKENDS = {"torch": "PyTorch GRU", "fused": "fused GRU"}
PARTS = ["char", "sentiment_gru", "seq2seq_lstm", "step_profile"]


def bench_char_rnn(window: int, steps: int, big_batch: int, repeats: int) -> dict:
    data = make_windows(window)
    big_steps = max(steps * REFERENCE_BATCH // big_batch, 10)
    settings = {f"batch {REFERENCE_BATCH} fp32": (REFERENCE_BATCH, steps, False),
                f"batch {big_batch} fp32": (big_batch, big_steps, False),
                f"batch {big_batch} bf16": (big_batch, big_steps, True)}
    seconds: dict[str, list[float]] = {}
    chars: dict[str, int] = {}
    for _ in range(repeats):
        for setting, (batch_size, setting_steps, bf16) in settings.items():
            for backend, name in BACKENDS.items():
                row = f"{name}, {setting}"
                model = make_model(128, rnn_backend=backend)
                seconds.setdefault(row, []).append(shared_loop_training(model, data, batch_size, setting_steps, bf16))
                chars[row] = setting_steps * batch_size * window
    sample = next(iter(torch.utils.data.DataLoader(data, batch_size=REFERENCE_BATCH)))
    flops_per_char = training_flops(make_model(128), sample) / (REFERENCE_BATCH * window)
    return {"rates": {row: chars[row] / min(t) for row, t in seconds.items()}, "flops_per_char": flops_per_char,
            "settings": list(settings), "window": window, "big_batch": big_batch, "big_steps": big_steps}


def keras_char_rnn(result: dict, steps: int, repeats: int) -> None:
    """Add the reference's Keras rows (after every PyTorch run: TensorFlow's thread pools stay up once started)."""
    for batch_size in (REFERENCE_BATCH, result["big_batch"]):
        result["rates"][f"Keras reference, batch {batch_size} fp32"] = bench_keras.keras_char_rnn_chars_per_s(
            VOCAB, result["window"], batch_size, steps if batch_size == REFERENCE_BATCH else result["big_steps"],
            repeats)


def char_rnn_table(result: dict) -> dict:
    rates, big_batch = result["rates"], result["big_batch"]
    shares = {row: share_of_peak(rate, result["flops_per_char"], "bfloat16" if "bf16" in row else "float32")
              for row, rate in rates.items()}
    keras_row = f"Keras reference, batch {REFERENCE_BATCH} fp32"
    baseline = keras_row if keras_row in rates else f"PyTorch GRU, batch {REFERENCE_BATCH} fp32"
    result["table"] = ratio_table(
        "char-RNN training, fused GRU", "chars/s", rates, baseline, f"fused GRU, batch {big_batch} bf16",
        f"GRU 128, windows of {result['window']}, shared loop, NAdam, clip 1.0, {torch.get_num_threads()} threads, "
        f"{result['flops_per_char']:,.0f} FLOPs/char; share of the fp32 or bf16 matmul peak", shares)
    result["shares_of_peak"] = shares
    fused_vs = {setting: rates[f"fused GRU, {setting}"] / rates[f"PyTorch GRU, {setting}"]
                for setting in result["settings"]}
    for batch_size in (REFERENCE_BATCH, big_batch):
        if f"Keras reference, batch {batch_size} fp32" in rates:
            fused_vs[f"fused / Keras, batch {batch_size} fp32"] = (
                rates[f"fused GRU, batch {batch_size} fp32"] / rates[f"Keras reference, batch {batch_size} fp32"])
    print("  fused / baseline: " + ", ".join(f"x{r:.2f} ({s})" for s, r in fused_vs.items()))
    result["fused_vs"] = fused_vs
    return result["table"]


def bench_sentiment(source: str, batch_size: int, repeats: int) -> dict:
    data, tokenizer = tokenized_reviews(source)
    runs = {"PyTorch GRU, masked": ("torch", True), "fused GRU, masked": ("fused", True),
            "fused GRU, unmasked": ("fused", False)}
    # Steady state, as Keras is timed (a warm model's `fit`): three epochs minus one, halved, which leaves
    # out the loop's fixed costs (setup, final checkpoint); those are kept apart in `fixed_seconds`.
    one: dict[str, list[float]] = {name: [] for name in runs}
    three: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, (backend, masking) in runs.items():
            one[name].append(gru_epoch_seconds(data, tokenizer, "length_grouped", batch_size, backend, masking, 1))
            three[name].append(gru_epoch_seconds(data, tokenizer, "length_grouped", batch_size, backend, masking, 3))
    epoch = {name: (min(three[name]) - min(one[name])) / 2 for name in runs}
    return {"rates": {name: len(data) / seconds for name, seconds in epoch.items()},
            "fixed_seconds": {name: min(one[name]) - epoch[name] for name in runs},
            "data": data, "tokenizer": tokenizer, "source": source, "batch_size": batch_size}


def keras_sentiment(result: dict, repeats: int) -> None:
    data = result["data"]
    result["rates"]["Keras reference"] = bench_keras.keras_sentiment_reviews_per_s(
        data["input_ids"], data["labels"], vocab_size=len(result["tokenizer"]), max_length=NAIVE_LENGTH,
        batch_size=result["batch_size"], repeats=repeats)


def sentiment_table(result: dict) -> dict:
    rates = result["rates"]
    baseline = "Keras reference" if "Keras reference" in rates else "PyTorch GRU, masked"
    result["table"] = ratio_table(
        "sentiment GRU training, fused GRU", "reviews/s", rates, baseline, "fused GRU, masked",
        f"GRU 128 on `{result['source']}`, {len(result['data']):,} reviews cut to {NAIVE_LENGTH} tokens, "
        f"length-grouped batches of {result['batch_size']}; steady state ((3 epochs - 1) / 2) like Keras' warm `fit`")
    result["masking_cost"] = rates["fused GRU, unmasked"] / rates["fused GRU, masked"]
    for key in ("data", "tokenizer"):
        del result[key]
    return result["table"]


def bench_seq2seq(source: str, pairs: int, batch_size: int, repeats: int) -> dict:
    corpus = load_spa_eng(SpaEngDataConfig(source=source))
    tokenizer, target_size = build_translation_tokenizer(corpus["train"]["en"], corpus["train"]["es"], 4000, 4000)
    data = encode_pairs(corpus, tokenizer, target_size)["train"]
    data = data.select(range(min(pairs, len(data))))
    lengths = [max(len(s), len(t)) for s, t in zip(data["input_ids"], data["labels"], strict=True)]
    config = Seq2SeqRNNConfig(vocab_size=len(tokenizer), target_vocab_size=target_size, hidden_size=512,
                              bidirectional=True, attention="luong")
    runs = {"PyTorch LSTM": ("torch", "no"), "fused LSTM": ("fused", "no"),
            "PyTorch LSTM, bf16": ("torch", "bf16"), "fused LSTM, bf16": ("fused", "bf16")}
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, (backend, precision) in runs.items():
            torch.manual_seed(0)
            model = set_rnn_backend(RNNForSeq2SeqLM(config), backend)
            collate = DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=-100)
            seconds[name].append(timed_fit(model, data, collate, lengths, batch_size=batch_size, num_epochs=1,
                                           optimizer="nadam", mixed_precision=precision))
    rates = {name: len(data) / min(times) for name, times in seconds.items()}
    table = ratio_table("seq2seq training, fused LSTM", "pairs/s", rates, "PyTorch LSTM", "fused LSTM",
                        f"LSTM 512 encoder–decoder, bidirectional, Luong attention, {len(data):,} pairs of `{source}`, "
                        f"length-grouped batches of {batch_size}, one epoch; float32 unless bf16 autocast is named")
    return {"table": table}


def training_step(model, optimizer, batch: dict) -> None:
    """One step as the shared loop takes it: forward, backward, clipping, NAdam."""
    model(**batch).loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad()


def step_profile(window: int, top: int) -> dict:
    """Self CPU time per op of one training step (forward, backward, NAdam), as shares of the step."""
    data = make_windows(window)
    batch = next(iter(torch.utils.data.DataLoader(data, batch_size=REFERENCE_BATCH)))
    profiles = {}
    for backend, name in BACKENDS.items():
        model = make_model(128, rnn_backend=backend).train()
        optimizer = torch.optim.NAdam(model.parameters(), lr=1e-3, foreach=True)
        for _ in range(3):
            training_step(model, optimizer, batch)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(5):
                training_step(model, optimizer, batch)
        events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
        total = sum(e.self_cpu_time_total for e in events)
        events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
        profiles[name] = {"step_ms": total / 5 / 1000, "ops": len(events), "calls": sum(e.count for e in events) // 5,
                          "top": [(e.key, e.self_cpu_time_total / total) for e in events[:top]]}
        print(f"  {name}: {profiles[name]['step_ms']:.1f} ms per step, {profiles[name]['calls']} op calls per step")
        for key, share in profiles[name]["top"]:
            print(f"    {100 * share:5.1f} %  {key}")
    return profiles


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--steps", type=int, default=300, help="char-RNN steps at batch 32 (fewer at the big batch)")
    parser.add_argument("--big-batch-size", type=int, default=256)
    parser.add_argument("--sentiment-source", default="polarity")
    parser.add_argument("--sentiment-batch-size", type=int, default=32)
    parser.add_argument("--translation-source", default="bible")
    parser.add_argument("--train-pairs", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile-top", type=int, default=8)
    parser.add_argument("--no-keras", action="store_true", help="skip the Keras reference even if installed")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=PARTS,
                        help="which comparisons to run (names unlike bench.py's sections, which take the same argv)")
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    args, _ = parser.parse_known_args(argv)  # other sections' flags pass through `scripts/bench.py`
    if fused_extension() is None:
        print("  fused kernels unavailable (no C++ compiler): nothing to compare")
        return {"skipped": "the fused kernels did not build", "tables": []}
    parts = args.parts
    results: dict = {"settings": vars(args) | {"out": str(args.out) if args.out else None,
                                               "torch_threads": torch.get_num_threads()}, "tables": []}
    keras = not args.no_keras and bench_keras.keras_available()
    if not keras:
        print(f"  Keras reference skipped: {'--no-keras' if args.no_keras else bench_keras.SKIPPED}")
    if "char" in parts:
        results["char_rnn"] = bench_char_rnn(args.window, args.steps, args.big_batch_size, args.repeats)
    if "sentiment_gru" in parts:
        results["sentiment"] = bench_sentiment(args.sentiment_source, args.sentiment_batch_size, args.repeats)
    if "seq2seq_lstm" in parts:
        results["seq2seq"] = bench_seq2seq(args.translation_source, args.train_pairs, 32, args.repeats)
        results["tables"].append(results["seq2seq"]["table"])
    if "step_profile" in parts:
        results["profile"] = step_profile(args.window, args.profile_top)
    if keras and "char" in parts:  # TensorFlow last: its thread pools stay up once started
        keras_char_rnn(results["char_rnn"], args.steps, args.repeats)
    if keras and "sentiment_gru" in parts:
        keras_sentiment(results["sentiment"], args.repeats)
    if "char" in parts:
        results["tables"].insert(0, char_rnn_table(results["char_rnn"]))
    if "sentiment_gru" in parts:
        results["tables"].insert(1 if "char" in parts else 0, sentiment_table(results["sentiment"]))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, default=str))
    return results


if __name__ == "__main__":
    main()
