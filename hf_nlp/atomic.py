"""Files and folders that are either whole or absent: written beside their target, renamed into place.

A process killed at any moment (kill -9, power cut after `fsync`) leaves either the previous version
or the new one, never a half-written file that a later run would read. The rename is atomic on POSIX
filesystems; a folder replacing another takes two renames, and `recover_folder` undoes a crash
between them.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from hf_nlp.errors import UserError

PARTIAL_SUFFIX = ".partial"
OLD_SUFFIX = ".old"


def write_text_atomic(path: str | Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, value: Any) -> None:
    write_text_atomic(path, json.dumps(value, indent=2, ensure_ascii=False))


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write `data` to a temporary sibling, flush it to disk, then rename it over `path`."""
    path = Path(path)
    partial = path.with_name(f".{path.name}{PARTIAL_SUFFIX}-{os.getpid()}")
    try:
        with partial.open("wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def staging_path(target: str | Path) -> Path:
    """The hidden sibling of `target` its next version is built in."""
    target = Path(target)
    return target.with_name(f".{target.name}{PARTIAL_SUFFIX}")


def staging_folder(target: str | Path) -> Path:
    """`staging_path(target)`, created empty (what an interrupted write left there is cleared)."""
    staging = staging_path(target)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def replace_folder(staging: Path, target: str | Path) -> None:
    """Make the finished `staging` folder `target`, replacing any previous version.

    Two renames: the previous version steps aside, the new one takes its name, then the old one is
    deleted. A crash between the renames leaves `target` missing and its old version beside it, which
    `recover_folder` puts back."""
    target = Path(target)
    sync_folder(staging)
    old = target.with_name(f".{target.name}{OLD_SUFFIX}")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    _fsync_path(target.parent)
    shutil.rmtree(old, ignore_errors=True)


def recover_folder(target: str | Path) -> None:
    """Undo a crash inside `replace_folder`: bring the previous version back if the new one never
    arrived; drop any half-built staging folder."""
    target = Path(target)
    old = target.with_name(f".{target.name}{OLD_SUFFIX}")
    if old.is_dir():
        if target.exists():
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(old, target)
    shutil.rmtree(staging_path(target), ignore_errors=True)


def sync_folder(folder: Path) -> None:
    """fsync every file in `folder` and the folder itself (a rename is durable only after its data)."""
    for path in folder.rglob("*"):
        if path.is_file():
            _fsync_path(path)
    _fsync_path(folder)


def check_writable(folder: str | Path, what: str) -> None:
    """Create `folder` if needed and prove a file can be written in it, before any long work starts.

    Raises `UserError` naming the folder, the reason and the setting to change."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as error:
        reason = error.strerror or error.__class__.__name__
        raise UserError(f"cannot write to `{folder}` ({reason}); {what}.") from None


def _fsync_path(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


__all__ = ["write_text_atomic", "write_json_atomic", "write_bytes_atomic", "staging_path", "staging_folder", "replace_folder",
           "recover_folder", "sync_folder", "check_writable"]
