"""Cross-validation summaries: per-fold sentiment runs folded into one comparison with TF-IDF.

Each fold run (`--data.cv_folds K --data.cv_fold i`, see `hf_nlp.data.sentiment`) writes its
`metrics.json` with every trained variant and the TF-IDF + logistic-regression baseline fitted on
the same fold. `summarize` turns the K of them into, per model: test accuracy and macro-F1 per
fold, mean and standard deviation over folds, the pooled accuracy over every test text (each
tested once), and the paired difference to TF-IDF: per fold, and over every text with a bootstrap
confidence interval (`hf_nlp.evaluation.significance`) when the runs recorded each text's verdict.
`scripts/cross_validate.py` runs the folds; `scripts/readme_results.py` renders the summary in the
README with `summary_rows`.
"""

from __future__ import annotations

import statistics

from hf_nlp.evaluation.significance import format_difference, paired_difference
from hf_nlp.reports.writing import markdown_table

TFIDF = "TF-IDF (1-2 grams) + logistic regression"


def summarize(fold_metrics: list[dict]) -> dict:
    """Per model (each variant of the runs, then TF-IDF): accuracy and macro-F1 per fold, their mean
    and standard deviation, the pooled accuracy over every test text, and the paired difference
    to TF-IDF, and training minutes per fold; plus the corpus and each fold's split sizes."""
    sizes = [m["split_sizes"]["test"] for m in fold_metrics]
    models: dict[str, dict] = {}
    verdicts: dict[str, list[int] | None] = {}  # per model, 1/0 per test text over every fold (None: a fold lacks it)
    for metrics in fold_metrics:
        scores = [(v["name"], v["test"], v["train_minutes"]) for v in metrics["variants"]]
        baseline = metrics["tfidf_logreg"]
        scores.append((TFIDF, baseline, baseline["train_seconds"] / 60))
        for name, test, minutes in scores:
            entry = models.setdefault(name, {"accuracy": [], "f1_macro": [], "train_minutes": []})
            entry["accuracy"].append(test["accuracy"])
            entry["f1_macro"].append(test["f1_macro"])
            entry["train_minutes"].append(minutes)
            texts = verdicts.setdefault(name, [])
            verdicts[name] = texts + test["correct"] if texts is not None and "correct" in test else None
    tfidf = models[TFIDF]["accuracy"]
    for name, entry in models.items():
        accuracy = entry["accuracy"]
        entry["mean_accuracy"] = statistics.fmean(accuracy)
        entry["std_accuracy"] = statistics.stdev(accuracy) if len(accuracy) > 1 else 0.0
        entry["mean_f1_macro"] = statistics.fmean(entry["f1_macro"])
        correct = sum(round(a * n) for a, n in zip(accuracy, sizes, strict=True))  # accuracies are counts over n texts
        entry["pooled_accuracy"] = correct / sum(sizes)
        differences = [a - b for a, b in zip(accuracy, tfidf, strict=True)]
        entry["vs_tfidf"] = {"per_fold": differences, "mean": statistics.fmean(differences),
                             "min": min(differences)}
        if name != TFIDF and verdicts[name] is not None and verdicts[TFIDF] is not None:
            # Every text of the corpus, each tested once, paired with TF-IDF's verdict on it.
            entry["vs_tfidf"]["pooled"] = paired_difference(verdicts[name], verdicts[TFIDF])
    first = fold_metrics[0]
    return {"source": first["source"], "folds": len(fold_metrics), "classes": first["classes"],
            "split_sizes": [m["split_sizes"] for m in fold_metrics], "test_texts": sum(sizes), "models": models}


def summary_rows(summary: dict) -> list[dict]:
    """One row per model: each fold's test accuracy, then mean ± std, pooled, and the gap to TF-IDF."""
    with_interval = any("pooled" in entry["vs_tfidf"] for entry in summary["models"].values())
    rows = []
    for name, entry in summary["models"].items():
        row = {"model": name}
        row.update({f"fold {i}": f"{a:.3f}" for i, a in enumerate(entry["accuracy"], 1)})
        row["mean ± std"] = f"{entry['mean_accuracy']:.3f} ± {entry['std_accuracy']:.3f}"
        row[f"pooled ({summary['test_texts']:,} texts)"] = f"{entry['pooled_accuracy']:.3f}"
        row["macro-F1 (mean)"] = f"{entry['mean_f1_macro']:.3f}"
        gap = entry["vs_tfidf"]
        row["vs TF-IDF (mean, worst fold)"] = "—" if name == TFIDF else \
            f"{100 * gap['mean']:+.1f} / {100 * gap['min']:+.1f} pts"
        if with_interval:
            row["vs TF-IDF, 95 % CI (pooled)"] = format_difference(gap["pooled"]) if "pooled" in gap else "—"
        row["train min (per fold)"] = f"{statistics.fmean(entry['train_minutes']):.1f}"
        rows.append(row)
    return rows


def summary_markdown(summary: dict, command: str) -> str:
    rows = summary_rows(summary)
    sizes = " / ".join(f"{split} {_size_range([fold[split] for fold in summary['split_sizes']])}"
                       for split in ("train", "validation", "test"))
    return "\n".join([
        f"# Cross-validation on `{summary['source']}`: {summary['folds']} folds", "",
        f"Each fold: {sizes} (stratified; every one of the {summary['test_texts']:,} texts is tested once). "
        "Test accuracy per fold; TF-IDF is fitted on each fold's own splits.", "",
        markdown_table(rows, list(rows[0])), "", f"Command: `{command}`", ""])


def _size_range(sizes: list[int]) -> str:
    """"500", or "499–500" when the corpus does not divide evenly into the folds."""
    low, high = min(sizes), max(sizes)
    return f"{low:,}" if low == high else f"{low:,}–{high:,}"
