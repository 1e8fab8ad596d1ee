"""Crash-safe training checkpoints that run no code when read.

A checkpoint `checkpoints/step_00000150/` holds

    model.safetensors                  the unwrapped model's weights
    optimizer.safetensors + .json      the optimizer's tensors, and the rest of its state as JSON
    scheduler.json                     the learning-rate schedule's position
    scaler.json                        the fp16 loss scaler (GPU fp16 runs only)
    rng_state_<process>.json           python, numpy and torch generators of each process
    process_state_<process>.json       what else is each process' own: its training-loss window
    carried_state_<process>.safetensors  stateful RNN training: each process' carried state
    stream_state_<process>.json        streamed data: each process' stream position and shuffle buffer
    trainer_state.json                 step, epoch, data position, best metric, logging window
    config.yaml                        the run's config (when the recipe gives one)
    manifest.json                      written last: each file's size and sha256

Everything is JSON or safetensors, so resuming never unpickles (accelerate's `save_state` pickles the
scheduler and loads it with `weights_only=False`: a crafted file there would run code). The folder is
built as `.step_00000150.partial/` and renamed once its manifest is written, so a `step_*` folder is
complete by construction; `verify` then checks every byte against the manifest, which catches files
damaged after the fact (a truncated copy, a full disk, a flipped bit).
"""

from __future__ import annotations

import base64
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from hf_nlp.atomic import OLD_SUFFIX, PARTIAL_SUFFIX, recover_folder, write_json_atomic
from hf_nlp.manifest import MANIFEST, read_json, require, verify, write_manifest
from hf_nlp.manifest import DamagedFileError as CheckpointError

TRAINER_STATE = "trainer_state.json"
MODEL_WEIGHTS = "model.safetensors"
OPTIMIZER_TENSORS = "optimizer.safetensors"
OPTIMIZER_STATE = "optimizer.json"
SCHEDULER_STATE = "scheduler.json"
SCALER_STATE = "scaler.json"
RNG_STATE = "rng_state_{}.json"
CARRIED_STATE = "carried_state_{}.safetensors"
STREAM_STATE = "stream_state_{}.json"
PROCESS_STATE = "process_state_{}.json"
_STEP_FOLDER = re.compile(r"^step_(\d+)$")


# --------------------------------------------------------------------------- folders


def checkpoint_folder(root: Path, step: int) -> Path:
    return root / f"step_{step:08d}"


def checkpoint_step(folder: Path) -> int | None:
    match = _STEP_FOLDER.match(folder.name)
    return int(match.group(1)) if match else None


def list_checkpoints(root: Path) -> list[Path]:
    """`step_*` folders under `root`, oldest first (complete or not)."""
    if not root.is_dir():
        return []
    found = [path for path in root.iterdir() if path.is_dir() and checkpoint_step(path) is not None]
    return sorted(found, key=checkpoint_step)


def is_complete(folder: Path) -> bool:
    """Has its manifest (cheap; `verify` checks the bytes)."""
    return (folder / MANIFEST).is_file()


def rotate(root: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` complete checkpoints, every incomplete one, and leftover staging
    folders of interrupted writes; returns what was deleted."""
    checkpoints = list_checkpoints(root)
    complete = [path for path in checkpoints if is_complete(path)]
    stale = complete[:-keep] + [path for path in checkpoints if not is_complete(path)]
    stale += [path for path in root.glob(f".step_*{PARTIAL_SUFFIX}") if path.is_dir()]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return stale


def recover(root: Path) -> None:
    """Undo a crash between the two renames of a checkpoint replacing one of the same step (a finished
    run rerun writes its last checkpoint again): the previous version comes back."""
    for old in root.glob(f".step_*{OLD_SUFFIX}"):
        recover_folder(root / old.name[1 : -len(OLD_SUFFIX)])


# --------------------------------------------------------------------------- tensors


def save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    save_file({name: t.detach().cpu().contiguous() for name, t in tensors.items()}, str(path))


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{path.name} is not a readable safetensors file ({error.__class__.__name__})") from None


# --------------------------------------------------------------------------- optimizer


def save_optimizer(folder: Path, state_dict: dict) -> None:
    """Tensors to safetensors, everything else (param groups, plain numbers) to JSON."""
    tensors: dict[str, torch.Tensor] = {}
    state: dict[str, dict[str, Any]] = {}
    for param_id, entries in state_dict["state"].items():
        state[str(param_id)] = {}
        for key, value in entries.items():
            if torch.is_tensor(value):
                name = f"{param_id}.{key}"
                tensors[name] = value
                value = {"tensor": name}
            state[str(param_id)][key] = value
    save_tensors(folder / OPTIMIZER_TENSORS, tensors)
    write_json_atomic(folder / OPTIMIZER_STATE, {"state": state, "param_groups": state_dict["param_groups"]})


def load_optimizer(folder: Path) -> dict:
    tensors = load_tensors(require(folder, OPTIMIZER_TENSORS))
    saved = read_json(require(folder, OPTIMIZER_STATE), "optimizer state")
    try:
        # Keyed by parameter index, or by parameter name when gathered from a sharded (FSDP) run.
        state = {int(param_id) if param_id.isdigit() else param_id: {key: tensors[value["tensor"]] if isinstance(value, dict) else value
                                 for key, value in entries.items()}
                 for param_id, entries in saved["state"].items()}
        # JSON has no tuples; optimizers unpack `betas` either way, but keep the saved form exact.
        groups = [{key: tuple(value) if isinstance(value, list) and key != "params" else value
                   for key, value in group.items()} for group in saved["param_groups"]]
    except (KeyError, TypeError, ValueError, AttributeError):
        raise CheckpointError(f"{OPTIMIZER_STATE} does not match {OPTIMIZER_TENSORS}") from None
    return {"state": state, "param_groups": groups}


# --------------------------------------------------------------------------- random generators


def rng_state() -> dict[str, Any]:
    """Every generator a training step draws from (python, numpy, torch CPU and CUDA) as JSON values."""
    version, internal, gauss_next = random.getstate()
    kind, keys, position, has_gauss, cached = np.random.get_state()
    return {
        "python": [version, list(internal), gauss_next],
        "numpy": [kind, keys.tolist(), position, has_gauss, cached],
        "torch": _bytes_to_text(torch.get_rng_state()),
        "cuda": [_bytes_to_text(s) for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else [],
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    try:
        version, internal, gauss_next = state["python"]
        random.setstate((version, tuple(internal), gauss_next))
        kind, keys, position, has_gauss, cached = state["numpy"]
        np.random.set_state((kind, np.array(keys, dtype=np.uint32), position, has_gauss, cached))
        torch.set_rng_state(_text_to_bytes(state["torch"]))
        if state["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([_text_to_bytes(s) for s in state["cuda"]])
    except (KeyError, TypeError, ValueError, RuntimeError):
        raise CheckpointError("the random generator state cannot be restored") from None


def _bytes_to_text(tensor: torch.Tensor) -> str:
    return base64.b64encode(tensor.cpu().numpy().tobytes()).decode("ascii")


def _text_to_bytes(text: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8)


__all__ = [
    "CheckpointError", "SafetensorError", "MANIFEST", "TRAINER_STATE", "MODEL_WEIGHTS", "SCHEDULER_STATE", "SCALER_STATE", "RNG_STATE",
    "CARRIED_STATE", "checkpoint_folder", "checkpoint_step", "list_checkpoints", "is_complete", "rotate", "recover",
    "write_manifest", "verify", "require", "read_json", "save_tensors", "load_tensors", "save_optimizer",
    "load_optimizer", "rng_state", "restore_rng_state",
]
