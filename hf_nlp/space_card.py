"""The demo Space's README header (its YAML front matter), kept in step with the app and its models.

Hugging Face Spaces read `sdk_version` (the Gradio a Space is built with: the one the app was tested
with) and `models:` (the Hub models it uses, linked both ways on the Hub) from `space/README.md`.
`expected_header` computes both from the installed gradio and `space/models.yaml`: run folders and
local model folders are not on the Hub, so they are not listed. `header_problems` says in sentences
where the README or `space/requirements.txt` (whose gradio pin must equal `sdk_version`) drifted.

    python -m hf_nlp.space_card            # rewrite the header of space/README.md
    python -m hf_nlp.space_card --check    # exit 1 naming each drift
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import yaml

from hf_nlp.errors import UserError
from hf_nlp.hub_client import looks_like_hub_id
from hf_nlp.space import load_space_config

SPACE_FOLDER = Path(__file__).resolve().parents[1] / "space"
LOCAL_PREFIXES = ("runs/", "reports/", "./", "../", "/", "~")  # where run and model folders live
GRADIO_LINE = re.compile(r"^gradio(?![\w-]).*$", re.MULTILINE)  # gradio, not gradio_client
GRADIO_PIN = re.compile(r"^gradio\s*==\s*([\w.]+)", re.MULTILINE)


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """The README's YAML header and the Markdown after it; the Hub needs the header first, between `---` lines."""
    match = re.match(r"---\n(.*?)\n---\n", text, re.DOTALL)
    if not match:
        raise UserError("space/README.md has no YAML header between `---` lines; the Hub needs one to build the Space.")
    return yaml.safe_load(match.group(1)) or {}, text[match.end():]


def is_hub_id(source: str, root: Path) -> bool:
    """`owner/name` that is not a local folder: the Hub's model pages can only link to these."""
    return not source.startswith(LOCAL_PREFIXES) and not (root / source).exists() and looks_like_hub_id(source)


def hub_models(models_yaml: Path, root: Path) -> list[str]:
    """The Hub ids among the Space's models (every section, and Opus-MT), in file order, once each."""
    config = load_space_config(models_yaml)
    sources = [*config.shakespeare.values(), *config.sentiment.values(), *config.translate.values()]
    if config.opus_mt:
        sources.append(config.opus_mt)
    return list(dict.fromkeys(source for source in sources if is_hub_id(source, root)))


def expected_header(header: dict[str, Any], models_yaml: Path, root: Path) -> dict[str, Any]:
    """`header` with `sdk_version` set to the installed gradio and `models` to the Hub ids of `models_yaml`
    (removed when there are none), other keys kept in their order."""
    updated: dict[str, Any] = {}
    for key, value in header.items():
        if key not in ("sdk_version", "models"):
            updated[key] = value
        if key == "sdk":
            updated["sdk_version"] = version("gradio")
    updated.setdefault("sdk_version", version("gradio"))
    models = hub_models(models_yaml, root)
    if models:
        updated["models"] = models
    return updated


def requirements_pin(requirements: Path) -> str | None:
    """The version in the `gradio==X` line of the Space's requirements, or None when it pins none."""
    match = GRADIO_PIN.search(requirements.read_text(encoding="utf-8"))
    return match.group(1) if match else None


def header_problems(folder: Path = SPACE_FOLDER, root: Path | None = None) -> list[str]:
    """One sentence per drift: no `sdk_version`, a major version other than the installed gradio's (the app's
    API changes across majors; a newer minor is left to `write_header`), a requirements pin that differs, or a
    `models:` list that is not the Hub ids of models.yaml."""
    root = root or folder.parent
    header, _ = split_front_matter((folder / "README.md").read_text(encoding="utf-8"))
    sdk_version = str(header.get("sdk_version") or "")
    problems = []
    if not sdk_version:
        problems.append("space/README.md has no `sdk_version`; run `python -m hf_nlp.space_card`.")
    elif sdk_version.split(".")[0] != version("gradio").split(".")[0]:
        problems.append(f"space/README.md has sdk_version {sdk_version} but gradio {version('gradio')} is installed; "
                        "test the app with it and run `python -m hf_nlp.space_card`.")
    pin = requirements_pin(folder / "requirements.txt")
    if sdk_version and pin != sdk_version:
        problems.append(f"space/requirements.txt pins gradio {pin or '(no `gradio==` line)'}, not sdk_version "
                        f"{sdk_version}; make them equal.")
    models = hub_models(folder / "models.yaml", root)
    if list(header.get("models") or []) != models:
        problems.append(f"space/README.md lists models {header.get('models') or []}, not the Hub ids of "
                        f"space/models.yaml ({models}); run `python -m hf_nlp.space_card`.")
    return problems


def write_header(folder: Path = SPACE_FOLDER, root: Path | None = None) -> dict[str, Any]:
    """Rewrite the README's header from the installed gradio and models.yaml, and pin requirements.txt to the
    same gradio; the Markdown body is kept as it is. Returns the new header."""
    readme, requirements = folder / "README.md", folder / "requirements.txt"
    header, body = split_front_matter(readme.read_text(encoding="utf-8"))
    header = expected_header(header, folder / "models.yaml", root or folder.parent)
    front = yaml.safe_dump(header, sort_keys=False, allow_unicode=True, width=120)
    readme.write_text(f"---\n{front}---\n{body}", encoding="utf-8")
    pinned = f"gradio=={header['sdk_version']}"
    text = requirements.read_text(encoding="utf-8")
    text = GRADIO_LINE.sub(pinned, text, count=1) if GRADIO_LINE.search(text) else f"{text.rstrip()}\n{pinned}\n"
    requirements.write_text(text, encoding="utf-8")
    return header


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report drift (exit 1), write nothing")
    parser.add_argument("--folder", type=Path, default=SPACE_FOLDER, help="the Space folder (default: space/)")
    args = parser.parse_args(argv)
    if args.check:
        problems = header_problems(args.folder)
        print("\n".join(problems) or "space/README.md header is up to date.")  # noqa: T201  (a command's output)
        return 1 if problems else 0
    header = write_header(args.folder)
    print(f"sdk_version {header['sdk_version']}, models: {header.get('models', [])}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
