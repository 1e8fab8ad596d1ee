"""A Hub endpoint that accepts connections and never answers: every network path ends in one sentence
within 60 s (hf_nlp.hub_client), and leaves the run folder as it was."""

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.e2e  # every test runs the CLI and the recipe in subprocesses

HF_NLP = str(Path(sys.executable).with_name("hf-nlp"))


@pytest.fixture(scope="module")
def silent_endpoint():
    """A TCP server that accepts every connection and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    server.close()


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def test_every_hub_path_gives_up_within_60_seconds(silent_endpoint, lm_run, tiny_text_file, tmp_path):
    env = {**os.environ, "HF_ENDPOINT": silent_endpoint, "HF_TOKEN": "hf_test", "HF_HUB_OFFLINE": "0",
           "HF_DATASETS_OFFLINE": "0"}
    env.pop("HF_NLP_HUB_TIMEOUT", None)  # the default timeout, as a user gets it
    recipe = [sys.executable, "recipes/char_rnn.py", "--config", "recipes/configs/char_rnn_quick.yaml"]
    commands = {
        "push": [HF_NLP, "push", "--model", str(lm_run), "--repo-id", "someone/model"],
        "generate from a Hub id": [HF_NLP, "generate", "--model", "someone/model", "--prompt", "to be"],
        "recipe push_to_hub pre-check": [*recipe, "--push_to_hub.repo_id", "someone/model",
                                         "--train.output_dir", str(tmp_path / "pushed_run")],
        "recipe on a Hub dataset": [*recipe, "--data.source", "someone/shakespeare",
                                    "--train.output_dir", str(tmp_path / "hub_data_run")],
    }
    before = snapshot(lm_run)
    started = time.monotonic()
    running = {name: subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True) for name, command in commands.items()}
    for name, process in running.items():
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 2, (name, stderr[-2000:])
        assert "Traceback" not in stderr, name
        last = stderr.strip().splitlines()[-1]
        assert last.startswith("error: ") and f"the Hub at {silent_endpoint} did not answer within 10 s" in last, \
            (name, last)
    assert time.monotonic() - started < 60
    assert snapshot(lm_run) == before  # the pushed run folder is only read
    assert not (tmp_path / "pushed_run").exists()  # refused before the run folder was made
