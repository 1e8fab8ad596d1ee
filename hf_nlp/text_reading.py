"""How a text classifier reads a text, the same way in training, evaluation and use.

A run that trained on windows (`--data.long_texts windows | pooled_windows`, see
`hf_nlp.data.text_windows`) scores a long text by pooling its windows; read truncated instead, the
same model sees only the text's first `model_max_length` tokens (512 for all-MiniLM-L6-v2's
tokenizer, twice the windows it learned on) and answers on less of the review than it was measured
on. `TextReading.of_run` rebuilds the run's reading from the `config.yaml` a run saves beside its
weights, so `hf-nlp evaluate`, `hf-nlp classify` and the Space score a text as the recipe's report
did; `classify_texts` applies it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from hf_nlp.evaluation.metrics import pool_window_logits

Pooling = Literal["probabilities", "logits"]


def window_pooling(long_texts: str) -> Pooling:
    """How a text's windows are pooled: mean logits for a run trained on them pooled (the
    `pooled_windows` loss is on the mean logits), mean probabilities for one trained window by window."""
    return "logits" if long_texts == "pooled_windows" else "probabilities"


@dataclass(frozen=True)
class TextReading:
    """Tokens per window (None: the tokenizer's own limit), whether a longer text is cut into windows
    overlapping by `overlap` tokens (else truncated), and how windows pool into the text's score."""

    max_length: int | None = None
    windows: bool = False
    overlap: int = 0
    pooling: Pooling = "probabilities"

    @classmethod
    def of_run(cls, recipe_config: dict[str, Any]) -> TextReading:
        """The reading of a run from its saved recipe config (`{}`: a model from elsewhere, truncated)."""
        data = recipe_config.get("data") or {}
        long_texts = data.get("long_texts") or "truncate"
        max_length = data.get("max_length")
        return cls(max_length=int(max_length) if max_length else None, windows=long_texts != "truncate",
                   overlap=int(data.get("window_overlap") or 0) if long_texts != "truncate" else 0,
                   pooling=window_pooling(long_texts))

    @classmethod
    def of_model(cls, model: str) -> TextReading:
        """The reading of the run behind `model` (run folder, model folder or Hub id)."""
        from hf_nlp.hub import resolve_model_dir

        return cls.of_run(load_run_config(resolve_model_dir(model)))


def load_run_config(location: str) -> dict[str, Any]:
    """The run's `config.yaml` beside the weights of `location` (a folder, or a Hub id, downloaded);
    `{}` when there is none (a pretrained model from elsewhere)."""
    path = Path(location) / "config.yaml"
    if not path.is_file() and not Path(location).exists():
        from huggingface_hub import hf_hub_download

        try:
            path = Path(hf_hub_download(location, "config.yaml"))
        except Exception:  # noqa: BLE001  no config.yaml there: the model's own defaults
            return {}
    from hf_nlp.config import load_yaml

    return load_yaml(path) if path.is_file() else {}


def classify_texts(model, tokenizer, texts: list[str], reading: TextReading = TextReading(),
                   batch_size: int = 64) -> torch.Tensor:
    """Class probabilities `(N, num_labels)` of `texts`, each read as `reading` says: truncated, or
    as windows of `reading.max_length` tokens run `batch_size` at a time and pooled per text."""
    encoded = tokenizer(texts, truncation=True, max_length=reading.max_length, stride=reading.overlap,
                        return_overflowing_tokens=reading.windows)
    documents = encoded.pop("overflow_to_sample_mapping", None) or list(range(len(texts)))  # window -> text
    windows = [{name: values[i] for name, values in encoded.items()} for i in range(len(documents))]
    logits = []
    with torch.no_grad():
        for start in range(0, len(windows), batch_size):
            batch = tokenizer.pad(windows[start : start + batch_size], return_tensors="pt")  # (b, L) each
            logits.append(model(**batch).logits.float())  # (b, C)
    pooled = pool_window_logits(torch.cat(logits), torch.tensor(documents), reading.pooling)  # (N, C)
    return pooled.softmax(-1)  # mean probabilities back from their log, or the mean logits' softmax
