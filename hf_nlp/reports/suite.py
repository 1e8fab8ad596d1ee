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
from hf_nlp.evaluation.translation import paired_bootstrap, read_test_translations
from hf_nlp.manifest import read_json_file
from hf_nlp.model_card import model_family
from hf_nlp.reports.classification import REFERENCE_IMDB, VS_TFIDF, slug, vs_tfidf_cell
from hf_nlp.reports.translation import significance_lines
from hf_nlp.reports.writing import markdown_table

FAMILY_TITLES = {"lm": "Char-RNN language models", "classification": "Text classifiers",
                 "translation": "English→Spanish translators"}
# Géron's char-RNN (Keras, GRU 128 x 2, 10 epochs): validation loss in nats per character.
REFERENCE_LM_LOSS = 1.5477
# The validation loss every shipped char model reaches: the time to it compares RNNs and transformers.
LM_TIME_TO_LOSS = 1.7
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
    log = Path(run["path"]) / "metrics.jsonl"
    rows = [{"run": run["run"], "model": lm_model_name(model), "stateful": data.get("stateful", False),
             "data": f"{data['source']} ({metrics['split_chars']['train']:,} train chars)",
             "parameters": metrics.get("parameters"),
             "steps": metrics["train_steps"], "train min": metrics["train_minutes"],
             f"train min to val. loss {LM_TIME_TO_LOSS}": _minutes_to(log, LM_TIME_TO_LOSS, metrics),
             "validation loss": metrics["validation"]["loss"], "test loss": metrics["test"]["loss"],
             "bits/char (val.)": metrics["validation"]["bits_per_char"], "test accuracy": metrics["test"]["accuracy"],
             "reference (val. loss)": REFERENCE_LM_LOSS, **_environment(run)}]
    if "validation_stateless" in metrics:
        rows[0]["validation loss, independent windows"] = metrics["validation_stateless"]["loss"]
    rows[0]["first step below the reference"] = _first_step_below(log, REFERENCE_LM_LOSS)
    return rows


def lm_model_name(model: dict) -> str:
    """`GRU 128 x 1` or `GPT-2 128 x 4, 4 heads` (width x layers) from a char recipe's `model:` keys."""
    if model.get("architecture") == "gpt2":
        return f"GPT-2 {model['hidden_size']} x {model['num_layers']}, {model['num_heads']} heads"
    return f"{model.get('cell_type', 'gru').upper()} {model['hidden_size']} x {model['num_layers']}"


def _minutes_to(log: Path, loss: float, metrics: dict) -> float | None:
    """Training minutes until the first evaluation below `loss`, at the run's mean pace (the log keeps
    steps, not times, so that a resumed run writes it bit for bit as an uninterrupted one)."""
    step = _first_step_below(log, loss)
    if step is None or not metrics["train_steps"]:
        return None
    return metrics["train_minutes"] * step / metrics["train_steps"]


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


def suite_report(paths: list[Path], output_dir: Path, update: bool = False, baseline: str | None = None) -> Path:
    """Write `report.md`, `report.json` and the charts for the runs found under `paths` into `output_dir`.

    `update`: keep the runs and rows of the `report.json` already in `output_dir` that these runs do not
    replace (a run is named by its folder), so that one family can be rerun and its table regenerated
    without the runs behind every other table (`scripts/reproduce.py --family`).
    `baseline`: the translation run the others are tested against (default: the first that saved its
    test translations; see `translation_significance`)."""
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
        metrics = run["metrics"]
        run["wall_minutes"] = (metrics.get("wall_minutes") or metrics.get("run", {}).get("wall_minutes")
                               or metrics.get("train_minutes"))
    for rows in tables.values():  # baselines last, after every trained model
        rows.sort(key=lambda row: row.get("kind") == "tfidf")
    significance = translation_significance(runs, tables.get("translation", []), baseline)
    report = {"runs": [{k: run[k] for k in ("run", "path", "family", "architecture", "config", "environment",
                                             "figures", "wall_minutes")} for run in runs],
              "tables": tables, "skipped": skipped,
              "significance": {"translation": significance} if significance else {}}
    previous = output_dir / "report.json"
    if update and previous.is_file():
        report = merge_reports(read_json_file(previous, "delete it, or report every run without --update"), report)
    write_text_atomic(output_dir / "report.json", json.dumps(report, indent=2, default=str))
    path = output_dir / "report.md"
    write_text_atomic(path, render_report(report, output_dir))
    return path


def translation_significance(runs: list[dict], rows: list[dict], baseline: str | None,
                             resamples: int = 1000) -> dict | None:
    """sacrebleu's paired bootstrap of the beam-search test translations of every translation run that saved
    them (`test_translations.jsonl`), against `baseline`, when they translated the same test sentences; each
    run's row gains `BLEU ±` / `chrF ±` (the 95 % interval's half-width) and `p (BLEU / chrF)`. None when
    fewer than two runs can be compared."""
    outputs: dict[str, list[str]] = {}
    test: tuple[list[str], list[str]] | None = None
    for run in runs:
        saved = read_test_translations(Path(run["path"])) if run["family"] == "translation" else None
        if saved is None:
            continue
        if test is None:
            test = (saved["en"], saved["reference"])
        elif (saved["en"], saved["reference"]) != test:  # another test set: not comparable sentence by sentence
            continue
        outputs[run["run"]] = saved[next((k for k in saved if k.startswith("beam")), "greedy")]
    if baseline is not None and baseline not in outputs:
        raise UserError(f"`--baseline {baseline}` is not a translation run with saved test translations here; use "
                        f"one of: {', '.join(outputs) or 'none (rerun the translation runs to save them)'}.")
    if len(outputs) < 2 or test is None:
        return None
    baseline = baseline or next(iter(outputs))
    tested = paired_bootstrap(outputs, test[1], baseline, resamples)
    for row in rows:
        result = tested["systems"].get(row["run"])
        if result is not None:
            row["BLEU ±"], row["chrF ±"] = result["bleu"]["ci"], result["chrf"]["ci"]
            row["p (BLEU / chrF)"] = "baseline" if row["run"] == baseline else \
                f"{result['bleu']['p_value']:.4f} / {result['chrf']['p_value']:.4f}"
    return tested


def merge_reports(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """`old` with the runs of `new` in place: a replaced run's rows take its old rows' place in each
    table, a run `old` lacks is added after the trained models, and `old`'s other runs stay as they were."""
    replaced = {run["run"] for run in new["runs"]}
    runs = [run for run in old["runs"] if run["run"] not in replaced] + new["runs"]
    tables: dict[str, list[dict[str, Any]]] = {}
    for group in [*old["tables"], *(g for g in new["tables"] if g not in old["tables"])]:
        new_rows, rows = new["tables"].get(group, []), []
        for row in old["tables"].get(group, []):
            if row.get("kind") == "tfidf" and any(r.get("kind") == "tfidf" for r in new_rows):
                continue  # the baseline measured again on the same splits
            if row["run"] in replaced:
                rows += [r for r in new_rows if r["run"] == row["run"] and r not in rows]
            else:
                rows.append(row)
        rows += [r for r in new_rows if r not in rows]
        rows.sort(key=lambda row: row.get("kind") == "tfidf")
        tables[group] = rows
    skipped = [s for s in old.get("skipped", []) if not any(f"/{name}`" in s for name in replaced)]
    significance = {**old.get("significance", {}), **new.get("significance", {})}
    return {"runs": runs, "tables": tables, "skipped": skipped + new.get("skipped", []), "significance": significance}


def render_report(report: dict[str, Any], output_dir: Path) -> str:
    """report.md from report.json's content; draws each table's bar chart into `output_dir`."""
    runs, tables = report["runs"], report["tables"]
    parts = ["# hf-nlp evaluation report", "",
             f"{len(runs)} run(s). Figures from each run's `all_results.json` (test split unless stated); "
             "reference numbers are Géron's (Hands-On ML ch. 16, other corpora: context, not targets).", ""]
    for group, rows in tables.items():
        family = group.split(":")[0]
        title = FAMILY_TITLES[family] + (f" — `{group.split(':', 1)[1]}`" if ":" in group else "")
        metric, lower_is_better = BAR_METRIC[family]
        chart = _bar_chart(rows, metric, lower_is_better, output_dir / f"{slug(group)}.png", title)
        columns = list(dict.fromkeys(k for row in rows for k in row
                                     if k not in ("hardware", "versions", "kind", "confusion_png")))
        parts += [f"## {title}", "", render_table(rows, columns), "",
                  *significance_lines(report.get("significance", {}).get(group)), f"![{metric}]({chart.name})", ""]
    if report["skipped"]:
        parts += ["Skipped: " + "; ".join(report["skipped"]) + ".", ""]
    parts += ["## Runs", ""]
    for run in runs:
        env = _environment(run)
        wall = run.get("wall_minutes")
        parts += [f"### {run['run']} ({run['family']}, `{run['architecture']}`)", "",
                  f"`{run['path']}` · {env['hardware']} · {env['versions']}"
                  + (f" · wall time {wall:.1f} min" if wall is not None else ""), "",
                  " ".join(f"![{Path(f).stem}]({f})" for f in run["figures"]), ""]
    return "\n".join(parts)


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
