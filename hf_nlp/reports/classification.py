"""Reports for text classifiers: one run's report, and one comparison table across runs.

Every sentiment recipe describes each model it trained as a *variant* (`variant_result`) and
writes them with `write_classification_report`, so every run's `metrics.json` has the same shape:
`{"corpus", "classes", "split_sizes", "variants": [...], "tfidf_logreg": {...}}`. The suite report
(`hf-nlp report`, `hf_nlp.reports.suite`) reads them back and puts all variants of each
corpus in one table, beside the TF-IDF baseline measured in the same runs and the reference's IMDb
numbers.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hf_nlp.evaluation.significance import format_difference, paired_difference
from hf_nlp.reports.writing import markdown_table, plot_confusion_matrix, write_report

if TYPE_CHECKING:
    from hf_nlp.training.loop import TrainResult

# Géron, Hands-On ML ch. 16 (IMDb) and the published transformer figures the issue quotes; shown
# beside our rows as context: our default corpora are other, smaller ones.
REFERENCE_IMDB = {
    "rnn_no_mask": "≈ 50 % (GRU, no masking)",
    "rnn": "86.96 % (GRU + masking, valid.)",
    "sentence_encoder_head": "89.84 % (USE + head)",
    "sentence_encoder_two_stage": "89.84 % (USE + head)",
    "full_finetune": "92.8 % DistilBERT, 93.5 % BERT-base",
    "tfidf": "—",
}


def variant_result(name: str, kind: str, evaluations: dict[str, dict], model: Any, result: TrainResult,
                   trained_parameters: int | None = None) -> dict[str, Any]:
    """One trained model's entry: `kind` is a key of `REFERENCE_IMDB`; `evaluations` maps split ->
    `classification_summary`; `result` is what `Trainer.fit` returned for it. `trained_parameters` is
    how many weights the run trained when the saved model does not say (LoRA's merged model trains
    every weight it loads; the run trained the adapters); by default, the model's trainable ones."""
    return {
        "name": name,
        "kind": kind,
        **evaluations,
        "parameters": model.num_parameters(),
        "trainable_parameters": model.num_parameters(only_trainable=True) if trained_parameters is None
        else trained_parameters,
        "train_minutes": result.train_seconds / 60,
        "train_examples_per_s": result.examples_seen / max(result.train_seconds, 1e-9),
        "train_steps": result.global_step,
        "best_step": result.best_step,
    }


VS_TFIDF = "vs TF-IDF, 95 % CI"
"""Column of the accuracy difference to TF-IDF on the same test texts (paired bootstrap)."""


def vs_tfidf_cell(test: dict) -> str:
    """A variant's `VS_TFIDF` cell from its test scores; "—" for runs recorded without per-text verdicts."""
    return format_difference(test["vs_tfidf"]) if "vs_tfidf" in test else "—"


def results_table(variants: list[dict], baseline: dict | None) -> str:
    rows = [_row(v, baseline) for v in variants]
    if baseline is not None:
        rows.append({"model": "TF-IDF (1-2 grams) + logistic regression", "test accuracy": baseline["accuracy"],
                     "test macro-F1": baseline["f1_macro"], "valid. accuracy": baseline.get("validation_accuracy") or "—",
                     VS_TFIDF: "—", "parameters (trained)": "—",
                     "train min": baseline["train_seconds"] / 60, "train examples/s": "—",
                     "reference, IMDb": REFERENCE_IMDB["tfidf"]})
    return markdown_table(rows)


def _row(variant: dict, baseline: dict | None) -> dict[str, Any]:
    trained = variant["trainable_parameters"]
    parameters = f"{variant['parameters']:,}" + (f" ({trained:,})" if trained != variant["parameters"] else "")
    row = {"model": variant["name"], "test accuracy": variant["test"]["accuracy"],
           "test macro-F1": variant["test"]["f1_macro"], "valid. accuracy": variant["validation"]["accuracy"]}
    if baseline is not None:
        row[VS_TFIDF] = vs_tfidf_cell(variant["test"])
    return {**row, "parameters (trained)": parameters, "train min": variant["train_minutes"],
            "train examples/s": f"{variant['train_examples_per_s']:.0f}",
            "reference, IMDb": REFERENCE_IMDB.get(variant["kind"], "—")}


def write_classification_report(
    run_dir: Path,
    title: str,
    corpus: dict[str, Any],
    variants: list[dict],
    baseline: dict | None,
    sections: dict[str, str],
    config: dict[str, Any],
    environment: dict[str, Any],
    run: dict[str, Any] | None = None,
) -> Path:
    """`report.md` (results table first, a confusion-matrix PNG per variant), `metrics.json`.

    `corpus` holds `source`, `classes` and `split_sizes`; `sections` adds headed paragraphs; `run` (how the
    run read and trained, e.g. `encoder_run_notes`' input) is kept in `metrics.json` as `run`."""
    pictures = []
    for variant in variants:
        if baseline is not None and "correct" in baseline and "correct" in variant["test"]:
            variant["test"]["vs_tfidf"] = paired_difference(variant["test"]["correct"], baseline["correct"])
        png = f"confusion_{slug(variant['name'])}.png"
        plot_confusion_matrix(np.array(variant["test"]["confusion"]), corpus["classes"], run_dir / png)
        variant["confusion_png"] = png
        pictures.append(f"![{variant['name']}]({png})")
    fold = f" (cross-validation fold {corpus['cv_fold']})" if "cv_fold" in corpus else ""
    data = (f"`{corpus['source']}`{fold}: classes {', '.join(corpus['classes'])}; splits "
            + ", ".join(f"{k} {v:,}" for k, v in corpus["split_sizes"].items()) + ".")
    metrics = {**corpus, "variants": variants, "tfidf_logreg": baseline, **({"run": run} if run else {})}
    body = {"Results (test split)": results_table(variants, baseline) + "\n\n" + " ".join(pictures),
            "Data": data + (" " + sections.pop("Data") if "Data" in sections else ""), **sections}
    return write_report(run_dir, title, body, metrics, config, environment)


def rnn_run_notes(run: dict[str, Any], variant: dict[str, Any]) -> dict[str, str]:
    """The `Data` and `Training` paragraphs of a sentiment-RNN run's report, from the `run` entry of its
    `metrics.json` (vocabulary, length, processes, wall time) and its one variant."""
    return {"Data": f"Vocabulary {run['max_tokens']:,} tokens (TextVectorization); max length {run['max_length']}.",
            "Training": f"{variant['train_steps']} steps, best at {variant['best_step']}, {variant['train_minutes']:.2f} "
                        f"min on {run['processes']} process(es); whole run {run['wall_minutes']:.2f} min."
                        "\n\n![curve](loss_curve.png)"}


def encoder_run_notes(run: dict[str, Any]) -> dict[str, str]:
    """The `Data` and `Training` paragraphs of a pretrained-encoder run's report, from the structured `run`
    entry of its `metrics.json` (`finetune_encoder` recipe): subset, truncation, long-text reading,
    processes and precision, and the earlier run it continued."""
    reading, method = run["reading"], run["method"]
    data = f" Training on a seeded random subset of {run['max_train_examples']:,} examples." \
        if run.get("max_train_examples") else ""
    if run["encoder"] != "use":
        data += f" Texts cut to {reading['max_length']} tokens (truncation side: {reading['truncation_side']})."
    head_stage = method in ("head", "two_stage")
    if reading["long_texts"] != "truncate" and method != "head":
        pooled = reading["long_texts"] == "pooled_windows"
        data += (f" Fine-tuning reads every text as windows of {reading['max_length']} tokens overlapping by "
                 f"{reading['window_overlap']} and scores a text by its windows' "
                 + ("mean logits, in training too (the loss is on the text)" if pooled else "mean probability")
                 + (" (the frozen-head stage reads the first window only)." if head_stage else "."))
    if head_stage:
        data += " Frozen-encoder embeddings are computed once and cached."
    training = (f"Method `{method}` on {run['processes']} process(es), mixed precision `{run['mixed_precision']}`; "
                f"whole run {run['wall_minutes']:.2f} min.")
    earlier = run.get("continued_from")
    if earlier:
        began = f"Continued from `{earlier['model']}`" if earlier["same_corpus"] else (
            f"Started from `{earlier['model']}` (trained on `{earlier['source']}`, which shares no text with this "
            "run's validation and test splits)")
        training += (f" {began}, whose training minutes are unknown and not counted." if earlier["train_minutes"] is None
                     else f" {began}: its {earlier['train_minutes']:.1f} training minutes are counted in train min.")
    return {"Data": data.strip(), "Training": training}


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:60]
