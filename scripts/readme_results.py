"""Fill the results tables of the docs (and README.md) from the evaluation report: no hand-typed figures.

Each table sits between `<!-- results:KEY -->` and `<!-- /results:KEY -->` in a Markdown page
(README.md and every page under docs/ are searched; today docs/results.md and docs/performance.md
hold them); KEY is a
table of `reports/report.json` (written by `hf-nlp report`): `lm`, `classification:<corpus>`,
`translation`. The translation table adds the production systems (Apertium, Opus-MT) from
`reports/translation/comparison.json` (written by `recipes/compare_mt.py`), and the LM table
the reference's figure. KEY `performance` is the benchmark summary, from `reports/bench/bench.json`
(written by `python scripts/bench.py --out reports/bench/bench.json`); KEY `scale` the corpus-size
benchmark, `reports/bench/scale.json` (`python scripts/bench.py scale --out ...`); KEY `fused_rnn` the fused
GRU/LSTM benchmark and its step profile, `reports/bench/fused_rnn.json` (`python scripts/bench.py peak fused --out
...`). KEY `crossval:<name>` is a
cross-validation summary, `reports/crossval/<name>.json` (written by `scripts/cross_validate.py
... --summary reports/crossval/<name>.json`).

    hf-nlp report runs/... --output reports          # 1. the report
    python scripts/readme_results.py                 # 2. the pages' tables from it
    python scripts/readme_results.py --check         # exit 1 if a page is out of date (tested)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from hf_nlp.evaluation.cross_validation import summary_rows
from hf_nlp.reports.suite import REFERENCE_LM_LOSS, render_table
from hf_nlp.reports.writing import markdown_table

REPO_ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- results:(?P<key>[\w:.-]+) -->\n)(?P<body>.*?)(<!-- /results:(?P=key) -->)", re.DOTALL)

COLUMNS = {
    "lm": ["run", "model", "stateful", "parameters", "steps", "train min", "validation loss", "test loss",
           "bits/char (val.)", "validation loss, independent windows", "first step below the reference",
           "train min to val. loss 1.7"],
    "classification": ["model", "run", "test accuracy", "test macro-F1", "valid. accuracy", "train min",
                       "reference, IMDb"],
    "translation": ["system", "run", "test token accuracy", "BLEU greedy", "BLEU beam 3", "BLEU ±", "chrF beam 3",
                    "p (BLEU / chrF)", "sentences/s (beam)", "train min", "stop", "reference (val. token acc.)"],
}


def performance_table(bench: dict) -> str:
    """Hardware, then one row per benchmark table (our row against its baseline), then every row."""
    if bench.get("quick"):
        raise SystemExit("the bench JSON comes from a `--quick` run, whose figures are not for quoting; run "
                         "`python scripts/bench.py --out reports/bench/bench.json` in full.")
    env = bench["environment"]
    libraries = env["libraries"]
    keras = (f"{bench['keras']} for the Keras rows" if bench.get("keras", "").startswith("TensorFlow ")
             else "Keras rows skipped (TensorFlow not installed)")
    tables = [t for section in bench["sections"].values() for t in section.get("tables", [])]
    header = (f"Hardware: {env['cpu']}, {env['cpu_cores']} cores, {env['accelerator']}; torch "
              f"{libraries.get('torch', '?')}, {env['torch_threads_per_process']} threads; {keras}.")
    summary = []
    for t in tables:
        rows = {row["name"]: row for row in t["rows"]}
        ours, base = rows[t["ours"]], rows[t["baseline"]]
        share = ("" if ours["share_of_peak"] is None else
                 f"{100 * ours['share_of_peak']:.1f} % / {100 * base['share_of_peak']:.1f} %")
        summary.append({"workload": t["title"], "ours": f"{t['ours']}: {_rate(ours['rate'])} {t['unit']}",
                        "baseline": f"{t['baseline']}: {_rate(base['rate'])} {t['unit']}",
                        "ratio": f"×{ours['ratio'] / base['ratio']:.2f}", "share of peak (ours / baseline)": share})
    every = [{"workload": t["title"], "setting": row["name"], "rate": f"{_rate(row['rate'])} {t['unit']}",
              "vs baseline": "baseline" if row["name"] == t["baseline"] else f"×{row['ratio']:.2f}",
              "share of peak": "" if row["share_of_peak"] is None else f"{100 * row['share_of_peak']:.1f} %",
              "note": row["note"]} for t in tables for row in t["rows"]]
    details = "\n".join(f"- {t['title']}: {t['detail']}" for t in tables if t["detail"])
    return "\n\n".join([header, render_table(summary, list(summary[0])), "All rows:",
                         render_table(every, list(every[0])), "Settings:\n\n" + details])


def fused_rnn_table(path: Path) -> str:
    """The fused-layer benchmark as the performance tables, then where a char-RNN step's time goes."""
    if not path.is_file():
        raise SystemExit(f"A page asks for the fused RNN table but there is no {path}; run "
                         f"`python scripts/bench.py peak fused --out {path}`.")
    bench = json.loads(path.read_text())
    profile = bench["sections"]["fused"].get("profile", {})
    rows = [{"layer": name, "ms per step": f"{p['step_ms']:.1f}", "op calls per step": f"{p['calls']:,}",
             "largest self times": "; ".join(f"{key} {100 * share:.0f} %" for key, share in p["top"][:5])}
            for name, p in profile.items()]
    parts = [performance_table(bench)]
    if rows:
        parts += ["Where one training step's time goes (char-RNN, batch 32, float32; `torch.profiler`, 5 steps):",
                  render_table(rows, list(rows[0]))]
    return "\n\n".join(parts)


def _rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def crossval_table(name: str, crossval_dir: Path) -> str:
    path = crossval_dir / f"{name}.json"
    if not path.is_file():
        raise SystemExit(f"A page asks for cross-validation table `{name}` but there is no {path}; run "
                         f"`scripts/cross_validate.py ... --summary {path}`.")
    rows = summary_rows(json.loads(path.read_text()))
    return markdown_table(rows, list(rows[0]))


def scale_table(path: Path) -> str:
    """One row per family and corpus size of `scripts/bench.py scale --out PATH`, then each family's growth
    from 10× to 100×."""
    if not path.is_file():
        raise SystemExit(f"A page asks for the scale table but there is no {path}; run "
                         f"`python scripts/bench.py scale --out {path}`.")
    bench = json.loads(path.read_text())
    if bench.get("quick"):
        raise SystemExit(f"{path} comes from a `--quick` run, whose figures are not for quoting; rerun it in full.")
    scale, env = bench["sections"]["scale"], bench["environment"]
    rows, growth = [], []
    for family, result in scale["families"].items():
        for name, run in result["runs"].items():
            if "train_chars" in run:
                size = f"{run['train_chars']:,} training chars"
            elif "rows" in run:
                size = f"{run['rows']:,} reviews, " + (f"{run['train_examples']:,} training" if run["train_examples"]
                                                       else "training streamed")
            else:
                size = f"{run['lines']:,} lines, {run['train_pairs']:,} training pairs"
            rows.append({"family": family, "corpus": name, "size": f"{run['corpus_mb']:,.1f} MB", "kept": size,
                         "preparation": f"{run['data_seconds']:.1f} s" + _of_runs(run),
                         "throughput": f"{run['corpus_mb'] / run['data_seconds']:.1f} MB/s",
                         "peak RSS": f"{run['peak_rss_mb']:,.0f} MB", "wall": f"{run['wall_seconds']:.0f} s"})
        if "growth_10x_to_100x" in result:
            g = result["growth_10x_to_100x"]
            growth.append(f"{family}: preparation time ×{g['data_seconds']:.2f}, peak RSS ×{g['peak_rss']:.2f}")
    text = (f"Hardware: {env['cpu']}, {env['cpu_cores']} cores; each recipe's quick config for {scale['steps']} "
            "steps per corpus, cold cache; a preparation of a few seconds is the median of several runs (peak RSS "
            "their largest).\n\n" + markdown_table(rows, list(rows[0])))
    if growth:
        text += "\n\nFrom 10× to 100× (linear time is ×10, flat memory ×1): " + "; ".join(growth) + "."
    return text


def _of_runs(run: dict) -> str:
    """The suffix " (median of N)" where the scale bench repeated a short preparation (older results ran once)."""
    runs = len(run.get("data_seconds_each", [None]))
    return f" (median of {runs})" if runs > 1 else ""


def table(key: str, report: dict, comparison: dict | None, bench: dict | None = None,
          crossval_dir: Path = REPO_ROOT / "reports" / "crossval") -> str:
    if key.startswith("crossval:"):
        return crossval_table(key.split(":", 1)[1], crossval_dir)
    if key == "scale":
        return scale_table(REPO_ROOT / "reports" / "bench" / "scale.json")
    if key == "fused_rnn":
        return fused_rnn_table(REPO_ROOT / "reports" / "bench" / "fused_rnn.json")
    if key == "performance":
        if bench is None:
            raise SystemExit("A page asks for the performance table but there is no bench JSON; run "
                             "`python scripts/bench.py --out reports/bench/bench.json`.")
        return performance_table(bench)
    if key not in report["tables"]:
        raise SystemExit(f"A page asks for table `{key}`, which {len(report['tables'])} report tables lack: "
                         f"{', '.join(report['tables'])}; rerun `hf-nlp report` with its runs.")
    rows = list(report["tables"][key])
    family = key.split(":")[0]
    if family == "lm":
        rows.insert(0, {"run": "Géron's reference (Keras, GPU, 10 epochs)", "validation loss": REFERENCE_LM_LOSS})
    if family == "translation" and comparison is not None:
        for row in comparison["rows"]:
            if row["kind"] != "trained here":  # production and rule-based systems, measured or published
                rows.append({"system": f"{row['system']} ({row['kind']})", "run": row["test set"],
                             "BLEU beam 3": row["BLEU"], "chrF beam 3": row["chrF"],
                             "sentences/s (beam)": row["sentences/s"] or None})
    columns = [c for c in COLUMNS[family] if any(c in row for row in rows)]
    return render_table(rows, columns)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=Path, nargs="+", default=None,
                        help="Markdown pages to fill (default: README.md and every page under docs/)")
    parser.add_argument("--report", type=Path, default=REPO_ROOT / "reports" / "report.json")
    parser.add_argument("--comparison", type=Path, default=REPO_ROOT / "reports" / "translation" / "comparison.json")
    parser.add_argument("--bench", type=Path, default=REPO_ROOT / "reports" / "bench" / "bench.json")
    parser.add_argument("--crossval", type=Path, default=REPO_ROOT / "reports" / "crossval",
                        help="folder of cross-validation summaries (crossval:<name> tables)")
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 if a page differs")
    args = parser.parse_args(argv)
    report = json.loads(args.report.read_text())
    comparison = json.loads(args.comparison.read_text()) if args.comparison.is_file() else None
    bench = json.loads(args.bench.read_text()) if args.bench.is_file() else None
    pages = args.pages or [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").rglob("*.md"))]
    stale, written = [], 0
    for page in pages:
        text = page.read_text(encoding="utf-8")
        updated = BLOCK.sub(lambda m: m.group(1) + table(m.group("key"), report, comparison, bench, args.crossval)
                            + "\n" + m.group(4), text)
        written += len(BLOCK.findall(text))
        if updated != text:
            stale.append(page)
            if not args.check:
                page.write_text(updated, encoding="utf-8")
    if args.check:
        if stale:
            sys.stderr.write(f"results tables in {', '.join(map(str, stale))} differ from {args.report}; "
                             "run scripts/readme_results.py\n")
            return 1
        return 0
    sys.stdout.write(f"{written} tables filled in {len(pages)} pages ({len(stale)} changed)\n")
    return 0

if __name__ == "__main__":
    raise SystemExit(main())
