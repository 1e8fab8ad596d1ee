"""Training recipes, one per file, run with `accelerate launch recipes/<name>.py --config FILE.yaml`.

`RECIPES` maps each recipe file's stem to its config dataclass; shipped configs are named
`configs/<recipe>[_<variant>].yaml`. A test keeps this dict, the files and the configs in sync.
"""

from __future__ import annotations

import importlib

RECIPES: dict[str, str] = {
    "char_rnn": "CharRNNRecipeConfig",
    "categorical_embeddings": "CategoricalRecipeConfig",
    "sentiment_rnn": "SentimentRecipeConfig",
    "finetune_encoder": "EncoderRecipeConfig",
}


def config_class(recipe: str) -> type:
    return getattr(importlib.import_module(f"recipes.{recipe}"), RECIPES[recipe])


def recipe_for_config(config_stem: str) -> str:
    """The recipe a shipped config belongs to: the longest recipe name its stem starts with."""
    matches = [name for name in RECIPES if config_stem == name or config_stem.startswith(name + "_")]
    if not matches:
        raise KeyError(config_stem)
    return max(matches, key=len)
