"""Run reports: `report.md` for people, `metrics.json` / `all_results.json` for tools, a loss-curve PNG.

Every report states the data, the resolved config, library versions, hardware and wall time.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from hf_nlp.atomic import write_text_atomic

LIBRARIES = ("hf-nlp", "torch", "transformers", "datasets", "tokenizers", "accelerate")


def environment_info(num_processes: int = 1) -> dict[str, Any]:
    import torch

    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU only"
    return {
        "python": platform.python_version(),
        "libraries": versions,
        "cpu": _cpu_model(),
        "cpu_cores": os.cpu_count(),
        "accelerator": device,
        "num_processes": num_processes,
        "torch_threads_per_process": torch.get_num_threads(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def plot_loss_curve(history: list[dict[str, Any]], path: Path, metric: str = "loss") -> Path:
    """Training loss and validation `metric` against optimizer steps."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers
    import matplotlib.pyplot as plt

    train = [(h["step"], h["train_loss"]) for h in history if "train_loss" in h]
    evals = [(h["step"], h[f"eval_{metric}"]) for h in history if f"eval_{metric}" in h]
    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        ax.plot(*zip(*train, strict=True), label="train loss", alpha=0.7)
    if evals:
        ax.plot(*zip(*evals, strict=True), marker="o", label=f"validation {metric}")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("nats per token" if metric == "loss" else metric)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_eval_metric(history: list[dict[str, Any]], metric: str, path: Path, label: str) -> Path:
    """Validation `metric` (logged as `eval_<metric>`) against optimizer steps, alone on its own scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [(h["step"], h[f"eval_{metric}"]) for h in history if f"eval_{metric}" in h]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    if points:
        ax.plot(*zip(*points, strict=True), marker="o")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_confusion_matrix(confusion, class_names: list[str], path: Path) -> Path:
    """Counts per (true, predicted) class, annotated."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.2 * len(class_names) + 2.5, 1.2 * len(class_names) + 2))
    ax.imshow(confusion, cmap="Blues")
    ax.set_xticks(range(len(class_names)), class_names, rotation=30, ha="right")
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for (row, col), value in np.ndenumerate(confusion):
        ax.text(col, row, str(value), ha="center", va="center",
                color="white" if value > confusion.max() / 2 else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def markdown_table(rows: list[dict[str, Any]], columns: list[str] | None = None,
                   format_cell: Callable[[str, Any], str] | None = None) -> str:
    """`columns` of `rows` (default: the first row's keys; a row lacking one shows `format_cell`'s
    answer for None), each cell written by `format_cell(column, value)` (default: floats to 4 places)."""
    if not rows:
        return ""
    headers = columns or list(rows[0])
    cell = format_cell or (lambda column, value: _fmt(value))
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        lines.append("| " + " | ".join(cell(h, row.get(h)) for h in headers) + " |")
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def write_report(
    run_dir: Path,
    title: str,
    sections: dict[str, str],
    metrics: dict[str, Any],
    config: dict[str, Any],
    environment: dict[str, Any],
) -> Path:
    """Write `report.md`, `metrics.json` and `all_results.json` into `run_dir`."""
    run_dir.mkdir(parents=True, exist_ok=True)
    results = {"metrics": metrics, "config": config, "environment": environment}
    # The experiment trackers' runs of this run (folder, project, run id), as the training loop recorded
    # them (`hf_nlp.training.tracking.TRACKERS_FILE`; this layer does not import the loop).
    trackers = run_dir / "trackers.json"
    if trackers.is_file():
        results["trackers"] = json.loads(trackers.read_text(encoding="utf-8"))
    # Whole or absent: other runs and tools (`hf-nlp report`, cross-validation) read these back.
    write_text_atomic(run_dir / "metrics.json", json.dumps(metrics, indent=2))
    write_text_atomic(run_dir / "all_results.json", json.dumps(results, indent=2))
    parts = [f"# {title}", ""]
    for heading, body in sections.items():
        parts += [f"## {heading}", "", body.rstrip(), ""]
    parts += ["## Config", "", "```yaml", yaml.safe_dump(config, sort_keys=False).rstrip(), "```", ""]
    env_rows = [{"what": k, "value": v} for k, v in environment.items() if k != "libraries"]
    env_rows += [{"what": k, "value": v} for k, v in environment["libraries"].items()]
    parts += ["## Environment", "", markdown_table(env_rows), ""]
    path = run_dir / "report.md"
    write_text_atomic(path, "\n".join(parts))
    return path
