"""One table format for every benchmark section: rates measured in the same process, each with its
ratio to a named baseline row (and, for training workloads, the share of the matmul peak it reaches).

Sections print these tables and return them under "tables" in their JSON; `scripts/readme_performance.py`
builds the README's "Performance" section from them.
"""

from __future__ import annotations


def ratio_table(title: str, unit: str, rates: dict[str, float], baseline: str, ours: str, detail: str = "",
                shares_of_peak: dict[str, float] | None = None, notes: dict[str, str] | None = None) -> dict:
    """Print `rates` (row name -> items/s) with ratios to `rates[baseline]`; return the table as a dict.

    `title` names the workload in a few words, `detail` its settings; `ours` names the row the
    README quotes as our figure; `shares_of_peak` (row -> fraction of the matmul peak) and `notes`
    (row -> a few words) are optional columns."""
    shares_of_peak, notes = shares_of_peak or {}, notes or {}
    rows = [{"name": name, "rate": rate, "ratio": rate / rates[baseline], "share_of_peak": shares_of_peak.get(name),
             "note": notes.get(name, "")} for name, rate in rates.items()]
    table = {"title": title, "detail": detail, "unit": unit, "baseline": baseline, "ours": ours, "rows": rows}
    print(f"{title} ({detail})" if detail else title)
    width = max(len(name) for name in rates) + 2
    for row in rows:
        ratio = "(baseline)" if row["name"] == baseline else f"x{row['ratio']:.2f}"
        share = "" if row["share_of_peak"] is None else f"{100 * row['share_of_peak']:5.1f} % of peak"
        print(f"  {row['name']:<{width}} {row['rate']:>12,.1f} {unit:<10} {ratio:<11} {share:<16} {row['note']}".rstrip())
    return table
