"""Loading models by run folder, model folder or Hub id (the Hub endpoint comes from HF_ENDPOINT)."""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml
from safetensors import SafetensorError

from hf_nlp.errors import UserError
from hf_nlp.hub_client import not_answering_in
from hf_nlp.manifest import MANIFEST, DamagedFileError, verify
from hf_nlp.model_card import build_model_card, write_model_card

LOCAL_CACHES = ("ctranslate2-",)
"""Folders kept beside a model on this machine only (conversions, see generation.ctranslate2_backend): never pushed."""
LOCAL_FILES = (MANIFEST,)
"""Files of a local model folder that stay local: the manifest guards this copy (the Hub checks its own)."""


def resolve_model_dir(model: str) -> str:
    """A model folder, a run folder holding `best_model/`, or a Hub id (passed through)."""
    path = Path(model).expanduser()
    if (path / "best_model" / "config.json").is_file():
        return str(path / "best_model")
    if (path / "config.json").is_file():
        return str(path)
    if path.exists() or model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise UserError(f"`{model}` is not a model folder (no config.json); pass a run folder, its best_model/, or a Hub id.")
    if path.parent.name and path.parent.is_dir():  # `runs/typo` beside a local `runs/`: a path, not a Hub id
        raise UserError(f"`{model}` does not exist (`{path.parent}/` is a local folder); check the run folder's name, "
                        "or train it first.")
    return model


def check_model_folder(folder: str | Path) -> None:
    """Raise one sentence naming the damaged file of a local model folder before anything reads it: files
    that do not match the folder's manifest (written with every best model), JSON or YAML that does not
    parse, safetensors whose header or length is wrong. A Hub id (not a folder) is left to the Hub."""
    from safetensors import SafetensorError, safe_open

    folder = Path(folder)
    if not folder.is_dir():
        return
    try:
        for path in sorted(folder.iterdir()):
            if path.suffix == ".json":
                _parse(path, json.loads)
            elif path.suffix in (".yaml", ".yml"):
                _parse(path, yaml.safe_load)
            elif path.suffix == ".safetensors":
                try:
                    with safe_open(str(path), framework="pt"):
                        pass
                except (SafetensorError, OSError) as error:
                    raise DamagedFileError(f"{path.name} is not a readable safetensors file ({error})") from None
        if (folder / MANIFEST).is_file():  # what parses may still be damaged: a flipped byte, a stale copy
            verify(folder)
    except DamagedFileError as error:
        run = " (`--train.overwrite true`)" if folder.name == "best_model" else ""
        raise UserError(f"model folder `{folder}` is damaged: {error}; restore it from a copy, or train it again"
                        f"{run}.") from None


def _parse(path: Path, parse) -> None:
    try:
        parse(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError, yaml.YAMLError) as error:
        where = f" at line {error.lineno}" if getattr(error, "lineno", None) else ""
        raise DamagedFileError(f"{path.name} does not parse{where}") from None


def load_model_and_tokenizer(model: str, auto_class_name: str = "AutoModelForCausalLM", dtype: str = "float32"):
    """The model (eval mode, weights in `dtype`: float32 or bfloat16) and its tokenizer."""
    import torch
    import transformers

    transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bar in a CLI

    source = resolve_model_dir(model)
    check_model_folder(source)
    auto_class = getattr(transformers, auto_class_name)
    with _loading(model):
        loaded = auto_class.from_pretrained(source, dtype=getattr(torch, dtype))
        tokenizer = transformers.AutoTokenizer.from_pretrained(source)
    return loaded.eval(), tokenizer


def load_config_and_tokenizer(model: str):
    """The model's config and tokenizer, without its weights (to look at a model before loading it)."""
    import transformers

    source = resolve_model_dir(model)
    check_model_folder(source)
    with _loading(model):
        return transformers.AutoConfig.from_pretrained(source), transformers.AutoTokenizer.from_pretrained(source)


@contextmanager
def _loading(model: str):
    """Loading errors as one sentence: missing files / unreachable Hub; unusable config or tokenizer."""
    try:
        yield
    except (OSError, ValueError, SafetensorError) as error:  # a damaged file in the Hub cache, too
        silent = not_answering_in(error)
        if silent is not None:
            raise UserError(f"could not load model `{model}`: {silent}.") from None
        raise UserError(f"could not load model `{model}` ({str(error).splitlines()[0][:120]}); check the path or Hub id.") from None


# --------------------------------------------------------------------------- pushing


@dataclass
class PushConfig:
    """The `push_to_hub:` section of a recipe config: push the best model when the run ends."""

    repo_id: str | None = None
    """`user/name` (or `org/name`) to push to; unset: nothing is pushed."""
    private: bool = False
    revision: str | None = None
    """A branch to push to (created from main when missing); default: main."""


@dataclass
class PushResult:
    repo_url: str
    commit: str
    revision: str
    files: list[str]

    def __str__(self) -> str:
        return f"pushed {len(self.files)} files to {self.repo_url} ({self.revision} @ {self.commit[:10]})"


# Run-level files that travel with the model, under `report/` in the repo.
REPORT_FILES = ("report.md", "metrics.json", "all_results.json")


def push_model(model: str, repo_id: str, private: bool = False, revision: str | None = None) -> PushResult:
    """Upload a trained model folder (weights, config, tokenizer, recipe config, a model card naming
    `repo_id`) and its run's report to `repo_id` in one commit. The endpoint and token are the
    usual `HF_ENDPOINT` and `HF_TOKEN` / `hf auth login`. The local folder is only read."""
    from huggingface_hub import CommitOperationAdd, HfApi, constants
    from huggingface_hub.errors import HfHubHTTPError

    model_dir = Path(resolve_model_dir(model))
    if not (model_dir / "config.json").is_file():
        raise UserError(f"`{model}` is not a local model folder; push a run folder or its best_model/.")
    check_model_folder(model_dir)  # never upload a damaged file
    _check_repo_id(repo_id, f"--repo-id {repo_id}")
    endpoint = constants.ENDPOINT
    api = HfApi()
    user = _hub_user(api, endpoint)
    card = str(build_model_card(model_dir, repo_id)).encode("utf-8")
    operations = [CommitOperationAdd("README.md", card)]
    operations += [CommitOperationAdd(p.relative_to(model_dir).as_posix(), str(p))
                   for p in sorted(model_dir.rglob("*")) if p.is_file() and p.name not in ("README.md", *LOCAL_FILES)
                   and not p.relative_to(model_dir).parts[0].startswith(LOCAL_CACHES)]
    run_dir = model_dir.parent if model_dir.name == "best_model" else None
    if run_dir is not None:
        reports = [run_dir / name for name in REPORT_FILES] + sorted(run_dir.glob("*.png"))
        operations += [CommitOperationAdd(f"report/{p.name}", str(p)) for p in reports if p.is_file()]
    branch = revision or "main"
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True)
        if branch != "main":
            api.create_branch(repo_id, branch=branch, exist_ok=True)
        info = api.create_commit(repo_id, operations, revision=branch,
                                 commit_message=f"Upload {model_dir.resolve().parent.name} (hf-nlp)")
    except HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else None
        if status in (401, 403):
            raise UserError(f"`{user}` may not write to `{repo_id}` on {endpoint} (HTTP {status}): the name belongs "
                            f"to another user or organisation; push to `{user}/{repo_id.split('/')[1]}`.") from None
        raise UserError(f"the Hub at {endpoint} refused the push ({str(error).splitlines()[0][:160]}).") from None
    except _network_errors() as error:  # connection refused / reset midway / silent
        raise _unreachable(endpoint, error, "then push again") from None
    return PushResult(str(url), info.oid, branch, [op.path_in_repo for op in operations])


def _hub_user(api, endpoint: str) -> str:
    """The token's user name, or one sentence on why there is none."""
    from huggingface_hub import get_token
    from huggingface_hub.errors import HfHubHTTPError

    if get_token() is None:
        raise UserError("no Hub token: run `hf auth login` or set HF_TOKEN, then push again.")
    try:
        return api.whoami()["name"]
    except HfHubHTTPError as error:
        if error.response is not None and error.response.status_code == 401:
            raise UserError(f"the Hub at {endpoint} rejected your token; run `hf auth login` again or set a valid "
                            "HF_TOKEN.") from None
        raise UserError(f"the Hub at {endpoint} answered whoami with an error ({str(error).splitlines()[0][:120]}).") from None
    except _network_errors() as error:
        raise _unreachable(endpoint, error, "then try again") from None


def _unreachable(endpoint: str, error: BaseException, then: str) -> UserError:
    silent = not_answering_in(error)
    if silent:
        return UserError(f"{silent}; {then}.")
    return UserError(f"could not reach the Hub at {endpoint} ({type(error).__name__}); check HF_ENDPOINT and your "
                     f"connection, {then}.")


def _check_repo_id(repo_id: str, setting: str) -> None:
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise UserError(f"`{setting}` must look like `user/name` or `org/name`.")
    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        raise UserError(f"`{setting}` is not a valid repo id: use letters, digits, `-`, `_` and `.` (at most 96 "
                        "characters), as in `user/name`.") from None


def _network_errors() -> tuple[type[BaseException], ...]:
    """Connection failures as raised by huggingface_hub's HTTP client (httpx2 in hub 2.x), and OSError."""
    from huggingface_hub.utils import _http

    client = getattr(_http, "httpx2", None) or getattr(_http, "httpx", None)
    return (OSError, client.TransportError) if client is not None else (OSError,)


def check_push_target(push: PushConfig) -> None:
    """Before a run trains: a set `push_to_hub.repo_id` needs a valid token (fail now, not after training)."""
    from huggingface_hub import HfApi, constants

    if push.repo_id:
        _check_repo_id(push.repo_id, f"push_to_hub.repo_id: {push.repo_id}")
        _hub_user(HfApi(), constants.ENDPOINT)


def finish_model_folder(model_dir: Path, push: PushConfig, log=print) -> PushResult | None:
    """At the end of a run: write the model card into `model_dir`, and push when `push.repo_id` is set."""
    write_model_card(Path(model_dir))
    if not push.repo_id:
        return None
    pushed = push_model(str(model_dir), push.repo_id, private=push.private, revision=push.revision)
    log(str(pushed))
    return pushed
