"""The `accelerate launch` command line that `hf-nlp train` runs a recipe with.

Three cases, as the docs' "Running recipes" page describes:

- the user has an accelerate config (`accelerate config` wrote one, or `--accelerate-config FILE`):
  it decides everything; `--num-processes N` overrides only its process count;
- no config, one process (the default): `--num_processes 1`, on the GPU when there is one;
- no config, N processes: DDP, `--multi_gpu --num_processes N`, over NCCL on N GPUs or over gloo on
  CPU processes (`ACCELERATE_USE_CPU=1`: `accelerate launch --cpu` would start only one process).

Precision and threads are not launcher flags here: the recipe's config owns mixed precision (the
training loop passes it to `Accelerator`) and the loop spreads the CPU cores among processes.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from hf_nlp.errors import UserError


@dataclass(frozen=True)
class LaunchCommand:
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)  # added to the current environment


def default_accelerate_config() -> Path | None:
    """The config `accelerate config` writes ($HF_HOME/accelerate/default_config.yaml), if there is one."""
    from accelerate.commands.config.config_args import default_config_file

    path = Path(default_config_file)
    return path if path.is_file() else None


def accelerate_launch_command(script: Path, script_args: list[str], num_processes: int | None,
                              accelerate_config: Path | None, gpus: int) -> LaunchCommand:
    """The command that runs `script script_args` on `num_processes` processes (None: the config's, else 1)."""
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--quiet"]  # the recipe prints its own errors
    if accelerate_config is not None:
        if not accelerate_config.is_file():
            raise UserError(f"there is no accelerate config `{accelerate_config}`; write one with `accelerate config "
                            f"--config_file {accelerate_config}`, or leave `--accelerate-config` out.")
        processes = [] if num_processes is None else ["--num_processes", str(num_processes)]
        return LaunchCommand([*launcher, "--config_file", str(accelerate_config), *processes, str(script),
                              *script_args])
    processes = num_processes or 1
    if gpus and processes > gpus:
        raise UserError(f"--num-processes {processes} asks for more processes than this machine's {gpus} GPU(s); "
                        f"use at most {gpus}, or write a multi-machine setup with `accelerate config`.")
    flags = ["--num_processes", str(processes), "--num_machines", "1", "--mixed_precision", "no",
             "--dynamo_backend", "no"]
    env: dict[str, str] = {}
    if processes > 1:
        flags.insert(0, "--multi_gpu")  # DDP; on CPU the processes talk over gloo
        if not gpus:
            env["ACCELERATE_USE_CPU"] = "1"
    return LaunchCommand([*launcher, *flags, str(script), *script_args], env)
