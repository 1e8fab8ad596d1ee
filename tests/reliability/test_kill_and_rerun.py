"""kill -9 at any moment of a real run, then the same command again: the results of an uninterrupted run.

Each case runs the char-RNN recipe (with dropout, so the random generators matter) as a subprocess,
kills it, and reruns the same command until it finishes; the metric log, the best model's weights and
the final validation loss must equal those of a run that was never interrupted, byte for byte.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hf_nlp.training.loop import CHECKPOINT_PAUSE_ENV
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.e2e  # every test runs the recipe in subprocesses and kills them


def command(text_file: Path, run_dir: Path) -> list[str]:
    return [
        sys.executable, "recipes/char_rnn.py", "--config", "recipes/configs/char_rnn_quick.yaml",
        "--data.source", str(text_file), "--data.train_chars", "10000", "--data.valid_chars", "2000",
        "--data.window", "20", "--model.hidden_size", "32", "--model.dropout", "0.2",
        "--train.output_dir", str(run_dir), "--train.max_steps", "120", "--train.eval_every", "20",
        "--train.save_every", "10", "--train.log_every", "3", "--train.batch_size", "16",
        "--train.cpu_threads", "1", "--train.progress_bar", "false", "--samples.max_new_tokens", "20",
    ]


def start(text_file: Path, run_dir: Path, env_extra: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.Popen(command(text_file, run_dir), cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def finish(text_file: Path, run_dir: Path) -> str:
    """Rerun the same command to the end; returns its stderr."""
    done = subprocess.run(command(text_file, run_dir), cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    return done.stderr


def wait_for(condition, process: subprocess.Popen, timeout: float = 120) -> bool:
    """Poll until `condition()`; False if the process ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.01)
    raise AssertionError("timed out waiting for the run")


def kill(process: subprocess.Popen) -> bool:
    """kill -9 the run: its process group and every descendant (torchrun starts each worker in a session of
    its own, which a group kill would leave running); True if it was still running."""
    import psutil

    try:
        descendants = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for child in descendants:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(descendants, timeout=60)
    process.communicate(timeout=120)
    return process.returncode == -signal.SIGKILL


def outcome(run_dir: Path) -> dict:
    return {
        "log": (run_dir / "metrics.jsonl").read_text(),
        "best_weights": (run_dir / "best_model" / "model.safetensors").read_bytes(),
        "validation_loss": json.loads((run_dir / "metrics.json").read_text())["validation"]["loss"],
    }


@pytest.fixture(scope="module")
def uninterrupted(tiny_text_file, tmp_path_factory) -> dict:
    run_dir = tmp_path_factory.mktemp("uninterrupted") / "run"
    finish(tiny_text_file, run_dir)
    return outcome(run_dir)


def assert_same_as_uninterrupted(run_dir: Path, uninterrupted: dict) -> None:
    got = outcome(run_dir)
    assert got["log"] == uninterrupted["log"]
    assert got["best_weights"] == uninterrupted["best_weights"]
    assert got["validation_loss"] == uninterrupted["validation_loss"]
    assert not list((run_dir / "checkpoints").glob(".*")), "a staging folder was left behind"


@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow), pytest.param(2, marks=pytest.mark.slow)])
def test_kill_9_at_random_moments_then_the_same_command(tiny_text_file, tmp_path, uninterrupted, seed):
    """Up to three kills per case, each a random time after training started (checkpoints every 10 steps
    of 120, so many land inside a checkpoint write, an evaluation or a best-model swap)."""
    rng = random.Random(seed)
    run_dir = tmp_path / "run"
    log = run_dir / "metrics.jsonl"
    killed = 0
    for _ in range(3):
        size_before = log.stat().st_size if log.is_file() else 0
        process = start(tiny_text_file, run_dir)
        if not wait_for(lambda before=size_before: log.is_file() and log.stat().st_size > before, process):
            break  # it finished before the log grew: nothing left to interrupt
        time.sleep(rng.uniform(0.0, 1.0))
        killed += kill(process)
    assert killed >= 1
    finish(tiny_text_file, run_dir)
    assert_same_as_uninterrupted(run_dir, uninterrupted)


# What a checkpoint write has produced when the kill comes: (file in the staging folder, what it shows).
KILL_POINTS = [
    ("rng_state_0.json", "each process' generators written, nothing shared yet"),
    ("model.safetensors", "weights written, optimizer not"),
    ("optimizer.json", "optimizer written, trainer state not"),
    ("trainer_state.json", "everything but the manifest"),
    ("manifest.json", "complete but not yet renamed into place"),
]


# One moment in the default run (every file written, the folder not yet renamed), the others (weights written
# but not the optimizer...) in the slow tier: the default run stays under 15 minutes.
@pytest.mark.parametrize("written", [name if name == "manifest.json" else
                                     pytest.param(name, marks=pytest.mark.slow) for name, _ in KILL_POINTS])
def test_kill_9_inside_a_checkpoint_write_then_the_same_command(tiny_text_file, tmp_path, uninterrupted, written):
    run_dir = tmp_path / "run"
    staging = run_dir / "checkpoints" / ".step_00000030.partial"
    # Each checkpoint file is followed by a pause, so the kill lands between two known files.
    process = start(tiny_text_file, run_dir, {CHECKPOINT_PAUSE_ENV: "0.5"})
    assert wait_for(lambda: (staging / written).is_file(), process)
    assert kill(process)
    assert (staging / written).is_file() and not (run_dir / "checkpoints" / "step_00000030").exists()
    stderr = finish(tiny_text_file, run_dir)
    assert "resuming training at step 20" in stderr
    assert_same_as_uninterrupted(run_dir, uninterrupted)


# SIGTERM and SIGINT share one handler: Ctrl-C in the default run, SIGTERM in the slow tier.
@pytest.mark.parametrize("signum", [pytest.param(signal.SIGTERM, marks=pytest.mark.slow), signal.SIGINT])
def test_sigterm_or_ctrl_c_then_the_same_command(tiny_text_file, tmp_path, uninterrupted, signum):
    run_dir = tmp_path / "run"
    log = run_dir / "metrics.jsonl"
    process = start(tiny_text_file, run_dir)
    assert wait_for(lambda: log.is_file() and log.read_text().count("\n") >= 5, process)
    os.killpg(process.pid, signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130 and "Rerun the same command to resume" in stderr and "Traceback" not in stderr
    finish(tiny_text_file, run_dir)
    assert_same_as_uninterrupted(run_dir, uninterrupted)


def test_a_full_disk_is_one_sentence_then_the_same_command_finishes(tiny_text_file, tmp_path, uninterrupted):
    """A file-size limit (what a full disk looks like to the writer, without needing one) that lets the
    27 kB weights through but not the 55 kB optimizer state: the first checkpoint write fails."""
    import resource

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, 40_000))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process

    run_dir = tmp_path / "run"
    full = subprocess.run(command(tiny_text_file, run_dir), cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=300, preexec_fn=limit_file_size)
    assert full.returncode == 2 and "Traceback" not in full.stderr, full.stderr[-3000:]
    assert full.stderr.strip().splitlines()[-1].startswith(f"error: could not write in `{run_dir / 'checkpoints'}` "
                                                             "(File too large")
    finish(tiny_text_file, run_dir)
    assert_same_as_uninterrupted(run_dir, uninterrupted)


@pytest.mark.slow  # the default run kills 2-process runs in tests/cluster (FSDP, two machines)
def test_kill_9_of_a_two_process_run_then_the_same_command(tiny_text_file, tmp_path):
    """DDP over gloo: each process writes its own generator state into the shared checkpoint; killed
    mid-run (the whole process group, as a node failure would), the rerun ends as an uninterrupted one."""
    import socket

    with socket.socket() as probe:  # a free port for the rendezvous
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", port]

    def two_processes(run_dir: Path) -> list[str]:
        return [*launch, *command(tiny_text_file, run_dir)[1:]]

    def run_to_end(run_dir: Path) -> None:
        done = subprocess.run(two_processes(run_dir), cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]

    straight = tmp_path / "straight"
    run_to_end(straight)
    run_dir = tmp_path / "run"
    process = subprocess.Popen(two_processes(run_dir), cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    step_40 = run_dir / "checkpoints" / "step_00000040"
    assert wait_for(step_40.is_dir, process)
    assert kill(process)
    newest = sorted((run_dir / "checkpoints").glob("step_*"))[-1]
    assert sorted(p.name for p in newest.glob("*_state_[01].json")) == [
        "process_state_0.json", "process_state_1.json", "rng_state_0.json", "rng_state_1.json"]
    run_to_end(run_dir)
    assert_same_as_uninterrupted(run_dir, outcome(straight))
