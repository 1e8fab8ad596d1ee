"""`scripts/device_check.py` without a CUDA device: every check runs on the CPU at tiny sizes, exit 0."""

import json
import math
import subprocess
import sys

import pytest

from scripts import device_check
from tests.conftest import REPO_ROOT


@pytest.mark.e2e
def test_without_cuda_it_says_so_runs_the_cpu_rows_and_exits_0(tmp_path):
    done = subprocess.run([sys.executable, "scripts/device_check.py", "--out", str(tmp_path)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "no CUDA device" in done.stdout
    report = json.loads((tmp_path / "device_check.json").read_text())
    assert report["environment"]["cuda"] is False
    assert report["sizes"] == json.loads(json.dumps(vars(device_check.DRY)))
    checks = report["checks"]
    assert list(checks) == ["precision", "host_reads", "resume", "packing", "generate", "compile", "lora",
                           "deepspeed"]
    assert all(check["status"] in ("ok", "skipped") for check in checks.values()), checks
    precision = {row["precision"]: row for row in checks["precision"]["rows"]}
    assert precision["fp32"]["finite"] and precision["bf16"]["finite"]
    assert precision["fp16"]["status"].startswith("skipped")
    (resume,) = checks["resume"]["rows"]
    assert resume["identical"] and resume["steps_compared"] == device_check.DRY.steps // 2  # bit-exact on CPU
    beam = checks["generate"]["rows"][-1]
    assert beam["output_shape"][0] == device_check.DRY.encoder_batch
    assert {row["mode"] for row in checks["packing"]["rows"]} == {"padded", "packed"}
    full, lora = checks["lora"]["rows"]
    hidden, layers = device_check.DRY.encoder["hidden_size"], device_check.DRY.encoder["num_hidden_layers"]
    # r-8 A and B of query and value in every layer, plus the new head (hidden -> 2 labels) in full
    assert lora["trainable_parameters"] == layers * 2 * 2 * 8 * hidden + hidden * 2 + 2
    assert full["trainable_parameters"] > 10 * lora["trainable_parameters"]
    assert all(math.isfinite(row["last_logged_loss"]) for row in (full, lora))
    written = (tmp_path / "device_check.md").read_text()
    assert all(f"## {name} (" in written for name in checks)


def test_a_failing_check_is_recorded_and_the_others_still_run(tmp_path, monkeypatch):
    def broken(sizes, device):
        raise RuntimeError("CUDA error: an illegal memory access")

    monkeypatch.setattr(device_check, "check_packing", broken)
    results = device_check.run_checks(device_check.torch.device("cpu"), device_check.DRY, tmp_path,
                                      only=["packing", "deepspeed"])
    assert results["packing"]["status"] == "failed" and "illegal memory access" in results["packing"]["error"]
    assert results["deepspeed"]["status"] in ("ok", "skipped")
    assert "## packing (failed" in device_check.markdown({"environment": {}, "checks": results})
