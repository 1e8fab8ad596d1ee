"""A streamed sentiment run (`--data.streaming true`) killed with -9 mid-epoch, then the same command again:
the metric log (every step's loss) and the best model's weights of a run never interrupted, byte for byte.

The run shuffles through a buffer and uses dropout, and the kill lands in the first epoch while the
resumed run crosses into the second: a resume that skipped batches, lost the shuffle buffer or the
generators' state would train on other examples or other masks and log other losses.
"""

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from hf_nlp.training.loop import CHECKPOINT_PAUSE_ENV
from tests.conftest import REPO_ROOT
from tests.reliability.test_kill_and_rerun import kill, wait_for

pytestmark = pytest.mark.e2e

WORDS = {0: ["awful", "boring", "dull"], 1: ["great", "moving", "superb"]}
FILLER = ["the", "film", "plot", "was", "quite", "a", "story", "music"]


@pytest.fixture(scope="module")
def reviews(tmp_path_factory) -> Path:
    """3,000 rows: 2,400 train, i.e. 75 batches of 32 per epoch."""
    rng = random.Random(0)
    rows = []
    for _ in range(3000):
        label = rng.randint(0, 1)
        rows.append(f'"{" ".join(rng.choices(FILLER, k=rng.randint(3, 30)) + rng.choices(WORDS[label], k=2))}",{label}')
    path = tmp_path_factory.mktemp("stream") / "reviews.csv"
    path.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def command(reviews: Path, run_dir: Path, launcher: list[str]) -> list[str]:
    return [*launcher, "recipes/sentiment_rnn.py", "--config", "recipes/configs/sentiment_rnn.yaml",
            "--data.source", str(reviews), "--data.streaming", "true", "--data.shuffle_buffer", "300",
            "--model.embedding_size", "16", "--model.hidden_size", "16", "--model.dropout", "0.3",
            "--train.output_dir", str(run_dir), "--train.max_steps", "100", "--train.eval_every", "25",
            "--train.save_every", "10", "--train.log_every", "1", "--train.cpu_threads", "1",
            "--train.progress_bar", "false"]


def run_to_the_end(args: list[str]) -> str:
    done = subprocess.run(args, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    return done.stderr


def outcome(run_dir: Path) -> tuple[str, bytes]:
    return (run_dir / "metrics.jsonl").read_text(), (run_dir / "best_model" / "model.safetensors").read_bytes()


ONE_PROCESS = [sys.executable]
TWO_PROCESSES = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29613"]


@pytest.mark.parametrize(("launcher", "steps_per_epoch"),
                         [(ONE_PROCESS, 75), pytest.param(TWO_PROCESSES, 37, marks=pytest.mark.slow)],
                         ids=["one_process", "two_processes"])
def test_a_streamed_run_killed_mid_epoch_resumes_with_identical_losses(reviews, tmp_path, launcher, steps_per_epoch):
    run_to_the_end(command(reviews, tmp_path / "uninterrupted", launcher))
    expected = outcome(tmp_path / "uninterrupted")
    assert expected[0].count('"train_loss"') == 100

    run_dir = tmp_path / "interrupted"
    # Checkpoint writes slowed down, so the kill lands at most one checkpoint after step 20, mid-epoch.
    process = subprocess.Popen(command(reviews, run_dir, launcher), cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True,
                               env={**os.environ, CHECKPOINT_PAUSE_ENV: "0.3"})
    assert wait_for(lambda: (run_dir / "checkpoints" / "step_00000020").is_dir(), process)
    assert kill(process)
    stderr = run_to_the_end(command(reviews, run_dir, launcher))
    resumed_at = int(stderr.split("resuming training at step ")[1].split()[0])
    assert 20 <= resumed_at < steps_per_epoch  # the stream's saved position and buffer are used
    assert outcome(run_dir) == expected
