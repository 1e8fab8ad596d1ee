"""The categorical-embeddings run's report: regression errors, and each category's learned effect
against the true one the synthetic data was made with."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hf_nlp.reports.writing import environment_info, markdown_table, write_report


def plot_embeddings(embeddings: np.ndarray, vocabulary: list[str], path: Path) -> None:
    """The 2-D category embeddings `(V, 2)` as labelled points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(embeddings[:, 0], embeddings[:, 1])
    for point, name in zip(embeddings, vocabulary, strict=True):
        ax.annotate(name, point, textcoords="offset points", xytext=(4, 4))
    ax.set_title("learned 2-D category embeddings")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_categorical_report(run_dir: Path, metrics: dict, true_effects: dict[str, float], base: str, config: dict,
                             num_processes: int) -> None:
    """`report.md` and `metrics.json` from the run's structured `metrics` (errors per split, the mean
    predictor's MSE, `embeddings` and `learned_effects` per category); effects are compared as
    differences to `base`, since they are identifiable only up to a constant (the bias)."""
    rows = [{"split": s, "MSE": metrics[s]["mse"], "MAE": metrics[s]["mae"], "examples": int(metrics[s]["count"])}
            for s in ("validation", "test")]
    body = (markdown_table(rows) + f"\n\nPredicting the mean gives a test MSE of "
            f"{metrics['test_mse_predicting_the_mean']:.4f}. {metrics['train_steps']} SGD steps.")
    learned = metrics["learned_effects"]
    effects = markdown_table([
        {"category": k, f"true effect vs {base}": v - true_effects[base],
         f"learned effect vs {base}": learned[k] - learned[base],
         "embedding": str([round(x, 3) for x in metrics["embeddings"][k]])}
        for k, v in true_effects.items()])
    write_report(run_dir, "Categorical embeddings: mixed-input regressor",
                 {"Results": body, "Category embeddings": effects + "\n\n![embeddings](category_embeddings.png)"},
                 metrics, config, environment_info(num_processes))


__all__ = ["plot_embeddings", "write_categorical_report"]
