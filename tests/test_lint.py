"""The code base stays ruff-clean (no print in library code, sorted imports, no unused names)."""

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT


def test_ruff_is_clean():
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run([str(ruff), "check", ".", "--output-format", "concise"], cwd=REPO_ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
