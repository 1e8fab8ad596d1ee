"""`hf-nlp recipes`, `hf-nlp train` and `hf-nlp config copy`: recipes run from a pip install, from any directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from hf_nlp import cli
from hf_nlp.errors import UserError
from hf_nlp.launch import accelerate_launch_command
from recipes import ACCELERATE_CONFIGS_DIR, CONFIGS, RECIPES, accelerate_configs, config_file
from tests.conftest import REPO_ROOT, cli_in_process

SCRIPT = Path("recipe.py")


def test_one_process_by_default():
    command = accelerate_launch_command(SCRIPT, ["--config", "c.yaml"], None, None, gpus=0)
    assert command.argv[:4] == [sys.executable, "-m", "accelerate.commands.launch", "--quiet"]
    assert command.argv[command.argv.index("--num_processes") + 1] == "1"
    assert "--multi_gpu" not in command.argv and command.env == {}
    assert command.argv[-3:] == ["recipe.py", "--config", "c.yaml"]


def test_several_cpu_processes_are_ddp_over_gloo():
    command = accelerate_launch_command(SCRIPT, [], 2, None, gpus=0)
    assert "--multi_gpu" in command.argv and command.env == {"ACCELERATE_USE_CPU": "1"}
    assert command.argv[command.argv.index("--num_processes") + 1] == "2"


def test_several_gpus_use_them_and_never_more_than_there_are():
    command = accelerate_launch_command(SCRIPT, [], 2, None, gpus=2)
    assert "--multi_gpu" in command.argv and command.env == {}
    with pytest.raises(UserError, match="more processes than this machine's 2 GPU"):
        accelerate_launch_command(SCRIPT, [], 4, None, gpus=2)


def test_the_users_accelerate_config_decides(tmp_path):
    config = tmp_path / "accelerate.yaml"
    config.write_text("num_processes: 8\n")
    command = accelerate_launch_command(SCRIPT, ["--x", "1"], None, config, gpus=8)
    assert command.argv[4:] == ["--config_file", str(config), "recipe.py", "--x", "1"]
    assert "--num_processes" in accelerate_launch_command(SCRIPT, [], 2, config, gpus=8).argv
    with pytest.raises(UserError, match="accelerate config"):
        accelerate_launch_command(SCRIPT, [], None, tmp_path / "missing.yaml", gpus=0)


def test_shipped_accelerate_configs_are_named_parse_and_show_their_commands(capsys):
    from accelerate.commands.config.config_args import load_config_from_file

    names = accelerate_configs()
    assert {"cpu_2_processes", "gpu_1", "multi_gpu", "fsdp2", "two_machines", "deepspeed_zero2"} <= set(names)
    for name in names:
        path = cli._accelerate_config_path(name)
        assert path == ACCELERATE_CONFIGS_DIR / f"{name}.yaml"
        config = load_config_from_file(str(path))  # accelerate's own reader accepts it
        assert config.num_processes >= 1 and config.mixed_precision == "no", name  # precision: the recipe's flag
        assert f"accelerate launch --config_file recipes/accelerate/{name}.yaml" in path.read_text(), name
    assert cli._accelerate_config_path("my/accelerate.yaml") == Path("my/accelerate.yaml")
    code, _, err = cli_in_process(["train", "char_rnn", "--accelerate-config", "two_machine"], capsys)
    assert code == 2 and "unknown accelerate config `two_machine`; did you mean `two_machines`?" in err


def test_recipes_lists_every_recipe_and_config_with_its_time(capsys):
    code, out, _ = cli_in_process(["recipes"], capsys)
    assert code == 0
    lines = out.splitlines()
    for name, recipe in RECIPES.items():
        assert any(line.startswith(name + " ") and recipe.trains in line for line in lines), name
    for name, config in CONFIGS.items():
        line = next(line for line in lines if line.strip().split()[0] == name and line.startswith("  "))
        assert config.what in line
        assert ("—" if config.minutes is None else "min" if config.minutes >= 1 else " s") in line


@pytest.mark.parametrize("argv, message", [
    (["train", "char_rn"], "unknown recipe `char_rn`; did you mean `char_rnn`?"),
    (["train", "char_rnn", "--config", "char_rnn_quik"], "did you mean `char_rnn_quick`?"),
    (["train", "char_rnn", "--config", "seq2seq_quick"], "`hf-nlp train translate_seq2seq --config seq2seq_quick`"),
    (["train", "char_rnn", "--config", "nowhere/mine.yaml"], "there is no config file `nowhere/mine.yaml`"),
    (["train", "char_rnn", "--train.lerning_rate", "3"], "did you mean `train.learning_rate`?"),
    (["train", "char_rnn", "--train.max_steps", "0"], "`--train.max_steps` must be at least 1"),
    (["train", "compare_mt", "--num-processes", "2"], "runs in one process"),
    (["train", "char_rnn", "--num-processes", "0"], "must be at least 1"),
    (["config", "copy", "nope"], "unknown config `nope`"),
    (["report", "runs", "--train.max_steps", "3"], "unrecognized arguments: --train.max_steps 3"),
])
def test_mistakes_are_one_sentence_and_exit_2(argv, message, capsys):
    code, out, err = cli_in_process(argv, capsys)
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err


def test_keys_lists_the_recipes_config_keys(capsys):
    code, out, _ = cli_in_process(["train", "char_rnn", "--keys"], capsys)
    assert code == 0 and "--train.max_steps" in out and "--model.hidden_size" in out


def test_config_copy_copies_a_shipped_config_and_never_overwrites(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli_in_process(["config", "copy", "char_rnn_quick"], capsys)[0] == 0
    assert (tmp_path / "char_rnn_quick.yaml").read_bytes() == config_file("char_rnn_quick").read_bytes()
    (tmp_path / "mine").mkdir()
    code, out, _ = cli_in_process(["config", "copy", "seq2seq_quick.yaml", "mine"], capsys)
    assert code == 0 and (tmp_path / "mine" / "seq2seq_quick.yaml").is_file()
    assert "hf-nlp train translate_seq2seq --config mine/seq2seq_quick.yaml" in out
    before = (tmp_path / "char_rnn_quick.yaml").read_text()
    code, _, err = cli_in_process(["config", "copy", "char_rnn_fast", "char_rnn_quick.yaml"], capsys)
    assert code == 2 and "already exists" in err
    assert (tmp_path / "char_rnn_quick.yaml").read_text() == before


@pytest.mark.e2e
@pytest.mark.slow  # .ci/run builds and trains the wheel in a fresh venv too
def test_the_wheel_trains_from_an_empty_directory(tmp_path):
    """Build the wheel, install it (no editable link, no clone on the path) into a fresh venv whose
    dependencies come from this environment, then list recipes and train from an empty folder."""
    source = tmp_path / "source"  # a copy, so that setuptools' build/ folder is not left in the clone
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "hf_nlp", "recipes"):
        copy = shutil.copytree if (REPO_ROOT / name).is_dir() else shutil.copy
        copy(REPO_ROOT / name, source / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                                  if (REPO_ROOT / name).is_dir() else {}))
    wheels = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
                    str(source)], check=True, capture_output=True, timeout=300, cwd=tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    site = Path(subprocess.run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "zz_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")  # torch, transformers, data...
    subprocess.run([venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    *map(str, wheels.glob("*.whl"))], check=True, capture_output=True, timeout=300)
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {**os.environ, "PYTHONPATH": ""}
    listed = subprocess.run([venv / "bin" / "hf-nlp", "recipes"], cwd=empty, env=env, capture_output=True, text=True,
                            timeout=120)
    assert listed.returncode == 0 and "char_rnn_quick" in listed.stdout, listed.stderr[-2000:]
    assert "two_machines" in listed.stdout  # the accelerate configs ship in the wheel too
    trained = subprocess.run([venv / "bin" / "hf-nlp", "train", "char_rnn", "--config", "char_rnn_quick",
                              "--train.max_steps", "50", "--train.eval_every", "50"],
                             cwd=empty, env=env, capture_output=True, text=True, timeout=600)
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert f"{site}/hf_nlp/recipes/char_rnn.py" in trained.stderr  # the wheel's copy ran, not the clone's
    metrics = json.loads((empty / "runs" / "char_rnn_quick" / "metrics.json").read_text())
    assert metrics["validation"]["loss"] < 3.5  # a uniform guess over the ~40 characters scores ln(40) = 3.69
    assert (empty / "runs" / "char_rnn_quick" / "best_model" / "model.safetensors").is_file()
