"""What a saved run was: its config, how it read texts, and where a continued run came from.

A run saves its recipe config as `config.yaml` beside its weights. `load_run_config` reads it from a
folder or a Hub id; each family's data config rebuilds the run's corpus and splits from it
(`XDataConfig.of_run(saved_config)`), and `reading_of_model` how a classifier read long texts.

A fine-tuning run can start from an earlier one (`--model.init_from`): `earlier_run` checks that it is
a classifier of the same labels and encoder, and that none of this run's validation and test texts
were in its training or validation data, so the new run's scores stay honest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasets import DatasetDict
from huggingface_hub import hf_hub_download
from transformers import AutoConfig

from hf_nlp.config import load_yaml
from hf_nlp.data.sentiment import SentimentDataConfig
from hf_nlp.errors import UserError
from hf_nlp.hub import resolve_model_dir
from hf_nlp.manifest import read_json_file
from hf_nlp.text.long_texts import TextReading


def load_run_config(location: str) -> dict[str, Any]:
    """The run's `config.yaml` beside the weights of `location` (a folder, or a Hub id, downloaded);
    `{}` when there is none (a pretrained model from elsewhere)."""
    path = Path(location) / "config.yaml"
    if not path.is_file() and not Path(location).exists():
        try:
            path = Path(hf_hub_download(location, "config.yaml"))
        except Exception:  # noqa: BLE001  no config.yaml there: the model's own defaults
            return {}
    return load_yaml(path) if path.is_file() else {}


def reading_of_model(model: str) -> TextReading:
    """How the run behind `model` (run folder, model folder or Hub id) read long texts."""
    return TextReading.of_run(load_run_config(resolve_model_dir(model)))


SHARED_WITH_EARLIER_RUN = [("data", "source"), ("data", "text_column"), ("data", "label_column"),
                           ("data", "cv_folds"), ("data", "cv_fold"), ("data", "max_train_examples"),
                           ("model", "encoder")]
"""Settings a run continued with `--model.init_from` on the same corpus must share with the earlier
one: the same texts in each split (else its test texts may have been trained on) and the same encoder
and tokenizer. A run on another corpus shares the encoder only; its texts are checked one by one."""


@dataclass
class EarlierRun:
    """The run `--model.init_from` names: its model folder, its corpus (`data.source`), how it read
    long texts (`data.long_texts`), its training minutes (None: unknown) and the other corpus it was
    itself started from, if any."""

    model_dir: str
    source: str
    long_texts: str
    train_minutes: float | None
    first_trained_on: str | None = None

    def name_suffix(self, source: str) -> str:
        """What a run on `source` that starts from this one adds to its variant's name."""
        if self.source != source:
            return f", started from a `{self.source}` classifier"
        first = f", first trained on `{self.first_trained_on}`" if self.first_trained_on else ""
        return f", continued from a `{self.long_texts}` run{first}"


def earlier_run(init_from: str, ours: dict[str, Any], corpus: DatasetDict,
                kind: str = "full_finetune") -> EarlierRun:
    """The earlier run `init_from` (a folder or Hub id) a run with saved config `ours` starts from,
    checked to be a classifier of the same labels and encoder whose training and validation texts hold
    none of this run's validation and test texts (same corpus: the same splits; another corpus: no text
    in common); one sentence if not. Its training minutes are those of its last variant of `kind`."""
    model_dir = resolve_model_dir(init_from)
    names = corpus["train"].features["label"].names
    try:
        labels = sorted((AutoConfig.from_pretrained(model_dir).label2id or {}).keys())
    except (OSError, ValueError) as error:
        raise UserError(f"could not load `--model.init_from {init_from}` "
                        f"({str(error).splitlines()[0][:120]}); pass a fine-tuned classifier run.") from None
    if labels != sorted(names):
        raise UserError(f"`--model.init_from {init_from}` predicts {labels}, not this data's {sorted(names)}; "
                        "start from a classifier of the same labels.")
    earlier = load_run_config(model_dir)
    earlier_data = earlier.get("data") or {}
    source = earlier_data.get("source", ours["data"]["source"])
    shared = SHARED_WITH_EARLIER_RUN if source == ours["data"]["source"] else [("model", "encoder")]
    differs = [(section, key) for section, key in shared
               if key in (earlier.get(section) or {}) and earlier[section][key] != ours[section][key]]
    if differs:
        raise UserError(f"`--model.init_from {init_from}` was trained on other data, splits or encoder ("
                        + ", ".join(f"{section}.{key} {earlier[section][key]!r}, here {ours[section][key]!r}"
                                    for section, key in differs)
                        + "); start from a run of the same, or this run's test texts may be in its training set.")
    if source != ours["data"]["source"]:
        _check_no_shared_texts(init_from, earlier_data, corpus)
    metrics = Path(model_dir).parent / "metrics.json"
    minutes = None
    if metrics.is_file():
        done = [v for v in read_json_file(metrics, "rerun the run's command to write it again").get("variants", []) if v.get("kind") == kind]
        minutes = done[-1]["train_minutes"] if done else None
    first = _run_source((earlier.get("model") or {}).get("init_from"))
    return EarlierRun(model_dir, source, earlier_data.get("long_texts", "truncate"), minutes,
                      first if first != source else None)


def _run_source(location: str | None) -> str | None:
    """The corpus (`data.source`) the run at `location` trained on; None if unknown."""
    try:
        return (load_run_config(resolve_model_dir(location)).get("data") or {}).get("source") if location else None
    except UserError:
        return None


def _check_no_shared_texts(init_from: str, earlier_data: dict, corpus: DatasetDict) -> None:
    """Refuse an earlier run on another corpus whose training or validation texts include any of this
    run's validation or test texts (they would score as if unseen)."""
    try:
        seen = SentimentDataConfig.of_run({"data": earlier_data}).load()
    except UserError as error:
        raise UserError(f"could not load the corpus `--model.init_from {init_from}` was trained on ({error}); "
                        "its texts must be checked against this run's.") from None
    trained_on = set(seen["train"]["text"]) | set(seen["validation"]["text"])
    shared = sum(text in trained_on for split in ("validation", "test") for text in corpus[split]["text"])
    if shared:
        raise UserError(f"`--model.init_from {init_from}` was trained on {shared} of this run's validation and test "
                        "texts; start from a run whose corpus does not hold them.")


__all__ = ["EarlierRun", "SHARED_WITH_EARLIER_RUN", "earlier_run", "load_run_config",
           "reading_of_model"]
