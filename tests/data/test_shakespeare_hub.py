"""A Hub dataset id, loaded over HTTP from a local Hub-protocol server (no network, no mocks)."""

import json
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import REPO_ROOT
from tests.hub.local_hub import LocalHub

pytestmark = pytest.mark.e2e  # every test loads the corpus in a fresh interpreter from a local Hub server

# Run in a fresh interpreter: huggingface_hub reads HF_ENDPOINT once, at import.
LOAD = """
import json, sys
from hf_nlp.data.shakespeare import load_shakespeare
from hf_nlp.errors import UserError
try:
    corpus = load_shakespeare(sys.argv[1], train_chars=1000, valid_chars=100)
    print(json.dumps({split: corpus[split][0]["text"] for split in corpus}))
except UserError as error:
    print(json.dumps({"error": str(error)}))
"""


@pytest.fixture
def hub_repo(tmp_path):
    """Karpathy's Hub layout: one row of text per split, as parquet under data/."""
    folder = tmp_path / "repo"
    (folder / "data").mkdir(parents=True)
    texts = {"train": "First Citizen:\nBefore " * 50, "validation": "All:\nSpeak. " * 10, "test": "Resolved. " * 10}
    for split, text in texts.items():
        pq.write_table(pa.table({"text": [text]}), folder / "data" / f"{split}-00000-of-00001.parquet")
    return folder, "".join(texts.values()).lower()


def load_via_hub(hub: LocalHub, source: str, tmp_path) -> dict:
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0",
           "HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_DISABLE_TELEMETRY": "1"}
    result = subprocess.run([sys.executable, "-c", LOAD, source], cwd=REPO_ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_hub_dataset_is_concatenated_and_resplit(hub_repo, tmp_path):
    folder, full_text = hub_repo
    with LocalHub({"datasets/someone/tiny_shakespeare": folder}) as hub:
        splits = load_via_hub(hub, "someone/tiny_shakespeare", tmp_path)
    assert splits == {"train": full_text[:1000], "validation": full_text[1000:1100], "test": full_text[1100:]}
    assert any("/resolve/" in r and r.endswith(".parquet") for r in hub.requests)  # really downloaded


def test_unknown_hub_dataset_is_a_user_error(hub_repo, tmp_path):
    folder, _ = hub_repo
    with LocalHub({"datasets/someone/tiny_shakespeare": folder}) as hub:
        result = load_via_hub(hub, "someone/no_such_dataset", tmp_path)
    assert result["error"].startswith("could not load Hub dataset `someone/no_such_dataset`")
