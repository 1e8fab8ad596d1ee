"""Folder manifests: every file's size and sha256, written last, so damage is found before it is read.

A checkpoint and a best model each carry `manifest.json`. Because it is written after every other file
(and the folder renamed into place after it), a folder with a manifest was complete when written;
`verify` then proves no listed file was truncated, replaced or flipped since (a partial copy, a full
disk, bit rot). Files added later (a model card, a local conversion cache) are simply not listed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from hf_nlp.atomic import write_json_atomic
from hf_nlp.errors import UserError

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


class DamagedFileError(Exception):
    """A folder whose files do not match their manifest, or a file that cannot be parsed; the message
    names the file and what is wrong with it."""


def write_manifest(folder: Path, **extra: Any) -> None:
    """Record the size and checksum of every file under `folder` (plus `extra` fields)."""
    files = {path.relative_to(folder).as_posix(): {"bytes": path.stat().st_size, "sha256": sha256(path)}
             for path in sorted(folder.rglob("*")) if path.is_file() and path != folder / MANIFEST}
    write_json_atomic(folder / MANIFEST, {"format": FORMAT_VERSION, **extra, "files": files})


def verify(folder: Path, checksums: bool = True) -> None:
    """Raise `DamagedFileError` unless every file the manifest lists is there with its size and (unless
    `checksums` is False: sizes alone catch truncation at no cost) its checksum."""
    for name, expected in listed_files(folder).items():
        path = folder / name
        if not path.is_file():
            raise DamagedFileError(f"{name} is missing")
        if path.stat().st_size != expected.get("bytes"):
            raise DamagedFileError(f"{name} has {path.stat().st_size} bytes, not the {expected.get('bytes')} written")
        if checksums and sha256(path) != expected.get("sha256"):
            raise DamagedFileError(f"{name} does not match its checksum")


def listed_files(folder: Path) -> dict[str, dict[str, Any]]:
    manifest = read_json(folder / MANIFEST, "manifest")
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION or not isinstance(files, dict):
        raise DamagedFileError(f"{MANIFEST} is not a format-{FORMAT_VERSION} hf-nlp manifest")
    return files


def require(folder: Path, name: str) -> Path:
    """`folder/name`, which the manifest must list (so a file planted after it was written is never read)."""
    if name not in listed_files(folder):
        raise DamagedFileError(f"{name} is missing")
    return folder / name


def read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DamagedFileError(f"{path.name} is missing") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise DamagedFileError(f"{path.name} is not valid JSON ({what})") from None


def read_json_file(path: Path, fix: str) -> Any:
    """A JSON file another step wrote (a run's metrics, a model's config), or one sentence naming it and
    `fix` when it is not valid JSON (cut short, overwritten, not text)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise UserError(f"`{path}` is damaged (not valid JSON); {fix}.") from None


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


__all__ = ["MANIFEST", "DamagedFileError", "write_manifest", "verify", "listed_files", "require", "read_json",
           "read_json_file", "sha256"]
