"""Training recipes, one per file, run with `accelerate launch recipes/<name>.py --config FILE.yaml`.

`RECIPES` maps each recipe file's stem to its config dataclass; shipped configs are named
`configs/<recipe>[_<variant>].yaml`, or `<alias>[_<variant>].yaml` for a recipe in `CONFIG_ALIASES`
(the translation configs are `seq2seq*.yaml`). A test keeps these dicts, the files and the configs
in sync.
"""

from __future__ import annotations

import importlib

RECIPES: dict[str, str] = {
    "char_rnn": "CharRNNRecipeConfig",
    "categorical_embeddings": "CategoricalRecipeConfig",
    "sentiment_rnn": "SentimentRecipeConfig",
    "finetune_encoder": "EncoderRecipeConfig",
    "translate_seq2seq": "TranslateRecipeConfig",
    "compare_mt": "CompareConfig",
}
CONFIG_ALIASES: dict[str, str] = {"seq2seq": "translate_seq2seq"}


def config_class(recipe: str) -> type:
    return getattr(importlib.import_module(f"recipes.{recipe}"), RECIPES[recipe])


def recipe_for_config(config_stem: str) -> str:
    """The recipe a shipped config belongs to: the longest recipe name its stem starts with."""
    prefixes = {**{name: name for name in RECIPES}, **CONFIG_ALIASES}
    matches = [prefix for prefix in prefixes if config_stem == prefix or config_stem.startswith(prefix + "_")]
    if not matches:
        raise KeyError(config_stem)
    return prefixes[max(matches, key=len)]
