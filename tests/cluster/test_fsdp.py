"""FSDP2 on 2 CPU processes with the shipped `recipes/accelerate/fsdp2.yaml` (made CPU-only): the encoder
recipe's tiny config trains sharded, as DDP does, writes full tensors that load with `from_pretrained`
without FSDP, and a run killed after a checkpoint resumes exactly."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification

from hf_nlp.errors import UserError
from hf_nlp.training import checkpoint as ckpt
from hf_nlp.training.loop import CHECKPOINT_PAUSE_ENV
from tests.cluster.test_two_machines import free_port, train_losses
from tests.conftest import REPO_ROOT
from tests.e2e.test_sentiment_rnn_recipe import FILLER, NEGATIVE, POSITIVE, toy_csv  # noqa: F401  (fixture)
from tests.models.tiny_encoder import make_tiny_encoder
from tests.reliability.test_kill_and_rerun import kill

pytestmark = pytest.mark.e2e
LAUNCH = [sys.executable, "-m", "accelerate.commands.launch", "--quiet"]


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    return make_tiny_encoder(tmp_path_factory.mktemp("encoder"), FILLER + POSITIVE + NEGATIVE)


@pytest.fixture
def fsdp_on_cpu(tmp_path) -> Path:
    """The shipped FSDP2 config on CPU: 2 processes over gloo."""
    config = yaml.safe_load((REPO_ROOT / "recipes/accelerate/fsdp2.yaml").read_text())
    config.update(use_cpu=True, num_processes=2, main_process_port=free_port())
    config.pop("gpu_ids")
    path = tmp_path / "fsdp2_cpu.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def encoder_args(data: Path, encoder: Path, out: Path) -> list[str]:
    # One torch thread per process: the same arithmetic in every run of a test.
    return ["recipes/finetune_encoder.py", "--config", "recipes/configs/finetune_encoder_minilm_full.yaml",
            "--data.source", str(data), "--data.text_column", "review", "--data.label_column", "sentiment",
            "--model.encoder", str(encoder), "--data.max_length", "64", "--data.long_texts", "truncate",
            "--train.mixed_precision", "no", "--train.cpu_threads", "1", "--train.progress_bar", "false",
            "--train.max_steps", "8", "--train.save_every", "4", "--train.eval_every", "4", "--train.log_every", "1",
            "--train.output_dir", str(out)]


def start(config: Path | str, args: list[str], env_extra: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([*LAUNCH, "--config_file", str(config), *args], cwd=REPO_ROOT,
                            env={**os.environ, **(env_extra or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def run_to_end(config: Path | str, args: list[str]) -> str:
    process = start(config, args)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-3000:]
    return stderr


def step_losses(run_dir: Path) -> list[float]:
    return [entry["train_loss"] for entry in train_losses(run_dir) if "train_loss" in entry]


def assert_full_tensors_that_load_without_fsdp(run_dir: Path) -> None:
    # Sharded for real: the optimizer state was gathered from the shards, keyed by parameter name.
    checkpoint = run_dir / "checkpoints" / "step_00000008"
    assert all(not key.isdigit() for key in json.loads((checkpoint / ckpt.OPTIMIZER_STATE).read_text())["state"])
    assert json.loads((run_dir / "all_results.json").read_text())["environment"]["num_processes"] == 2
    # Full tensors everywhere: the best model loads with the Auto class, as a plain BERT classifier.
    best = AutoModelForSequenceClassification.from_pretrained(run_dir / "best_model")
    assert best.config.architectures == ["BertForSequenceClassification"]
    weights = load_file(checkpoint / ckpt.MODEL_WEIGHTS)
    assert {name: tuple(t.shape) for name, t in weights.items()} == \
        {name: tuple(t.shape) for name, t in best.state_dict().items() if name in weights}


def test_fsdp_writes_full_tensors_and_resumes_exactly_after_a_kill(fsdp_on_cpu, toy_csv, tiny_encoder, tmp_path):  # noqa: F811
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    run_to_end(fsdp_on_cpu, encoder_args(toy_csv, tiny_encoder, straight))
    assert_full_tensors_that_load_without_fsdp(straight)

    # Checkpoint writes slowed down, so the kill lands after step 4's checkpoint and before the run ends.
    process = start(fsdp_on_cpu, encoder_args(toy_csv, tiny_encoder, killed), {CHECKPOINT_PAUSE_ENV: "1"})
    deadline = time.monotonic() + 240
    while not ckpt.is_complete(killed / "checkpoints" / "step_00000004"):
        assert time.monotonic() < deadline and process.poll() is None, "no checkpoint within 4 minutes"
        time.sleep(0.05)
    assert kill(process)
    stderr = run_to_end(fsdp_on_cpu, encoder_args(toy_csv, tiny_encoder, killed))  # the same command again

    assert "resuming training at step 4" in stderr
    assert step_losses(killed) == step_losses(straight)
    a, b = (load_file(run / "best_model" / "model.safetensors") for run in (killed, straight))
    assert a.keys() == b.keys() and all(a[name].equal(b[name]) for name in a)


def test_a_model_that_writes_its_own_files_is_refused_when_sharded(tmp_path, monkeypatch):
    """LoRA's best model is written merged from the whole model, which no process holds when sharded: one
    sentence, before anything is sharded or trained."""
    import hf_nlp.training.loop as loop
    from tests.training.test_loop import LM, config, make_data, make_model

    monkeypatch.setattr(loop, "fsdp_requested", lambda accelerator: True)
    train, valid = make_data()
    with pytest.raises(UserError, match="train it without FSDP"):
        loop.Trainer(config(tmp_path), LM).fit(make_model(), train, valid, write_model=lambda model, folder: None)
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.parametrize("distributed_type, is_fsdp2, environment, sharded", [
    ("FSDP", True, {}, True),  # GPUs with fsdp_version: 2
    ("FSDP", False, {}, None),  # GPUs with accelerate's default, FSDP1
    ("MULTI_CPU", False, {"ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "2"}, True),
    ("MULTI_CPU", False, {"ACCELERATE_USE_FSDP": "true"}, None),  # no fsdp_version: accelerate means FSDP1
    ("MULTI_CPU", False, {}, False),  # plain DDP
])
def test_only_fsdp2_is_accepted(distributed_type, is_fsdp2, environment, sharded, monkeypatch):
    from types import SimpleNamespace

    from accelerate.utils import DistributedType

    from hf_nlp.training.sharding import fsdp_requested

    for name in ("ACCELERATE_USE_FSDP", "FSDP_VERSION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    accelerator = SimpleNamespace(distributed_type=DistributedType[distributed_type], is_fsdp2=is_fsdp2)
    if sharded is None:
        with pytest.raises(UserError, match="fsdp_version: 2"):
            fsdp_requested(accelerator)
    else:
        assert fsdp_requested(accelerator) is sharded


@pytest.mark.slow  # two more 2-process runs; the default run stays under 15 minutes
def test_fsdp_trains_as_ddp_does(fsdp_on_cpu, toy_csv, tiny_encoder, tmp_path):  # noqa: F811
    sharded, replicated = tmp_path / "fsdp", tmp_path / "ddp"
    run_to_end(fsdp_on_cpu, encoder_args(toy_csv, tiny_encoder, sharded))
    run_to_end("recipes/accelerate/cpu_2_processes.yaml", encoder_args(toy_csv, tiny_encoder, replicated))

    # The same training as DDP, up to the order in which gradients are summed.
    fsdp_losses, ddp_losses = step_losses(sharded), step_losses(replicated)
    assert len(fsdp_losses) == 8 and fsdp_losses == pytest.approx(ddp_losses, rel=1e-4)
    best, reference = (AutoModelForSequenceClassification.from_pretrained(run / "best_model").state_dict()
                       for run in (sharded, replicated))
    for name, tensor in best.items():
        torch.testing.assert_close(tensor, reference[name], rtol=1e-3, atol=1e-4)
