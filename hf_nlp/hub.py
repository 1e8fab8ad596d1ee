"""Loading models by run folder, model folder or Hub id (the Hub endpoint comes from HF_ENDPOINT)."""

from __future__ import annotations

from pathlib import Path

from hf_nlp.errors import UserError


def resolve_model_dir(model: str) -> str:
    """A model folder, a run folder holding `best_model/`, or a Hub id (passed through)."""
    path = Path(model).expanduser()
    if (path / "best_model" / "config.json").is_file():
        return str(path / "best_model")
    if (path / "config.json").is_file():
        return str(path)
    if path.exists() or model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise UserError(f"`{model}` is not a model folder (no config.json); pass a run folder, its best_model/, or a Hub id.")
    return model


def load_model_and_tokenizer(model: str, auto_class_name: str = "AutoModelForCausalLM", dtype: str = "float32"):
    """The model (eval mode, weights in `dtype`: float32 or bfloat16) and its tokenizer."""
    import torch
    import transformers

    transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bar in a CLI
    import hf_nlp  # noqa: F401  (registers our model types with the Auto classes)

    source = resolve_model_dir(model)
    auto_class = getattr(transformers, auto_class_name)
    try:
        loaded = auto_class.from_pretrained(source, dtype=getattr(torch, dtype))
        tokenizer = transformers.AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as error:  # missing files / unreachable Hub; unusable config or tokenizer
        raise UserError(f"could not load model `{model}` ({str(error).splitlines()[0][:120]}); check the path or Hub id.") from None
    return loaded.eval(), tokenizer
