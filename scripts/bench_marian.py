"""Marian translation tokens/s: transformers `generate()` (baseline) vs CTranslate2 float32 and int8,
printed as ratios measured in the same process, with each backend's BLEU on the same sentences.

The model is a trained Marian run (`--model`, default `runs/seq2seq_marian` when it exists) or,
on a fresh install, a random Marian of the recipe's size (`recipes/configs/seq2seq_marian.yaml`):
its speed is the same, its BLEU meaningless (shown as n/a). Target: CTranslate2 int8 >= 3x the
baseline's tokens/s with BLEU within 0.5 of it. Every backend decodes the same sentences with the
same beam width, batch size and length limit, on the same cores (CTranslate2: one worker per core).

    python scripts/bench.py marian            # or: python scripts/bench_marian.py --sentences 512
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

from hf_nlp.data.spa_eng import SpaEngDataConfig, load_spa_eng
from hf_nlp.evaluation.translation import translation_scores
from hf_nlp.generation.ctranslate2_backend import (
    CT2_INSTALL,
    ctranslate2_available,
    load_translator,
    translate_texts_ctranslate2,
)
from hf_nlp.generation.translate import Translations, translate_texts
from hf_nlp.hub import load_model_and_tokenizer
from hf_nlp.text.translation_tokenizer import build_translation_tokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file, find `recipes` and `scripts`
from recipes.translate_seq2seq import ModelConfig, build_model  # noqa: E402
from scripts.bench_table import ratio_table  # noqa: E402

TRAINED_RUN = "runs/seq2seq_marian"


def fresh_marian(folder: Path, corpus) -> str:
    """A random Marian of the recipe's size with the recipe's tokenizer, saved in `folder`."""
    tokenizer, target_size = build_translation_tokenizer(corpus["train"]["en"], corpus["train"]["es"], 4000, 4000)
    torch.manual_seed(0)
    model = build_model(ModelConfig(architecture="marian", hidden_size=256, transformer_layers=3,
                                    transformer_heads=4, transformer_ffn_size=1024), tokenizer, target_size)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def measure(model_id: str, sources: list[str], references: list[str], args: argparse.Namespace, trained: bool) -> dict:
    """Best-of-repeats tokens/s and the BLEU of each backend, alternating backends every repeat."""
    model, tokenizer = load_model_and_tokenizer(model_id, "AutoModelForSeq2SeqLM")
    threads = torch.get_num_threads()
    translators = {q: load_translator(model_id, q, threads) for q in ("float32", "int8")}  # converts once
    search = {"batch_size": args.batch_size, "num_beams": args.beams, "max_new_tokens": args.max_new_tokens,
              "progress": False}
    runners = {
        "transformers_fp32": lambda: translate_texts(model, tokenizer, sources, **search),
        **{f"ctranslate2_{q}": (lambda t=t: translate_texts_ctranslate2(t[0], t[1], sources, **search))
           for q, t in translators.items()},
    }
    for run in runners.values():  # warm-up: the first generate() here runs ~5x slower (one-off setup)
        run()
    best: dict[str, Translations] = {}
    for _ in range(args.repeats):
        for name, run in runners.items():
            done = run()
            if name not in best or done.tokens_per_second > best[name].tokens_per_second:
                best[name] = done
    baseline = best["transformers_fp32"]
    results = {}
    for name, done in best.items():
        bleu = translation_scores(done.texts, references)["bleu"] if trained else None
        results[name] = {"tokens_per_s": done.tokens_per_second, "sentences_per_s": done.sentences_per_second,
                         "vs_transformers": done.tokens_per_second / baseline.tokens_per_second, "bleu": bleu}
    return results


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--model", default=None, help=f"a trained Marian run or model (default: {TRAINED_RUN} if it "
                                                      "exists, else a random Marian of the recipe's size)")
    parser.add_argument("--source", default="bible", help="pairs (see hf_nlp.data.spa_eng); its test split is used")
    parser.add_argument("--test-size", type=int, default=2000, help="as --data.test_size of the recipe")
    parser.add_argument("--validation-size", type=int, default=2000, help="as --data.validation_size of the recipe")
    parser.add_argument("--sentences", type=int, default=256, help="test sentences to translate")
    parser.add_argument("--beams", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    args, _ = parser.parse_known_args(argv)  # other sections' flags pass through `scripts/bench.py`

    if not ctranslate2_available():
        print(f"Marian section skipped: CTranslate2 is not installed ({CT2_INSTALL})")
        return {"skipped": f"CTranslate2 is not installed ({CT2_INSTALL})"}
    corpus = load_spa_eng(SpaEngDataConfig(source=args.source, test_size=args.test_size,
                                           validation_size=args.validation_size))
    sources = list(corpus["test"]["en"][: args.sentences])
    references = list(corpus["test"]["es"][: args.sentences])
    model_id = args.model or (TRAINED_RUN if Path(TRAINED_RUN, "metrics.json").is_file() else None)
    with tempfile.TemporaryDirectory() as scratch:
        trained = model_id is not None
        rows = measure(model_id or fresh_marian(Path(scratch), corpus), sources, references, args, trained)
    results = {"settings": vars(args) | {"out": str(args.out) if args.out else None, "model_used": model_id or
                                         "random Marian (recipe size)", "torch_threads": torch.get_num_threads()},
               "backends": rows}
    base_bleu = rows["transformers_fp32"]["bleu"]
    names = {"transformers_fp32": "transformers generate(), fp32", "ctranslate2_float32": "CTranslate2 float32",
             "ctranslate2_int8": "CTranslate2 int8"}
    notes = {names[name]: "BLEU n/a (random weights)" if row["bleu"] is None else f"BLEU {row['bleu']:.2f}" + (
        "" if name == "transformers_fp32" else f" ({row['bleu'] - base_bleu:+.2f})") for name, row in rows.items()}
    results["tables"] = [ratio_table(
        "Marian translation", "tokens/s", {names[name]: row["tokens_per_s"] for name, row in rows.items()},
        names["transformers_fp32"], names["ctranslate2_int8"],
        f"{results['settings']['model_used']}, {len(sources)} sentences, beams {args.beams}, batches of "
        f"{args.batch_size}, {torch.get_num_threads()} threads", notes=notes)]
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
