"""The corpus cache under concurrency: runs started together on a fresh cache both get the corpus."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.e2e  # every test starts several interpreters that build one corpus cache at once

LOAD = """
import json, sys
from hf_nlp.data.spa_eng import SpaEngDataConfig, load_spa_eng
corpus = load_spa_eng(SpaEngDataConfig(source=sys.argv[1], test_size=50, validation_size=50))
print(json.dumps({split: list(corpus[split]["en"]) for split in corpus}))
"""


def test_two_processes_building_the_same_corpus_cache_at_once(tmp_path):
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("".join(f"sentence number {i}\tfrase número {i}\n" for i in range(20_000)), encoding="utf-8")
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf_home")}
    processes = [subprocess.Popen([sys.executable, "-c", LOAD, str(pairs)], cwd=REPO_ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [process.communicate(timeout=300) for process in processes]
    for process, (_, stderr) in zip(processes, results, strict=True):
        assert process.returncode == 0, stderr[-2000:]
    corpora = [json.loads(stdout.strip().splitlines()[-1]) for stdout, _ in results]
    assert corpora[0] == corpora[1] == corpora[2] and len(corpora[0]["train"]) == 19_900
    cache_root = tmp_path / "hf_home" / "hf_nlp" / "corpora" / "spa_eng"
    assert [p.name for p in cache_root.iterdir() if ".partial-" in p.name] == []  # the losers cleaned up
