"""Fill the README's results tables from the evaluation report: no hand-typed figures.

Each table sits between `<!-- results:KEY -->` and `<!-- /results:KEY -->` in README.md; KEY is a
table of `reports/report.json` (written by `hf-nlp report`): `lm`, `classification:<corpus>`,
`translation`. The translation table adds the production systems (Apertium, Opus-MT) from
`reports/translation/comparison.json` (written by `recipes/compare_mt.py`), and the LM table
the reference's figure.

    hf-nlp report runs/... --output reports          # 1. the report
    python scripts/readme_results.py                 # 2. the README tables from it
    python scripts/readme_results.py --check         # exit 1 if the README is out of date (tested)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from hf_nlp.evaluation.suite_report import REFERENCE_LM_LOSS, render_table

REPO_ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- results:(?P<key>[\w:.-]+) -->\n)(?P<body>.*?)(<!-- /results:(?P=key) -->)", re.DOTALL)

COLUMNS = {
    "lm": ["run", "model", "stateful", "steps", "train min", "validation loss", "test loss", "bits/char (val.)",
           "validation loss, independent windows", "first step below the reference"],
    "classification": ["model", "run", "test accuracy", "test macro-F1", "valid. accuracy", "train min",
                       "reference, IMDb"],
    "translation": ["system", "run", "test token accuracy", "BLEU greedy", "BLEU beam 3", "chrF beam 3",
                    "sentences/s (beam)", "train min", "stop", "reference (val. token acc.)"],
}


def table(key: str, report: dict, comparison: dict | None) -> str:
    if key not in report["tables"]:
        raise SystemExit(f"README asks for table `{key}`, which {len(report['tables'])} report tables lack: "
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
    parser.add_argument("--readme", type=Path, default=REPO_ROOT / "README.md")
    parser.add_argument("--report", type=Path, default=REPO_ROOT / "reports" / "report.json")
    parser.add_argument("--comparison", type=Path, default=REPO_ROOT / "reports" / "translation" / "comparison.json")
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 if the README differs")
    args = parser.parse_args(argv)
    report = json.loads(args.report.read_text())
    comparison = json.loads(args.comparison.read_text()) if args.comparison.is_file() else None
    readme = args.readme.read_text(encoding="utf-8")
    updated = BLOCK.sub(lambda m: m.group(1) + table(m.group("key"), report, comparison) + "\n" + m.group(4), readme)
    if args.check:
        if updated != readme:
            sys.stderr.write(f"{args.readme} results tables differ from {args.report}; run scripts/readme_results.py\n")
            return 1
        return 0
    args.readme.write_text(updated, encoding="utf-8")
    sys.stdout.write(f"{len(BLOCK.findall(readme))} tables written to {args.readme}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
