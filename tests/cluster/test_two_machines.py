"""Two "machines" on localhost with the shipped `recipes/accelerate/two_machines.yaml` (made CPU-only, one
process each): the same weights as 2 processes on one machine, and a killed machine ends the run on the
other with one sentence, leaving a checkpoint both resume from."""

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml
from safetensors.torch import load_file

from hf_nlp.training import checkpoint as ckpt
from tests.conftest import REPO_ROOT
from tests.e2e.test_char_rnn_recipe import tiny_args

pytestmark = pytest.mark.e2e
LAUNCH = [sys.executable, "-m", "accelerate.commands.launch", "--quiet"]
# One torch thread per process in both layouts: the same arithmetic, so the same weights to the bit.
SAME_THREADS = ["--train.cpu_threads", "1", "--train.max_steps", "10", "--train.eval_every", "5",
                "--train.save_every", "5", "--train.log_every", "1", "--samples.max_new_tokens", "10"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def localhost_cluster(tmp_path) -> Path:
    """The shipped two-machine config, pointed at localhost, on CPU, one process per machine."""
    config = yaml.safe_load((REPO_ROOT / "recipes/accelerate/two_machines.yaml").read_text())
    config.update(use_cpu=True, num_processes=2, main_process_ip="127.0.0.1", main_process_port=free_port())
    config.pop("gpu_ids")
    path = tmp_path / "two_machines_cpu.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start_machines(config: Path, args: list[str]) -> list[subprocess.Popen]:
    return [subprocess.Popen([*LAUNCH, "--config_file", str(config), "--machine_rank", str(rank), "recipes/char_rnn.py",
                              *args], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for rank in (0, 1)]


def finish(machines: list[subprocess.Popen], timeout: int = 300) -> list[tuple[int, str]]:
    """(exit status, stderr) of each machine once it ends."""
    stderrs = [machine.communicate(timeout=timeout)[1] for machine in machines]
    return [(machine.returncode, stderr) for machine, stderr in zip(machines, stderrs, strict=True)]


def train_losses(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_two_machines_reach_the_weights_of_two_processes_on_one(localhost_cluster, tiny_text_file, tmp_path):
    cluster, single = tmp_path / "cluster", tmp_path / "single"
    ended = finish(start_machines(localhost_cluster, tiny_args(tiny_text_file, cluster, *SAME_THREADS)))
    assert [code for code, _ in ended] == [0, 0], ended[0][1][-3000:] + ended[1][1][-3000:]
    one_machine = subprocess.run([*LAUNCH, "--config_file", "recipes/accelerate/cpu_2_processes.yaml", "recipes/char_rnn.py",
                                  *tiny_args(tiny_text_file, single, *SAME_THREADS)],
                                 cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert one_machine.returncode == 0, one_machine.stderr[-3000:]

    assert json.loads((cluster / "all_results.json").read_text())["environment"]["num_processes"] == 2
    assert train_losses(cluster) == train_losses(single)
    a, b = (load_file(run / "best_model" / "model.safetensors") for run in (cluster, single))
    assert a.keys() == b.keys() and all(a[name].equal(b[name]) for name in a)


def test_a_killed_machine_ends_the_run_with_one_sentence_and_both_resume(localhost_cluster, tiny_text_file, tmp_path):
    run_dir = tmp_path / "run"
    long_run = tiny_args(tiny_text_file, run_dir, "--train.cpu_threads", "1", "--train.max_steps", "100000",
                         "--train.save_every", "5", "--train.eval_every", "0", "--train.keep_checkpoints", "2")
    machines = start_machines(localhost_cluster, long_run)
    deadline = time.monotonic() + 120
    while not any(ckpt.is_complete(folder) for folder in ckpt.list_checkpoints(run_dir / "checkpoints")):
        assert time.monotonic() < deadline and machines[0].poll() is None, "no checkpoint within 2 minutes"
        time.sleep(0.2)
    # Machine 1 dies: its launcher and the training process it started (in a process group of its own).
    launcher = psutil.Process(machines[1].pid)
    for process in [*launcher.children(recursive=True), launcher]:
        process.kill()
    (code, stderr), _ = finish(machines, timeout=180)

    assert code != 0
    assert stderr.count("error: another process of this run stopped or became unreachable") == 1, stderr[-3000:]
    assert "Traceback" not in stderr
    complete = [folder for folder in ckpt.list_checkpoints(run_dir / "checkpoints") if ckpt.is_complete(folder)]
    assert f"the last complete checkpoint is `{complete[-1]}`" in stderr
    ckpt.verify(complete[-1])  # every file as its manifest says

    # Both machines back: the same command resumes from that checkpoint and finishes.
    step = ckpt.checkpoint_step(complete[-1])
    resumed = finish(start_machines(localhost_cluster, [*long_run, "--train.max_steps", str(step + 5)]))
    assert [code for code, _ in resumed] == [0, 0], resumed[0][1][-3000:]
    assert f"resuming training at step {step}" in resumed[0][1]
    assert json.loads((run_dir / "metrics.json").read_text())["train_steps"] == step + 5
