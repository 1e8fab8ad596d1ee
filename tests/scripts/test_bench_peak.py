"""The matmul-peak section measures both dtypes and writes JSON (its numbers mean something only on a quiet machine)."""

import json

from scripts import bench_peak


def test_peak_section_measures_both_dtypes(tmp_path):
    results = bench_peak.main(["--sizes", "64", "128", "--repeats", "2", "--out", str(tmp_path / "peak.json")])
    for dtype in ("float32", "bfloat16"):
        rates = results["gflops"][dtype]
        assert set(rates["by_size"]) == {64, 128} and rates["peak"] == max(rates["by_size"].values()) > 0
    assert results["bfloat16_vs_float32"] > 0
    assert json.loads((tmp_path / "peak.json").read_text())["threads"] >= 1

