"""Dataclass configs: loaded from YAML, overridden from the command line, saved beside checkpoints.

A recipe config is a tree of dataclasses. `parse_config(RecipeConfig, argv)` reads
`--config FILE.yaml` and then any number of dotted overrides (`--model.hidden_size 256` or
`--model.hidden_size=256`). Values are parsed as YAML scalars and checked against the field's
type hint, so a typo or a wrong type is one sentence naming the closest valid key.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import sys
import types
import typing
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import yaml

from hf_nlp.atomic import write_text_atomic
from hf_nlp.errors import UserError

T = TypeVar("T")


# --------------------------------------------------------------------------- value checks
# For `__post_init__` of config dataclasses: each names the flag and the value it got, in one sentence.


def check_at_least(section: str, config: Any, minimum: float, *names: str) -> None:
    """Each named field of `config` is null or at least `minimum`."""
    for name in names:
        value = getattr(config, name)
        if value is not None and value < minimum:
            raise UserError(f"`--{_flag(section, name)}` must be at least {minimum}; got {value}.")


def check_positive(section: str, config: Any, *names: str) -> None:
    """Each named field of `config` is null or above 0."""
    for name in names:
        value = getattr(config, name)
        if value is not None and not value > 0:
            raise UserError(f"`--{_flag(section, name)}` must be above 0; got {value}.")


def check_fraction(section: str, config: Any, *names: str) -> None:
    """Each named field of `config` is in [0, 1) (a dropout rate, a ratio)."""
    for name in names:
        value = getattr(config, name)
        if value is not None and not 0.0 <= value < 1.0:
            raise UserError(f"`--{_flag(section, name)}` must be at least 0 and below 1; got {value}.")


def _flag(section: str, name: str) -> str:
    return f"{section}.{name}" if section else name  # "": a config whose keys sit at the top level


# --------------------------------------------------------------------------- loading


def parse_config(cls: type[T], argv: list[str]) -> T:
    """Build `cls` from `--config FILE` (optional) plus dotted `--key value` overrides.

    `--help` prints every key with its type and default, then exits.
    """
    if "--help" in argv or "-h" in argv:
        sys.stdout.write(config_help(cls))
        raise SystemExit(0)
    config_path, overrides = _split_argv(argv)
    values: dict[str, Any] = {}
    if config_path is not None:
        values = load_yaml(config_path)
    for dotted, raw in overrides:
        _set_dotted(values, dotted, raw)
    return from_dict(cls, values)


def config_help(cls: type) -> str:
    lines = ["usage: --config FILE.yaml [--section.key VALUE ...]", "", "keys (type = default):"]

    def walk(node_cls: type, defaults: Any, prefix: str) -> None:
        hints = typing.get_type_hints(node_cls)
        for f in fields(node_cls):
            value = getattr(defaults, f.name)
            if is_dataclass(hints[f.name]):
                walk(hints[f.name], value, f"{prefix}{f.name}.")
            else:
                hint = _hint_name(hints[f.name])
                lines.append(f"  --{prefix}{f.name}  ({hint}) = {value!r}")

    walk(cls, cls(), "")
    return "\n".join(lines) + "\n"


def _hint_name(hint: Any) -> str:
    if typing.get_origin(hint) is Literal:
        return " | ".join(str(choice) for choice in typing.get_args(hint))
    return str(hint).replace("typing.", "") if typing.get_args(hint) else getattr(hint, "__name__", str(hint))


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file `{path}` does not exist; pass a path such as recipes/configs/char_rnn_quick.yaml.")
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise UserError(f"config file `{path}` is not valid YAML ({error.__class__.__name__}); fix its syntax.") from None
    except UnicodeDecodeError as error:
        raise UserError(f"config file `{path}` is not UTF-8 text (byte {error.start:,}); save it as UTF-8.") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise UserError(f"config file `{path}` must hold a mapping of keys to values at the top level.")
    return loaded


def from_dict(cls: type[T], values: dict[str, Any], prefix: str = "") -> T:
    """Recursively build dataclass `cls` from a nested dict, checking keys and types."""
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in fields(cls) if f.init}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise UserError(_unknown_key_message(prefix + key, [prefix + name for name in known], cls))
        hint = hints[key]
        if is_dataclass(hint):
            if not isinstance(value, dict):
                raise UserError(f"`{prefix}{key}` is a section; set its fields as `--{prefix}{key}.FIELD VALUE`.")
            kwargs[key] = from_dict(hint, value, prefix=f"{prefix}{key}.")
        else:
            kwargs[key] = _coerce(value, hint, prefix + key)
    try:
        return cls(**kwargs)
    except UserError as error:
        # A section class used under another name (`TrainingConfig`, whose messages say `--train.`, as `finetune:`).
        section = getattr(cls, "FLAG_SECTION", None)
        if section and prefix and prefix != f"{section}.":
            raise UserError(str(error).replace(f"`--{section}.", f"`--{prefix}")) from None
        raise


class RunSection:
    """A config section that a saved run's `config.yaml` rebuilds: `XConfig.of_run(saved_config)` reads
    the run's `SECTION` (keys this class does not know, e.g. a recipe's own, left out), so evaluation,
    the Space and continued runs load exactly the corpus and splits the run saw."""

    SECTION: ClassVar[str] = "data"

    @classmethod
    def of_run(cls: type[T], saved_config: dict[str, Any]) -> T:
        values = saved_config.get(cls.SECTION) or {}
        known = {key: value for key, value in values.items() if key in cls.__dataclass_fields__}
        return from_dict(cls, known, prefix=f"{cls.SECTION}.")


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def flatten_config(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested sections as one level of dotted keys: `{"train": {"seed": 1}}` -> `{"train.seed": 1}`."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(flatten_config(value, name))
        else:
            flat[name] = value
    return flat


def override_flags(values: dict[str, Any]) -> list[str]:
    """`--key value` flags that `parse_config` reads back as `values` (dotted keys): each value written
    as YAML flow (`null`, `true`, `[0.2, 0.5]`), which is how a flag's value is parsed."""
    flags = []
    for key, value in values.items():
        text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
        flags += [f"--{key}", text.removesuffix("\n...").removesuffix("...").strip()]
    return flags


def save_config(config: Any, path: str | Path) -> None:
    write_text_atomic(path, yaml.safe_dump(to_dict(config), sort_keys=False))


# --------------------------------------------------------------------------- helpers


def _split_argv(argv: list[str]) -> tuple[str | None, list[tuple[str, str]]]:
    config_path = None
    overrides: list[tuple[str, str]] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("--") or len(arg) == 2:
            raise UserError(f"unexpected argument `{arg}`; pass `--config FILE.yaml` and `--section.key value` overrides.")
        key, eq, value = arg[2:].partition("=")
        if not eq:
            if i + 1 >= len(argv):
                raise UserError(f"`--{key}` needs a value, as in `--{key} VALUE`.")
            value = argv[i + 1]
            i += 1
        i += 1
        if key == "config":
            config_path = value
        else:
            overrides.append((key, value))
    return config_path, overrides


def _set_dotted(values: dict[str, Any], dotted: str, raw: str) -> None:
    *parents, leaf = dotted.split(".")
    node = values
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):  # e.g. `--train 3` followed by `--train.x 1`
            child = node[part] = {}
        node = child
    node[leaf] = _parse_scalar(raw)


def _parse_scalar(raw: str) -> Any:
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def _unknown_key_message(key: str, valid: list[str], cls: type) -> str:
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    hint = f"did you mean `{close[0]}`?" if close else f"valid keys here: {', '.join(valid)}."
    return f"unknown config key `{key}`; {hint}"


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Check `value` against a type hint, converting only the safe cases (int -> float)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, key)
            except UserError as error:
                errors.append(error)
        raise errors[0]
    if origin is Literal:
        if value is False and "no" in args:  # YAML 1.1 reads a bare `no` as false
            value = "no"
        if value not in args:
            choices = ", ".join(str(a) for a in args)
            raise UserError(f"`--{key}` must be one of {choices}; got `{value}`.")
        return value
    if origin in (list, tuple):
        item_hint = args[0] if args else Any
        if item_hint in (int, float) and isinstance(value, str) and "," in value:  # `--data.split 0.9,0.05,0.05`
            value = [_parse_scalar(item.strip()) for item in value.split(",")]
        if not isinstance(value, list | tuple):
            value = [value]
        return [_coerce(v, item_hint, key) for v in value]
    if hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):  # YAML 1.1 reads `3e-5` (no dot) as a string
        try:
            value = float(value)
        except ValueError:
            pass
    if hint is float and isinstance(value, float) and not math.isfinite(value):
        raise UserError(f"`--{key}` must be a finite number; got `{value}`.")
    if hint is str and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if hint is bool and not isinstance(value, bool):
        raise UserError(f"`--{key}` must be true or false; got `{value}`.")
    if hint in (int, float) and isinstance(value, bool):
        raise UserError(f"`--{key}` must be a number; got `{value}`.")
    if isinstance(hint, type) and not isinstance(value, hint):
        raise UserError(f"`--{key}` must be {_type_name(hint)}; got `{value}`.")
    return value


def _type_name(hint: type) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(hint, hint.__name__)


__all__ = ["RunSection", "check_at_least", "check_positive", "check_fraction", "config_help", "parse_config", "from_dict", "load_yaml", "to_dict", "save_config",
           "flatten_config"]
