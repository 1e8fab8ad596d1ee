"""Mixed-input regressor with a learned category embedding (Géron, Hands-On ML ch. 16).

8 numeric features plus one categorical feature (5 ocean-proximity categories) embedded in 2-D,
concatenated, Dense(1), MSE, SGD, 5 epochs: the reference's California-housing example, on
generated data (the real housing data set is not shipped offline) whose categories have known
price effects, so the learned embedding can be checked against them.

    accelerate launch recipes/categorical_embeddings.py --config recipes/configs/categorical_embeddings.yaml

Writes `report.md`, `metrics.json`, `all_results.json` and `category_embeddings.png` (the 2-D
embedding of each category) into `--train.output_dir`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset
from safetensors.torch import load_model
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput

from hf_nlp.config import check_at_least, parse_config, to_dict
from hf_nlp.errors import exit_on_user_error
from hf_nlp.evaluation.metrics import regression_example_stats
from hf_nlp.reports.categorical import plot_embeddings, write_categorical_report
from hf_nlp.text.lookup import CategoricalEmbedding, StringLookup
from hf_nlp.training.batch_step import StatelessStep
from hf_nlp.training.config import TrainingConfig
from hf_nlp.training.loop import Trainer

# Category -> price effect of the generated data (in units of the standardized target).
OCEAN_PROXIMITY = {"<1H OCEAN": 0.5, "INLAND": -1.0, "NEAR OCEAN": 0.6, "NEAR BAY": 0.8, "ISLAND": 2.0}
CATEGORY_SHARES = [0.44, 0.32, 0.13, 0.109, 0.001]  # roughly California's


@dataclass
class DataConfig:
    num_samples: int = 20_000
    noise: float = 0.3
    seed: int = 42

    def __post_init__(self) -> None:
        check_at_least("data", self, 10, "num_samples")  # a tenth of them validates
        check_at_least("data", self, 0, "noise")


@dataclass
class ModelConfig:
    embedding_dim: int = 2
    num_numeric: int = 8

    def __post_init__(self) -> None:
        check_at_least("model", self, 1, "embedding_dim", "num_numeric")


@dataclass
class CategoricalRecipeConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainingConfig = field(default_factory=lambda: TrainingConfig(
        output_dir="runs/categorical_embeddings", optimizer="sgd", learning_rate=0.01, batch_size=32,
        num_epochs=5, eval_every=0, metric_for_best="mse", max_grad_norm=None))


class MixedInputRegressor(nn.Module):
    """concat(numeric features, embedding(category)) -> Linear(1)."""

    def __init__(self, lookup: StringLookup, num_numeric: int, embedding_dim: int):
        super().__init__()
        self.category = CategoricalEmbedding(lookup, embedding_dim)
        self.head = nn.Linear(num_numeric + embedding_dim, 1)

    def forward(self, numeric: torch.Tensor, category_ids: torch.Tensor, labels: torch.Tensor | None = None):
        features = torch.cat([numeric, self.category(category_ids)], dim=-1)  # (B, F + D)
        predictions = self.head(features).squeeze(-1)  # (B,)
        loss = nn.functional.mse_loss(predictions, labels.float()) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=predictions)


def generate_data(cfg: DataConfig, num_numeric: int) -> tuple[dict[str, np.ndarray], list[str]]:
    """Numeric features ~ N(0, 1), a category drawn with California-like shares, a linear target."""
    rng = np.random.default_rng(cfg.seed)
    names = list(OCEAN_PROXIMITY)
    numeric = rng.standard_normal((cfg.num_samples, num_numeric)).astype(np.float32)
    categories = rng.choice(len(names), size=cfg.num_samples, p=CATEGORY_SHARES)
    weights = rng.uniform(-1, 1, num_numeric).astype(np.float32)
    effects = np.array([OCEAN_PROXIMITY[n] for n in names], dtype=np.float32)
    target = numeric @ weights + effects[categories] + cfg.noise * rng.standard_normal(cfg.num_samples)
    return {"numeric": numeric, "category": np.array(names)[categories], "labels": target.astype(np.float32)}, names


def main(argv: list[str] | None = None) -> dict:
    cfg = parse_config(CategoricalRecipeConfig, sys.argv[1:] if argv is None else argv)
    trainer = Trainer(cfg.train, StatelessStep(regression_example_stats), run_config=cfg)
    columns, names = generate_data(cfg.data, cfg.model.num_numeric)
    n = cfg.data.num_samples
    cut_train, cut_valid = int(0.8 * n), int(0.9 * n)
    lookup = StringLookup().adapt(columns["category"][:cut_train].tolist())  # vocabulary from training rows only
    rows = {"numeric": columns["numeric"], "category_ids": lookup(columns["category"].tolist()).numpy(),
            "labels": columns["labels"]}
    data = Dataset.from_dict(rows).with_format("torch")
    train, valid, test = data.select(range(cut_train)), data.select(range(cut_train, cut_valid)), data.select(range(cut_valid, n))

    torch.manual_seed(cfg.train.seed)
    model = MixedInputRegressor(lookup, cfg.model.num_numeric, cfg.model.embedding_dim)
    result = trainer.fit(model, train, valid)
    load_model(model, str(result.best_model_dir / "model.safetensors"))
    metrics = {
        "validation": trainer.evaluate(model, valid),
        "test": trainer.evaluate(model, test),
        "test_mse_predicting_the_mean": float(np.var(columns["labels"][cut_valid:])),
        "train_steps": result.global_step,
        "train_minutes": result.train_seconds / 60,
    }
    if trainer.accelerator.is_main_process:
        run_dir = Path(cfg.train.output_dir)
        regressor = trainer.accelerator.unwrap_model(model)
        embeddings = regressor.category.embedding.weight.detach().cpu().numpy()  # (V, D)
        plot_embeddings(embeddings, lookup.get_vocabulary(), run_dir / "category_embeddings.png")
        metrics["embeddings"] = {name: embeddings[i].tolist() for i, name in enumerate(lookup.get_vocabulary())}
        # What the model learned each category adds to the price: the head's weights on the embedding.
        head_weights = regressor.head.weight.detach().cpu().numpy()[0, cfg.model.num_numeric :]  # (D,)
        learned = {name: float(embeddings[i] @ head_weights) for i, name in enumerate(lookup.get_vocabulary())}
        metrics["learned_effects"] = learned
        write_categorical_report(run_dir, metrics, OCEAN_PROXIMITY, "<1H OCEAN", to_dict(cfg),
                                 trainer.accelerator.num_processes)
        trainer.accelerator.print(f"test MSE {metrics['test']['mse']:.4f} (mean predictor "
                                  f"{metrics['test_mse_predicting_the_mean']:.4f}); report: {run_dir / 'report.md'}")
    trainer.accelerator.wait_for_everyone()
    return metrics


if __name__ == "__main__":
    exit_on_user_error(main)()
