"""Compare our translation models with production MT on the same test set, in one report.

    python recipes/compare_mt.py --config recipes/configs/compare_mt.yaml

Rows: every finished `translate_seq2seq` run named in `runs` (our LSTM variants and the Marian
transformer trained here), greedy and beam search; Opus-MT (`Helsinki-NLP/opus-mt-en-es`, by Hub id
or a local folder) measured when its weights load, else its published Tatoeba figures marked
"published"; Apertium eng-spa (rule-based) when installed. Marian models (ours and Opus-MT) are
measured on two backends: transformers `generate()` in float32, and CTranslate2 (float32 and
int8 conversions, `hf-nlp translate --backend ctranslate2`). Each: BLEU and chrF (sacrebleu, same
standardisation for every system), the reference's token accuracy where the model reports it,
sentences/s and target tokens/s on this machine, training time and parameters; and sacrebleu's paired
bootstrap of every measured system against a baseline (`--baseline`, default the first measured): the
95 % interval of its BLEU and chrF and the p-value of its difference, with sacrebleu's signatures.
Writes `comparison.md` / `.json` and example translations side by side.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from hf_nlp.config import check_at_least, parse_config, to_dict
from hf_nlp.data.spa_eng import SpaEngDataConfig, load_spa_eng
from hf_nlp.errors import UserError, exit_on_user_error
from hf_nlp.evaluation.apertium import APERTIUM_INSTALL, apertium_available, apertium_translate
from hf_nlp.evaluation.translation import paired_bootstrap, translation_scores
from hf_nlp.generation.ctranslate2_backend import (
    CT2_INSTALL,
    ctranslate2_available,
    load_translator,
    translate_texts_ctranslate2,
)
from hf_nlp.generation.translate import Translations, translate_texts
from hf_nlp.hub import load_model_and_tokenizer
from hf_nlp.manifest import read_json_file
from hf_nlp.reports.translation import side_by_side, write_mt_comparison
from hf_nlp.reports.writing import environment_info, markdown_table
from hf_nlp.training.cpu_threads import use_cpu_threads

# Published: Tatoeba test set (OPUS-MT model card); not our test set.
OPUS_MT_PUBLISHED = {"bleu": 54.9, "chrf": 0.721, "test set": "Tatoeba (published)"}
TRANSFORMERS = "transformers fp32"
EXAMPLES = ["I like soccer", "I like soccer and also going to the beach", "I love cats and dogs"]


@dataclass
class CompareConfig:
    data: SpaEngDataConfig = field(default_factory=SpaEngDataConfig)
    """The corpus and split settings the runs were trained with (the test split is shared)."""
    runs: list[str] = field(default_factory=lambda: [
        "runs/seq2seq", "runs/seq2seq_bidirectional", "runs/seq2seq_bahdanau", "runs/seq2seq_luong",
        "runs/seq2seq_marian"])
    """Finished translate_seq2seq run folders; missing ones are listed in the report, not fatal."""
    opus_mt: str = "Helsinki-NLP/opus-mt-en-es"
    """Hub id or local folder of Opus-MT (any Marian en→es); empty skips it."""
    apertium: bool = True
    ctranslate2: list[str] = field(default_factory=lambda: ["float32", "int8"])
    """CTranslate2 conversions to measure Marian models with, besides transformers; [] skips them."""
    num_beams: int = 3
    max_new_tokens: int = 128
    batch_size: int = 32
    max_test_sentences: int | None = None
    """Score only the first N test pairs; null = all."""
    examples: list[str] = field(default_factory=lambda: list(EXAMPLES))
    baseline: str | None = None
    """The system every other is tested against, by its label in the example translations (e.g.
    `LSTM(512) encoder–decoder, greedy`); null: the first measured."""
    bootstrap_resamples: int = 1000
    """Resampled test sets of the paired bootstrap (sacrebleu's default)."""
    output_dir: str = "reports/translation"
    cpu_threads: int | None = None

    def __post_init__(self) -> None:
        check_at_least("", self, 1, "num_beams", "max_new_tokens", "batch_size", "max_test_sentences", "cpu_threads",
                       "bootstrap_resamples")


def main(argv: list[str] | None = None) -> dict:
    started = time.monotonic()
    cfg = parse_config(CompareConfig, sys.argv[1:] if argv is None else argv)
    threads = use_cpu_threads(cfg.cpu_threads)
    test = load_spa_eng(cfg.data)["test"]
    count = len(test) if cfg.max_test_sentences is None else min(cfg.max_test_sentences, len(test))
    sources, references = list(test["en"][:count]), list(test["es"][:count])
    sentences = sources + cfg.examples  # examples ride along in the same calls, scored on `sources` only

    rows: list[dict] = []
    outputs: dict[str, list[str]] = {}  # label -> translations of `sentences`
    row_labels: list[str | None] = []  # per row: its label in `outputs` (None: published figures)
    notes: list[str] = []
    if cfg.ctranslate2 and not ctranslate2_available():
        notes.append(f"CTranslate2 is not installed (`{CT2_INSTALL}`); no ctranslate2 rows.")
        cfg.ctranslate2 = []

    def measure(system: str, kind: str, label: str, model_id: str, model, tokenizer, extra: dict) -> None:
        """Rows (and example outputs) for every backend x decoding of one model."""
        for backend, translate in _backends(model_id, model, tokenizer, cfg, threads):
            for decoding, beams in _decodings(cfg):
                translations = translate(sentences, beams)
                rows.append(_row(system, kind, decoding, backend, translations, references, extra))
                row_labels.append(f"{label}, {decoding}" + ("" if backend == TRANSFORMERS else f", {backend}"))
                outputs[row_labels[-1]] = translations.texts

    for run in cfg.runs:
        run_dir = Path(run)
        if not (run_dir / "metrics.json").is_file():
            notes.append(f"`{run}`: no finished run (no metrics.json); train it with recipes/translate_seq2seq.py.")
            continue
        trained = read_json_file(run_dir / "metrics.json", "rerun the run's command to write it again")
        model, tokenizer = load_model_and_tokenizer(str(run_dir), "AutoModelForSeq2SeqLM")
        name = _run_name(run_dir)
        extra = {"token accuracy": trained["test"]["token_accuracy"], "training min": trained["train_minutes"],
                 "parameters": trained["parameters"]}
        measure(name, "trained here", name, str(run_dir), model, tokenizer, extra)

    if cfg.opus_mt:
        try:
            model, tokenizer = load_model_and_tokenizer(cfg.opus_mt, "AutoModelForSeq2SeqLM")
        except UserError as error:
            notes.append(f"Opus-MT `{cfg.opus_mt}` not measured here: {error} Its row shows published figures.")
            rows.append({"system": "Opus-MT (Marian, 6+6 layers)", "kind": "production", "decoding": "beam 4",
                         "backend": "", "BLEU": OPUS_MT_PUBLISHED["bleu"], "chrF": OPUS_MT_PUBLISHED["chrf"],
                         "token accuracy": "", "sentences/s": "", "tokens/s": "", "training min": "", "parameters": "",
                         "test set": OPUS_MT_PUBLISHED["test set"]})
            row_labels.append(None)
        else:
            parameters = sum(p.numel() for p in model.parameters())
            measure(f"Opus-MT `{cfg.opus_mt}`", "production", "Opus-MT", cfg.opus_mt, model, tokenizer,
                    {"parameters": parameters})

    if cfg.apertium:
        if apertium_available():
            translations = apertium_translate(sentences)
            rows.append(_row("Apertium eng-spa", "rule-based", "rules", "apertium", translations, references, {}))
            row_labels.append("Apertium")
            outputs["Apertium"] = translations.texts
        else:
            notes.append(f"Apertium is not installed (`{APERTIUM_INSTALL}`); no row.")
    if not rows:
        raise UserError("nothing to compare: no finished run, no Opus-MT and no Apertium; train a model with "
                        "recipes/translate_seq2seq.py first.")

    significance = _significance(outputs, references, rows, row_labels, cfg)
    report = {"test_sentences": count, "rows": rows, "notes": notes, "significance": significance,
              "examples": side_by_side(sentences, references + [""] * len(cfg.examples), outputs,
                                        list(range(min(6, count))) + list(range(count, len(sentences)))),
              "config": to_dict(cfg), "environment": environment_info(), "wall_minutes": (time.monotonic() - started) / 60}
    path = write_mt_comparison(Path(cfg.output_dir), report)
    print(markdown_table(rows))
    print(f"report: {path}")
    return report


def _significance(outputs: dict[str, list[str]], references: list[str], rows: list[dict],
                  row_labels: list[str | None], cfg: CompareConfig) -> dict | None:
    """The paired bootstrap of every measured system against the baseline, added to its row as the 95 %
    interval's half-width and the p-value (None with fewer than two measured systems)."""
    if cfg.baseline is not None and cfg.baseline not in outputs:
        raise UserError(f"`--baseline {cfg.baseline}` is not a measured system; use one of: "
                        + "; ".join(f"`{label}`" for label in outputs) + ".")
    if len(outputs) < 2:
        return None
    baseline = cfg.baseline or next(iter(outputs))
    scored = {label: texts[: len(references)] for label, texts in outputs.items()}  # not the examples
    tested = paired_bootstrap(scored, references, baseline, cfg.bootstrap_resamples)
    for row, label in zip(rows, row_labels, strict=True):
        result = tested["systems"].get(label, {})
        row["BLEU ±"] = result["bleu"]["ci"] if result else ""
        row["chrF ±"] = result["chrf"]["ci"] if result else ""
        row["p (BLEU / chrF)"] = "" if not result else "baseline" if label == baseline else \
            f"{result['bleu']['p_value']:.4f} / {result['chrf']['p_value']:.4f}"
    return tested


def _run_name(run_dir: Path) -> str:
    title = (run_dir / "report.md").read_text(encoding="utf-8").splitlines()[0] if (run_dir / "report.md").is_file() else ""
    return title.removeprefix("# English→Spanish: ") or run_dir.name


def _decodings(cfg: CompareConfig) -> list[tuple[str, int]]:
    return [("greedy", 1), (f"beam {cfg.num_beams}", cfg.num_beams)]


def _backends(model_id: str, model, tokenizer, cfg: CompareConfig, threads: int):
    """(backend name, translate(sentences, beams)) for transformers, then each CTranslate2 conversion
    when the model is a Marian transformer."""
    def with_transformers(sentences: list[str], beams: int) -> Translations:
        return translate_texts(model, tokenizer, sentences, batch_size=cfg.batch_size, num_beams=beams,
                               max_new_tokens=cfg.max_new_tokens)

    yield TRANSFORMERS, with_transformers
    if model.config.model_type != "marian":
        return
    for quantization in cfg.ctranslate2:
        translator, ct2_tokenizer = load_translator(model_id, quantization, threads)

        def with_ctranslate2(sentences: list[str], beams: int, translator=translator, ct2_tokenizer=ct2_tokenizer):
            return translate_texts_ctranslate2(translator, ct2_tokenizer, sentences, batch_size=cfg.batch_size,
                                               num_beams=beams, max_new_tokens=cfg.max_new_tokens)

        yield f"ctranslate2 {quantization}", with_ctranslate2


def _row(system: str, kind: str, decoding: str, backend: str, translations: Translations, references: list[str],
         extra: dict) -> dict:
    scored = translations.texts[: len(references)]
    scores = translation_scores(scored, references)
    return {"system": system, "kind": kind, "decoding": decoding, "backend": backend, "BLEU": scores["bleu"],
            "chrF": scores["chrf"], "token accuracy": extra.get("token accuracy", ""),
            "sentences/s": translations.sentences_per_second,
            "tokens/s": translations.tokens_per_second if translations.tokens else "",
            "training min": extra.get("training min", ""), "parameters": extra.get("parameters", ""),
            "test set": f"ours ({len(references):,})"}


if __name__ == "__main__":
    exit_on_user_error(main)()
