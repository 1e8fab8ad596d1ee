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
