"""The char-RNN recipe end to end on a tiny text: files, metrics, resume, 2 processes, CLI."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, cli_in_process

WINDOW = 20
# The console script installed beside this interpreter (works without an activated venv).
HF_NLP = str(Path(sys.executable).with_name("hf-nlp"))


def tiny_args(text_file: Path, output_dir: Path, *extra: str) -> list[str]:
    return [
        "--config", str(REPO_ROOT / "recipes/configs/char_rnn_quick.yaml"),
        "--data.source", str(text_file), "--data.train_chars", "10000", "--data.valid_chars", "2000",
        "--data.window", str(WINDOW), "--model.hidden_size", "32",
        "--train.output_dir", str(output_dir), "--train.max_steps", "150", "--train.eval_every", "50",
        "--train.save_every", "50", "--train.learning_rate", "0.01", "--train.warmup_steps", "5", "--train.log_every", "5",
        "--train.batch_size", "16", "--train.eval_batch_size", "7", "--train.progress_bar", "false",
        "--samples.max_new_tokens", "40", *extra,
    ]


def run_cli(*args: str, env_extra: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(list(args), cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def tiny_run(tiny_text_file, tmp_path_factory) -> tuple[Path, dict]:
    from recipes.char_rnn import main

    run_dir = tmp_path_factory.mktemp("char_rnn") / "run"
    metrics = main(tiny_args(tiny_text_file, run_dir, "--train.report_to", "tensorboard"))
    return run_dir, metrics


def test_recipe_writes_model_report_and_metrics(tiny_run):
    run_dir, metrics = tiny_run
    for name in ("report.md", "metrics.json", "all_results.json", "loss_curve.png", "metrics.jsonl", "checkpoints"):
        assert (run_dir / name).exists(), name
    for name in ("model.safetensors", "config.json", "tokenizer.json", "config.yaml"):
        assert (run_dir / "best_model" / name).is_file(), name
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved["split_chars"] == {"train": 10_000, "validation": 2_000, "test": 2_000}
    assert saved["validation"]["chars"] == ((2000 - WINDOW - 1) // WINDOW + 1) * WINDOW
    # Learned more than character frequencies: a unigram model of English text is ~2.9 nats/char.
    assert saved["validation"]["loss"] < 2.6
    assert saved["validation"]["bits_per_char"] == pytest.approx(saved["validation"]["loss"] / math.log(2))
    assert sorted(saved["samples"]) == ["0.2", "0.5", "1.0"] and all(saved["samples"].values())
    assert saved["wall_minutes"] >= saved["train_minutes"] > 0
    assert metrics["train_steps"] == 150


def test_the_run_names_its_tracker_runs_and_tensorboard_holds_its_curves(tiny_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir, _ = tiny_run
    trackers = json.loads((run_dir / "all_results.json").read_text())["trackers"]
    assert trackers == {"tensorboard": {"log_dir": str(run_dir / "tensorboard")}}
    events = EventAccumulator(trackers["tensorboard"]["log_dir"])
    events.Reload()
    logged = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert {e.step: e.value for e in events.Scalars("eval/loss")} == pytest.approx(
        {line["step"]: line["eval_loss"] for line in logged if "eval_loss" in line})
    assert len(events.Scalars("train/loss")) == 150 // 5


def test_config_is_saved_beside_every_checkpoint(tiny_run):
    run_dir, _ = tiny_run
    checkpoints = sorted((run_dir / "checkpoints").iterdir())
    assert checkpoints and all((c / "config.yaml").is_file() for c in checkpoints)
    assert "hidden_size: 32" in (checkpoints[-1] / "config.yaml").read_text()


def test_cli_generates_from_the_trained_run(tiny_run, capsys):
    run_dir, _ = tiny_run
    argv = ["generate", "--model", str(run_dir), "--prompt", "First", "--max-new-tokens", "30",
            "--temperature", "0.5", "--top-k", "10", "--top-p", "0.9", "--seed", "1"]
    code, out, err = cli_in_process(argv, capsys)
    assert code == 0, err
    assert out.startswith("First") and len(out.rstrip("\n")) >= len("First") + 25
    assert cli_in_process(argv, capsys)[1] == out  # seeded sampling is reproducible


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "/no/such/run", "--prompt", "to be"], "is not a model folder"),
        (["--prompt", ""], "the prompt is empty"),
        (["--prompt", "to be 3"], "characters the model never saw"),
        (["--prompt", "to be", "--top-p", "1.5"], "--top-p"),
    ],
)
def test_cli_user_errors_are_one_line(tiny_run, args, message, capsys):
    run_dir, _ = tiny_run
    if "--model" not in args:
        args = ["--model", str(run_dir), *args]
    code, _, err = cli_in_process(["generate", *args], capsys)
    assert code == 2
    assert message in err and err.count("\n") == 1


def test_recipe_bad_key_is_a_one_line_error(tiny_text_file, tmp_path):
    result = run_cli(sys.executable, "recipes/char_rnn.py", "--config", "recipes/configs/char_rnn_quick.yaml",
                     "--model.hiden_size", "8")
    assert result.returncode == 2
    assert "did you mean `model.hidden_size`?" in result.stderr and "Traceback" not in result.stderr


def test_recipe_bad_data_path_is_a_one_line_error(tmp_path):
    result = run_cli(sys.executable, "recipes/char_rnn.py", "--config", "recipes/configs/char_rnn_quick.yaml",
                     "--data.source", str(tmp_path / "missing.txt"), "--train.output_dir", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "missing.txt` does not exist" in result.stderr and "Traceback" not in result.stderr


def test_stateful_recipe_trains_and_generates_statelessly(tiny_text_file, tmp_path):
    from recipes.char_rnn import main

    metrics = main(tiny_args(tiny_text_file, tmp_path / "run", "--data.stateful", "true", "--train.batch_size", "4"))
    # 4 streams of (2000 - 1) // 4 = 499 chars -> 24 windows of 20 each.
    assert metrics["validation"]["chars"] == 4 * 24 * WINDOW
    assert metrics["validation"]["loss"] < math.log(metrics["distinct_chars"] + 2)
    # Also scored on independent windows from a zero state, like a stateless run.
    assert metrics["validation_stateless"]["chars"] == ((2000 - WINDOW - 1) // WINDOW + 1) * WINDOW
    assert json.loads((tmp_path / "run" / "all_results.json").read_text())["config"]["data"]["stateful"] is True


def test_gpt2_trains_on_the_same_windows_and_generates_past_its_context(tiny_text_file, tmp_path, capsys):
    from recipes.char_rnn import main

    run_dir = tmp_path / "gpt2"
    metrics = main(tiny_args(tiny_text_file, run_dir, "--model.architecture", "gpt2", "--model.num_layers", "2",
                             "--model.num_heads", "4", "--train.learning_rate", "0.003"))
    config = json.loads((run_dir / "best_model" / "config.json").read_text())
    assert config["model_type"] == "gpt2" and config["n_positions"] == WINDOW and config["n_embd"] == 32
    # Scored on exactly the windows and characters an RNN run is scored on, and learned from them.
    assert metrics["validation"]["chars"] == ((2000 - WINDOW - 1) // WINDOW + 1) * WINDOW
    assert metrics["validation"]["loss"] < 2.6 and metrics["train_steps"] == 150
    # 40 new characters after a 17-character prompt is beyond the 20-character context: written in segments.
    assert all(len(text) == len("to be or not to b") + 40 for text in metrics["samples"].values())
    code, out, err = cli_in_process(["generate", "--model", str(run_dir), "--prompt", "First", "--max-new-tokens",
                                     "60", "--temperature", "0.8", "--seed", "3"], capsys)
    assert code == 0, err
    assert out.startswith("First") and len(out.rstrip("\n")) == len("First") + 60
    report = json.loads((run_dir / "all_results.json").read_text())
    assert report["config"]["model"]["architecture"] == "gpt2"


@pytest.mark.parametrize(("extra", "message"), [
    (["--data.stateful", "true"], "GPT-2 has none"),
    (["--model.hidden_size", "30", "--model.num_heads", "4"], "is not a multiple of `--model.num_heads` 4"),
])
def test_gpt2_settings_it_cannot_take_are_one_sentence(tiny_text_file, tmp_path, capsys, extra, message):
    code, _, err = cli_in_process(["train", "char_rnn", *tiny_args(tiny_text_file, tmp_path / "run")[0:2],
                                   "--model.architecture", "gpt2", *extra], capsys)
    assert code == 2 and message in err and err.count("\n") == 1


def test_two_cpu_processes_gather_every_eval_example_once(tiny_text_file, tmp_path):
    """DDP on 2 CPU processes (gloo): eval counts equal the dataset's, despite an uneven last batch."""
    run_dir = tmp_path / "ddp"
    result = run_cli(
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "recipes/char_rnn.py",
        *tiny_args(tiny_text_file, run_dir, "--train.max_steps", "10", "--train.eval_every", "5",
                   "--train.report_to", "tensorboard"),
        env_extra={"ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    saved = json.loads((run_dir / "metrics.json").read_text())
    windows = (2000 - WINDOW - 1) // WINDOW + 1  # 99 windows: 15 batches of 7 over 2 processes is uneven
    assert saved["validation"]["chars"] == windows * WINDOW
    assert saved["test"]["chars"] == windows * WINDOW
    evals = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if "eval_count" in line]
    assert [e["eval_count"] for e in evals] == [windows * WINDOW] * 2
    assert json.loads((run_dir / "all_results.json").read_text())["environment"]["num_processes"] == 2
    # One tracker run for the two processes: one TensorBoard event file, holding each evaluation once.
    assert len(list((run_dir / "tensorboard").glob("events.out.tfevents.*"))) == 1
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    assert [event.step for event in events.Scalars("eval/count")] == [5, 10]


def test_accelerate_launch_on_a_cpu_machine_trains_on_every_core(tiny_text_file, tmp_path):
    """`accelerate launch` without a GPU pins OMP_NUM_THREADS=1; the Trainer takes the cores back."""
    import psutil

    run_dir = tmp_path / "launched"
    env = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    result = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "recipes/char_rnn.py",
         *tiny_args(tiny_text_file, run_dir, "--train.max_steps", "2", "--train.eval_every", "2")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    environment = json.loads((run_dir / "all_results.json").read_text())["environment"]
    assert environment["torch_threads_per_process"] == psutil.cpu_count(logical=False)

    pinned = tmp_path / "pinned"
    result = run_cli(sys.executable, "recipes/char_rnn.py",
                     *tiny_args(tiny_text_file, pinned, "--train.max_steps", "2", "--train.cpu_threads", "1"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((pinned / "all_results.json").read_text())["environment"]["torch_threads_per_process"] == 1


def test_cli_generates_from_a_hub_model_id_over_http(tiny_run, tmp_path, capsys):
    from tests.hub.local_hub import LocalHub

    run_dir, _ = tiny_run
    with LocalHub({"someone/char-rnn-shakespeare": run_dir / "best_model"}) as hub:
        env = {"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf_home")}
        from_hub = run_cli(HF_NLP, "generate", "--model", "someone/char-rnn-shakespeare", "--prompt", "First",
                           "--max-new-tokens", "20", env_extra=env)
        missing = run_cli(HF_NLP, "generate", "--model", "someone/missing", "--prompt", "First", env_extra=env)
    local = cli_in_process(["generate", "--model", str(run_dir), "--prompt", "First", "--max-new-tokens", "20"], capsys)
    assert from_hub.returncode == 0, from_hub.stderr[-2000:]
    assert from_hub.stdout == local[1]  # greedy: same weights, same text
    assert any(r.endswith("/model.safetensors") for r in hub.requests)
    assert missing.returncode == 2 and "could not load model `someone/missing`" in missing.stderr


@pytest.mark.slow  # Ctrl-C of the recipe is in the default run in tests/reliability/test_kill_and_rerun.py
def test_ctrl_c_saves_a_checkpoint_and_the_run_resumes(tiny_text_file, tmp_path):
    import signal
    import time

    run_dir = tmp_path / "run"
    args = [sys.executable, "recipes/char_rnn.py", *tiny_args(tiny_text_file, run_dir, "--train.max_steps", "100000",
                                                             "--train.save_every", "0", "--train.eval_every", "0")]
    process = subprocess.Popen(args, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = run_dir / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while not (log.is_file() and log.read_text().count("\n") >= 3) and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    assert "Rerun the same command to resume" in stderr and "Traceback" not in stderr
    checkpoint = sorted((run_dir / "checkpoints").iterdir())[-1]
    stopped_at = json.loads((checkpoint / "trainer_state.json").read_text())["global_step"]
    assert stopped_at >= 15

    resumed = run_cli(*args[:2], *tiny_args(tiny_text_file, run_dir, "--train.max_steps", str(stopped_at + 10),
                                            "--train.resume_from", "latest"))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads((run_dir / "metrics.json").read_text())["train_steps"] == stopped_at + 10
