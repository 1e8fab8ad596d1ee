"""LoRA adapters (peft) for the pretrained transformers the recipes fine-tune (encoders, Marian).

`LoraSettings` is a recipe's `--model.lora.*` section; `with_lora` wraps a model so that only the
low-rank updates (and the new classification head) train. A LoRA run's best model folder holds
the adapter twice, so that every tool reads it:

- merged into the base weights (`config.json`, `model.safetensors`): it loads with the Auto
  classes, pipelines, `hf-nlp evaluate` and the Space, with no peft at inference;
- alone under `adapter/` (`adapter_config.json`, `adapter_model.safetensors`, a few hundred KB):
  `PeftModel.from_pretrained(base_model, folder / "adapter")`, or `AutoPeftModelForSequenceClassification`
  / `AutoPeftModelForSeq2SeqLM` when the base model named in its config can be read from where it is loaded.

Checkpoints hold the whole wrapped model (`Trainer` saves its state dict), so a LoRA run resumes
exactly like any other.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import torch

from hf_nlp.config import check_at_least, check_fraction, check_positive
from hf_nlp.errors import UserError

ADAPTER_DIR = "adapter"
"""The adapter-only copy inside a LoRA run's best model folder."""


@dataclass
class LoraSettings:
    """The `--model.lora.*` section: LoRA is off while `r` is 0."""

    r: int = 0
    """Rank of each low-rank update; 0 trains every weight (no LoRA)."""
    alpha: float = 16.0
    """Scale of the updates (`lora_alpha`): an update is multiplied by alpha / r."""
    dropout: float = 0.1
    """Dropout on each adapted layer's input, in the LoRA branch only."""
    target_modules: list[str] | None = None
    """Names (suffixes) of the linear layers to adapt, e.g. [query, key, value, dense]; null: peft's
    default for the architecture (BERT and MiniLM: query and value)."""

    def __post_init__(self) -> None:
        check_at_least("model.lora", self, 0, "r")
        check_positive("model.lora", self, "alpha")
        check_fraction("model.lora", self, "dropout")

    @property
    def enabled(self) -> bool:
        return self.r > 0


def with_lora(model: torch.nn.Module, settings: LoraSettings, task: str = "SEQ_CLS") -> torch.nn.Module:
    """`model` wrapped by peft for `task` (a peft `TaskType` name): its weights frozen, LoRA updates on
    the target layers; a sequence classifier's new head trains in full (peft's `modules_to_save` for
    SEQ_CLS), a seq2seq model (SEQ_2_SEQ_LM) trains its updates only."""
    try:
        from peft import LoraConfig, TaskType, get_peft_model
    except ImportError:
        raise UserError("LoRA needs peft; `pip install peft` (or reinstall hf-nlp, which lists it).") from None
    config = LoraConfig(task_type=TaskType[task], r=settings.r, lora_alpha=settings.alpha,
                        lora_dropout=settings.dropout, target_modules=settings.target_modules)
    try:
        return get_peft_model(model, config)
    except ValueError as error:  # e.g. target modules that the model does not have
        raise UserError(f"`--model.lora` does not fit this model ({str(error).splitlines()[0][:200]}); name "
                        "linear layers it has in `--model.lora.target_modules`, or leave it null.") from None


def save_merged_with_adapter(model: torch.nn.Module, folder: Path) -> None:
    """Write the adapter alone into `folder/adapter` and the model with the adapter merged into `folder`.
    The merge runs on a copy: `model` keeps training with its adapter apart."""
    model.save_pretrained(folder / ADAPTER_DIR)
    merged = copy.deepcopy(model).merge_and_unload()
    merged.save_pretrained(folder)


__all__ = ["ADAPTER_DIR", "LoraSettings", "with_lora", "save_merged_with_adapter"]
