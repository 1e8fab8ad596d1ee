"""`scripts/bench.py` runs the chosen sections, `--quick` shrinks them, `--out` gathers their results."""

import json

from scripts import bench


def test_quick_section_results_are_gathered_in_one_json(tmp_path):
    out = tmp_path / "bench.json"
    results = bench.main(["peak", "--quick", "--out", str(out)])
    assert list(results) == ["peak"]
    written = json.loads(out.read_text())
    assert written["quick"] is True and written["environment"]["cpu_cores"] >= 1
    assert set(written["sections"]["peak"]["gflops"]["float32"]["by_size"]) == {"512", "1024"}  # QUICK sizes
    (table,) = written["sections"]["peak"]["tables"]
    assert table["baseline"] == "float32" and table["ours"] == "bfloat16"


def test_every_section_has_quick_settings():
    assert set(bench.QUICK) == set(bench.SECTIONS)
