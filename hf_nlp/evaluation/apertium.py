"""Apertium, the rule-based baseline: `apertium -u eng-spa` over all sentences in one call.

One process per batch, not per sentence (its start-up is ~0.35 s). Debian packages:
`apt-get install apertium apertium-eng-spa`. `-u` drops the marks on unknown words.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Sequence

from hf_nlp.errors import UserError
from hf_nlp.generation.translate import Translations

APERTIUM_INSTALL = "apt-get install apertium apertium-eng-spa"


def apertium_available() -> bool:
    return shutil.which("apertium") is not None


def apertium_translate(texts: Sequence[str], pair: str = "eng-spa") -> Translations:
    """Translations of `texts` (newlines inside a text become spaces), in order, with wall time."""
    if not apertium_available():
        raise UserError(f"Apertium is not installed; run `{APERTIUM_INSTALL}` (Debian/Ubuntu).")
    lines = [" ".join(text.split()) for text in texts]
    started = time.perf_counter()
    # A blank line between sentences: with single newlines Apertium reads the lines as one text, and a
    # sentence without final punctuation runs into the next one ("I love dogs\nI like..." -> "...me gusta").
    result = subprocess.run(["apertium", "-u", pair], input="\n\n".join(lines) + "\n", capture_output=True,
                            text=True, timeout=max(60, len(lines)))
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise UserError(f"apertium {pair} failed ({result.stderr.strip()[:200]}); check `apertium -l` lists {pair}.")
    output = result.stdout.rstrip("\n").split("\n\n")
    if len(output) != len(lines):
        raise UserError(f"apertium returned {len(output)} lines for {len(lines)} sentences.")
    return Translations([line.strip() for line in output], seconds)
