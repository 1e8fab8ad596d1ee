"""`hf-nlp report`: one report across every finished run found, all three families.

Each run folder holds what the recipes write (`all_results.json`: metrics, resolved config,
environment; `best_model/`; PNGs). The report groups runs by family (char-RNN language models,
text classifiers per corpus, translators), puts one row per trained model with its data, config,
library versions, hardware and wall time, and the reference's numbers (Géron, Hands-On ML ch. 16)
beside ours. It writes `report.md` (tables + figures), `report.json` (every row, for tools such as
`scripts/readme_results.py`, which fills the README's results tables from it) and PNGs: one bar
chart per table, and each run's loss curve, confusion matrices and attention heatmaps copied
under `figures/`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from hf_nlp.atomic import write_text_atomic
from hf_nlp.errors import UserError
from hf_nlp.manifest import read_json_file
from hf_nlp.model_card import model_family
from hf_nlp.reports.classification import REFERENCE_IMDB, VS_TFIDF, slug, vs_tfidf_cell
from hf_nlp.reports.writing import markdown_table

FAMILY_TITLES = {"lm": "Char-RNN language models", "classification": "Text classifiers",
                 "translation": "English→Spanish translators"}
# Géron's char-RNN (Keras, GRU 128 x 2, 10 epochs): validation loss in nats per character.
REFERENCE_LM_LOSS = 1.5477
# Géron's validation token accuracies on Tatoeba/Anki spa-eng, per architecture.
REFERENCE_TRANSLATION = {"plain": 0.683, "bidirectional": 0.7025, "attention": 0.711, "transformer": 0.728}


def find_runs(paths: list[Path]) -> list[Path]:
    """Run folders (holding `all_results.json` and `best_model/`) at or anywhere under `paths`."""
    runs: list[Path] = []
    for path in paths:
        if not path.exists():
            raise UserError(f"`{path}` does not exist; pass run folders or folders that contain them.")
        found = [path] if (path / "all_results.json").is_file() else sorted(p.parent for p in path.rglob("all_results.json"))
        runs += [run for run in found if (run / "best_model" / "config.json").is_file() and run not in runs]
    if not runs:
        raise UserError(f"no finished runs under {', '.join(map(str, paths))}; a run folder has all_results.json "
                        "and best_model/.")
    return runs


def read_run(run_dir: Path) -> dict[str, Any]:
    results = read_json_file(run_dir / "all_results.json", "rerun the run's command to write it again")
    family, architecture = model_family(run_dir / "best_model")
    return {"run": run_dir.name, "path": str(run_dir), "family": family, "architecture": architecture, **results}


# --------------------------------------------------------------------------- rows per family


def _environment(run: dict) -> dict[str, Any]:
    env = run["environment"]
    libraries = env["libraries"]
    return {"hardware": f"{env['cpu']} ({env['cpu_cores']} cores), {env['accelerator']}, "
                        f"{env['num_processes']} process(es) x {env.get('torch_threads_per_process', '?')} threads",
            "versions": f"torch {libraries['torch']}, transformers {libraries['transformers']}"}


def lm_rows(run: dict) -> list[dict[str, Any]]:
    metrics, config = run["metrics"], run["config"]
    model, data = config["model"], config["data"]
    rows = [{"run": run["run"], "model": f"{model.get('cell_type', 'gru').upper()} {model['hidden_size']} x "
                                         f"{model['num_layers']}", "stateful": data.get("stateful", False),
             "data": f"{data['source']} ({metrics['split_chars']['train']:,} train chars)",
             "steps": metrics["train_steps"], "train min": metrics["train_minutes"],
             "validation loss": metrics["validation"]["loss"], "test loss": metrics["test"]["loss"],
             "bits/char (val.)": metrics["validation"]["bits_per_char"], "test accuracy": metrics["test"]["accuracy"],
             "reference (val. loss)": REFERENCE_LM_LOSS, **_environment(run)}]
    if "validation_stateless" in metrics:
        rows[0]["validation loss, independent windows"] = metrics["validation_stateless"]["loss"]
    rows[0]["first step below the reference"] = _first_step_below(Path(run["path"]) / "metrics.jsonl",
                                                                   REFERENCE_LM_LOSS)
    return rows


def _first_step_below(log: Path, loss: float) -> int | None:
    """The first evaluation step whose validation loss beat `loss`, from the run's metric log."""
    if not log.is_file():
        return None
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        if entry.get("eval_loss", float("inf")) < loss:
            return entry["step"]
    return None


def classification_rows(run: dict) -> list[dict[str, Any]]:
    metrics, config = run["metrics"], run["config"]
    data = config["data"]
    # Each cross-validation fold has its own splits (and TF-IDF baseline): its own table.
    corpus = metrics["source"] + (f" (cv fold {metrics['cv_fold']})" if "cv_fold" in metrics else "")
    rows = []
    for variant in metrics["variants"]:
        cut = _text_cut(data, config["model"], variant["kind"])
        trained = variant["trainable_parameters"]
        rows.append({
            "run": run["run"], "corpus": corpus, "model": variant["name"] + (f", {cut}" if cut else ""),
            "test accuracy": variant["test"]["accuracy"], "test macro-F1": variant["test"]["f1_macro"],
            "valid. accuracy": variant["validation"]["accuracy"],
            VS_TFIDF: vs_tfidf_cell(variant["test"]),
            "parameters (trained)": trained,
            "train min": variant["train_minutes"], "epochs": config["train"]["num_epochs"],
            "reference, IMDb": REFERENCE_IMDB.get(variant["kind"], "—"), "kind": variant["kind"],
            "confusion_png": variant.get("confusion_png"), **_environment(run)})
    baseline = metrics.get("tfidf_logreg")
    if baseline:
        rows.append({"run": "every run (same splits)", "corpus": corpus,
                     "model": "TF-IDF (1-2 grams) + logistic regression",
                     "test accuracy": baseline["accuracy"], "test macro-F1": baseline["f1_macro"],
                     "valid. accuracy": baseline.get("validation_accuracy"), VS_TFIDF: "—", "parameters (trained)": None,
                     "train min": baseline["train_seconds"] / 60, "epochs": None, "reference, IMDb": "—",
                     "kind": "tfidf", "confusion_png": None, **_environment(run)})
    return rows


def _text_cut(data: dict, model: dict, kind: str) -> str:
    """How a transformer encoder read long texts in this run ("" when it read them whole)."""
    if not data.get("max_length") or model.get("encoder") in (None, "use"):  # RNNs and USE read whole texts
        return ""
    first = f"{'last' if data.get('truncation_side') == 'left' else 'first'} {data['max_length']} tokens"
    if data.get("long_texts") in ("windows", "pooled_windows") and kind != "sentence_encoder_head":  # the frozen stage reads one window
        pooled = ", pooled in training" if data["long_texts"] == "pooled_windows" else ""
        return f"all {data['max_length']}-token windows{pooled}"
    return first


def translation_rows(run: dict) -> list[dict[str, Any]]:
    metrics, model = run["metrics"], run["config"]["model"]
    if model.get("architecture") == "marian":
        name, reference = (f"Marian transformer {model['transformer_layers']}+{model['transformer_layers']} layers, "
                           f"d_model {model['hidden_size']}"), REFERENCE_TRANSLATION["transformer"]
    else:
        name = f"LSTM({model['hidden_size']}) encoder–decoder"
        if model.get("bidirectional"):
            name += ", bidirectional encoder"
        if model.get("attention", "none") != "none":
            name += f", {model['attention'].capitalize()} attention"
        kind = "attention" if model.get("attention", "none") != "none" else \
            ("bidirectional" if model.get("bidirectional") else "plain")
        reference = REFERENCE_TRANSLATION[kind]
    beam_name = next((k for k in metrics["decoding"] if k.startswith("beam")), "greedy")
    beam, greedy = metrics["decoding"][beam_name], metrics["decoding"]["greedy"]
    return [{"run": run["run"], "system": name, "data": metrics["source"],
             "test token accuracy": metrics["test"]["token_accuracy"],
             "valid. token accuracy": metrics["validation"]["token_accuracy"],
             "BLEU greedy": greedy["bleu"], f"BLEU {beam_name}": beam["bleu"], f"chrF {beam_name}": beam["chrf"],
             "sentences/s (beam)": beam["sentences_per_s"], "train min": metrics["train_minutes"],
             "epochs": run["config"]["train"]["num_epochs"], "stop": metrics.get("stop_reason", ""),
             "reference (val. token acc.)": reference, **_environment(run)}]


ROWS = {"lm": lm_rows, "classification": classification_rows, "translation": translation_rows}
# The figure each family's bar chart shows, and whether lower is better.
BAR_METRIC = {"lm": ("validation loss", True), "classification": ("test accuracy", False),
              "translation": ("test token accuracy", False)}


# --------------------------------------------------------------------------- report


def suite_report(paths: list[Path], output_dir: Path) -> Path:
    runs, skipped = [], []
    for run_dir in find_runs(paths):
        run = read_run(run_dir)
        try:
            run["rows"] = ROWS[run["family"]](run)
        except KeyError as missing:  # a run written by an older version of its recipe
            skipped.append(f"`{run_dir}`: its metrics have no {missing} (written by an older recipe); rerun it")
            continue
        runs.append(run)
    if not runs:
        raise UserError(f"none of the runs found can be reported: {'; '.join(skipped)}.")
    output_dir.mkdir(parents=True, exist_ok=True)
    figures_dir = output_dir / "figures"
    figures_dir.mkdir(exist_ok=True)
    tables: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        for row in run["rows"]:
            group = run["family"] if run["family"] != "classification" else f"classification:{row['corpus']}"
            if row.get("kind") == "tfidf" and any(r.get("kind") == "tfidf" for r in tables.get(group, [])):
                continue  # same splits, same baseline: one row per corpus
            tables.setdefault(group, []).append(row)
        run["figures"] = _copy_figures(Path(run["path"]), figures_dir / slug(run["run"]))
    for rows in tables.values():  # baselines last, after every trained model
        rows.sort(key=lambda row: row.get("kind") == "tfidf")

    parts = ["# hf-nlp evaluation report", "",
             f"{len(runs)} run(s). Figures from each run's `all_results.json` (test split unless stated); "
             "reference numbers are Géron's (Hands-On ML ch. 16, other corpora: context, not targets).", ""]
    for group, rows in tables.items():
        family = group.split(":")[0]
        title = FAMILY_TITLES[family] + (f" — `{group.split(':', 1)[1]}`" if ":" in group else "")
        metric, lower_is_better = BAR_METRIC[family]
        chart = _bar_chart(rows, metric, lower_is_better, output_dir / f"{slug(group)}.png", title)
        columns = [k for k in rows[0] if k not in ("hardware", "versions", "kind", "confusion_png")]
        parts += [f"## {title}", "", render_table(rows, columns), "", f"![{metric}]({chart.name})", ""]
    if skipped:
        parts += ["Skipped: " + "; ".join(skipped) + ".", ""]
    parts += ["## Runs", ""]
    for run in runs:
        env = _environment(run)
        parts += [f"### {run['run']} ({run['family']}, `{run['architecture']}`)", "",
                  f"`{run['path']}` · {env['hardware']} · {env['versions']} · wall time "
                  f"{run['metrics'].get('wall_minutes', run['metrics'].get('train_minutes', 0)):.1f} min", "",
                  " ".join(f"![{Path(f).stem}]({f})" for f in run["figures"]), ""]
    report = {"runs": [{k: run[k] for k in ("run", "path", "family", "architecture", "config", "environment",
                                             "figures")} for run in runs], "tables": tables, "skipped": skipped}
    write_text_atomic(output_dir / "report.json", json.dumps(report, indent=2, default=str))
    path = output_dir / "report.md"
    write_text_atomic(path, "\n".join(parts))
    return path


def render_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A Markdown table of `columns` of `rows`, each number formatted for its kind of column (also
    used by `scripts/readme_results.py`, so the README shows exactly the report's figures)."""
    return markdown_table(rows, columns, format_value)


def format_value(column: str, value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if not isinstance(value, float):
        return str(value)
    if "BLEU" in column or "min" in column.split() or column.startswith("sentences/s"):
        return f"{value:,.1f}"
    if "loss" in column:
        return f"{value:.4f}"
    return f"{value:.3f}"


def _copy_figures(run_dir: Path, target: Path) -> list[str]:
    """Loss curves, confusion matrices and attention heatmaps of a run, copied beside the report."""
    pngs = sorted(run_dir.glob("*.png")) + sorted((run_dir / "best_model" / "eval").glob("*.png"))
    if not pngs:
        return []
    target.mkdir(parents=True, exist_ok=True)
    for png in pngs:
        shutil.copyfile(png, target / png.name)
    return [f"figures/{target.name}/{png.name}" for png in pngs]


def _bar_chart(rows: list[dict], metric: str, lower_is_better: bool, path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [_shorten(f"{row['run']}: {row.get('model') or row.get('system')}", 60) for row in rows]
    values = [row[metric] for row in rows]
    fig, ax = plt.subplots(figsize=(11, 0.45 * len(rows) + 1.2))
    ax.barh(range(len(rows)), values, color="tab:blue")
    ax.set_yticks(range(len(rows)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(metric + (" (lower is better)" if lower_is_better else ""))
    ax.set_title(title, fontsize=9)
    for i, value in enumerate(values):
        ax.text(value, i, f" {value:.3f}", va="center", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
