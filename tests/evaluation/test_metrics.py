import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix, f1_score

from hf_nlp.evaluation.metrics import (
    classification_example_stats,
    confusion_matrix_from_metrics,
    macro_f1,
    reduce_example_stats,
)


def test_confusion_and_macro_f1_match_scikit_learn():
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 3, (50,), generator=generator)
    logits = torch.randn(50, 3, generator=generator)
    halves = [classification_example_stats(logits[s], {"labels": labels[s]}) for s in (slice(0, 20), slice(20, 50))]
    metrics = reduce_example_stats({k: torch.cat([h[k] for h in halves]) for k in halves[0]})
    predictions = logits.argmax(-1)
    confusion = confusion_matrix_from_metrics(metrics, 3)
    np.testing.assert_array_equal(confusion, confusion_matrix(labels, predictions, labels=[0, 1, 2]))
    assert macro_f1(confusion) == pytest.approx(f1_score(labels, predictions, average="macro"))
    assert metrics["accuracy"] == pytest.approx((predictions == labels).float().mean().item())
    assert metrics["count"] == 50


def test_window_logits_pool_to_the_mean_probability_per_document():
    import torch

    from hf_nlp.evaluation.metrics import pool_window_logits

    logits = torch.tensor([[0.0, 2.0], [1.0, -1.0], [3.0, 0.0], [0.0, 0.0]])
    documents = torch.tensor([0, 0, 1, 0])
    pooled = pool_window_logits(logits, documents)  # (2, 2)
    expected_first = logits[[0, 1, 3]].softmax(-1).mean(0)
    assert torch.allclose(pooled.exp()[0], expected_first) and torch.allclose(pooled.exp()[1], logits[2].softmax(-1))


def test_window_logits_pool_to_the_mean_logits_per_document():
    import torch

    from hf_nlp.evaluation.metrics import pool_window_logits

    logits = torch.tensor([[0.0, 2.0], [1.0, -1.0], [3.0, 0.0], [0.0, 0.0]], requires_grad=True)
    pooled = pool_window_logits(logits, torch.tensor([0, 0, 1, 0]), pooling="logits")  # (2, 2)
    assert torch.allclose(pooled, torch.tensor([[1 / 3, 1 / 3], [3.0, 0.0]]))
    pooled[0, 1].backward()  # differentiable: each window of document 0 gets a third of the gradient
    assert torch.allclose(logits.grad[:, 1], torch.tensor([1 / 3, 1 / 3, 0.0, 1 / 3]))
