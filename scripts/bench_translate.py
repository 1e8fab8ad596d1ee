"""Translation benchmarks, printed as ratios against baselines run in the same process.

1. Beam search sentences/s: `translate_texts` (transformers' `generate()`, sentences × beams batched
   into one tensor, batches of similar length) vs the same `generate()` called one sentence at a
   time (baseline), same model, sentences, beam width and output length. Target: >= 10x. Measured
   with float32 weights, then again with bfloat16 weights (`hf-nlp translate --dtype bfloat16`),
   both modes in the same dtype.
2. Training pairs/s of the LSTM encoder–decoder through the shared loop: every batch padded to 50
   tokens in random order (the reference's layout, baseline) vs length-grouped batches with dynamic
   padding (what `recipes/translate_seq2seq.py` does). One pass over the same pairs each. (Both
   read the source packed in the encoder; the difference is the padded decoder and batch shapes.)
   Each as a share of the fp32 matmul peak (FLOPs per pair counted by torch on real batches).

    python scripts/bench.py translate          # or: python scripts/bench_translate.py --model runs/seq2seq_luong

With `--model` a trained run is measured; otherwise a fresh model of the configs' size (random
weights: no sentence ends early, so every decoding runs its full `--max-new-tokens`, in both modes).
The machines are noisy (±2x between runs): the best of `--repeats` is kept for each mode.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from transformers import DataCollatorForSeq2Seq

from hf_nlp.data.spa_eng import SpaEngDataConfig, encode_pairs, load_spa_eng
from hf_nlp.generation.translate import translate_texts
from hf_nlp.hub import load_model_and_tokenizer
from hf_nlp.models.seq2seq_rnn import RNNForSeq2SeqLM, Seq2SeqRNNConfig
from hf_nlp.text.translation_tokenizer import build_translation_tokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file, find `scripts` and `recipes`
from scripts.bench_flops import share_of_peak, training_flops  # noqa: E402
from scripts.bench_table import ratio_table  # noqa: E402
from scripts.bench_timing import timed_fit  # noqa: E402

NAIVE_LENGTH = 51  # the reference's 50 tokens, plus our [EOS]


def load_model(args: argparse.Namespace, corpus):
    """A trained run (`--model`) or a fresh model with the configs' sizes, and its tokenizer."""
    if args.model:
        return load_model_and_tokenizer(args.model, "AutoModelForSeq2SeqLM")
    tokenizer, target_size = build_translation_tokenizer(corpus["train"]["en"], corpus["train"]["es"],
                                                         args.vocab_size, args.vocab_size)
    torch.manual_seed(0)
    config = Seq2SeqRNNConfig(vocab_size=len(tokenizer), target_vocab_size=target_size, hidden_size=args.hidden_size,
                              bidirectional=True, attention=args.attention)
    return RNNForSeq2SeqLM(config).eval(), tokenizer


# --------------------------------------------------------------------------- 1. batched beam search


def one_at_a_time_seconds(model, tokenizer, sentences: list[str], beams: int, max_new_tokens: int) -> float:
    started = time.perf_counter()
    with torch.no_grad():
        for sentence in sentences:
            model.generate(**tokenizer(sentence, return_tensors="pt"), num_beams=beams, do_sample=False,
                           max_new_tokens=max_new_tokens)
    return time.perf_counter() - started


def bench_beam_search(model, tokenizer, sentences: list[str], beams: int, batch_size: int, max_new_tokens: int,
                      repeats: int, dtype: str = "float32") -> dict:
    model.to(getattr(torch, dtype))
    single, batched = [], []
    for _ in range(repeats):
        single.append(one_at_a_time_seconds(model, tokenizer, sentences, beams, max_new_tokens))
        batched.append(translate_texts(model, tokenizer, sentences, batch_size=batch_size, num_beams=beams,
                                       max_new_tokens=max_new_tokens, progress=False).seconds)
    rates = {"one_at_a_time_sentences_per_s": len(sentences) / min(single),
             "batched_sentences_per_s": len(sentences) / min(batched)}
    return {**rates, "batched_vs_one_at_a_time": rates["batched_sentences_per_s"] / rates["one_at_a_time_sentences_per_s"],
            "sentences": len(sentences), "dtype": dtype}


# --------------------------------------------------------------------------- 2. training layouts


def padded_to(length: int, collate):
    """`collate` with sources and labels first padded to `length` (the reference's fixed-size batches)."""
    def pad(features: list[dict]) -> dict:
        padded = []
        for feature in features:
            extra = length - len(feature["input_ids"])
            padded.append({"input_ids": feature["input_ids"] + [collate.tokenizer.pad_token_id] * extra,
                           "attention_mask": feature["attention_mask"] + [0] * extra,
                           "labels": feature["labels"] + [-100] * (length - len(feature["labels"]))})
        return collate(padded)
    return pad


def bench_training(corpus, tokenizer, model_config, pairs: int, batch_size: int, repeats: int) -> dict:
    target_size = model_config.target_vocab_size
    data = encode_pairs(corpus, tokenizer, target_size)["train"]
    data = data.select(range(min(pairs, len(data))))
    lengths = [max(len(s), len(t)) for s, t in zip(data["input_ids"], data["labels"], strict=True)]
    seconds: dict[str, list[float]] = {"pad_to_50": [], "length_grouped": []}
    for _ in range(repeats):
        for name in seconds:
            torch.manual_seed(0)
            model = RNNForSeq2SeqLM(model_config)
            collate = DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=-100)
            if name == "pad_to_50":
                collate, layout_lengths = padded_to(NAIVE_LENGTH, collate), None
            else:
                layout_lengths = lengths
            seconds[name].append(timed_fit(model, data, collate, layout_lengths, batch_size=batch_size, num_epochs=1,
                                           optimizer="nadam"))
    names = {"pad_to_50": "every batch padded to 50", "length_grouped": "length-grouped, dynamic padding"}
    rates = {names[name]: len(data) / min(t) for name, t in seconds.items()}
    # Useful work: FLOPs per pair on length-grouped batches (little padding), the same for both layouts.
    torch.manual_seed(0)
    model = RNNForSeq2SeqLM(model_config)
    collate = DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=-100)
    order = sorted(range(len(data)), key=lengths.__getitem__)
    sample = [order[i:i + batch_size] for i in range(0, len(order), max(len(order) // 4, batch_size))][:4]
    flops_per_pair = sum(training_flops(model, collate([data[i] for i in batch])) for batch in sample) / sum(
        len(batch) for batch in sample)
    shares = {name: share_of_peak(rate, flops_per_pair) for name, rate in rates.items()}
    mean_tokens = sum(lengths) / len(lengths)
    table = ratio_table("seq2seq training", "pairs/s", rates, names["pad_to_50"], names["length_grouped"],
                        f"{describe(model_config)}, {len(data):,} pairs (mean {mean_tokens:.1f} tokens), batch "
                        f"{batch_size}, one epoch, {flops_per_pair / 1e6:,.1f} MFLOPs per pair", shares)
    return {"table": table, "pairs": len(data), "mean_tokens": mean_tokens, "flops_per_pair": flops_per_pair}


def describe(config: Seq2SeqRNNConfig) -> str:
    return (f"LSTM({config.hidden_size}) encoder–decoder, {'bidirectional, ' if config.bidirectional else ''}"
            f"attention {config.attention or 'none'}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--source", default="bible", help="pairs for both sections (see hf_nlp.data.spa_eng)")
    parser.add_argument("--test-size", type=int, default=2000, help="as --data.test_size of the recipe")
    parser.add_argument("--validation-size", type=int, default=2000, help="as --data.validation_size of the recipe")
    parser.add_argument("--model", default=None, help="a trained translation run or model folder")
    parser.add_argument("--vocab-size", type=int, default=4000, help="per language, for a fresh model")
    parser.add_argument("--hidden-size", type=int, default=512, help="for a fresh model")
    parser.add_argument("--attention", default="luong", help="for a fresh model")
    parser.add_argument("--sentences", type=int, default=256, help="test sentences to translate")
    parser.add_argument("--beams", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=30)
    parser.add_argument("--decode-batch-size", type=int, default=128)
    parser.add_argument("--dtypes", nargs="+", choices=["float32", "bfloat16"], default=["float32", "bfloat16"],
                        help="weight dtypes to measure beam search in (both modes in each)")
    parser.add_argument("--train-pairs", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--only", choices=["beam", "training"], default=None, help="run one section")
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    args, _ = parser.parse_known_args(argv)  # other sections' flags pass through `scripts/bench.py`

    corpus = load_spa_eng(SpaEngDataConfig(source=args.source, test_size=args.test_size,
                                           validation_size=args.validation_size))
    model, tokenizer = load_model(args, corpus)
    results: dict = {"settings": vars(args) | {"out": str(args.out) if args.out else None,
                                               "torch_threads": torch.get_num_threads()}, "tables": []}
    if args.only in (None, "beam"):
        sentences = list(corpus["test"]["en"][: args.sentences])
        rates = {}
        for dtype in args.dtypes:
            beam = bench_beam_search(model, tokenizer, sentences, args.beams, args.decode_batch_size,
                                     args.max_new_tokens, args.repeats, dtype)
            results["beam" if dtype == "float32" else f"beam_{dtype}"] = beam
            rates[f"one sentence at a time, {dtype}"] = beam["one_at_a_time_sentences_per_s"]
            rates[f"batched (translate_texts), {dtype}"] = beam["batched_sentences_per_s"]
        model.to(torch.float32)
        dtype = args.dtypes[0]
        results["tables"].append(ratio_table(
            "beam-search decoding", "sentences/s", rates, f"one sentence at a time, {dtype}",
            f"batched (translate_texts), {dtype}", f"width {args.beams}, {len(sentences)} sentences, up to "
            f"{args.max_new_tokens} new tokens, batches of {args.decode_batch_size}"))
    if args.only in (None, "training") and isinstance(model, RNNForSeq2SeqLM):
        results["training"] = bench_training(corpus, tokenizer, model.config, args.train_pairs, args.batch_size,
                                             args.repeats)
        results["tables"].append(results["training"]["table"])
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
