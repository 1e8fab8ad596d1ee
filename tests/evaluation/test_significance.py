"""Paired accuracy differences: two models scored on the same texts, with a bootstrap interval."""

import numpy as np
import pytest

from hf_nlp.evaluation.significance import format_difference, paired_difference


def test_the_interval_brackets_the_difference_and_matches_the_normal_approximation():
    rng = np.random.default_rng(1)
    baseline = rng.integers(0, 2, 1000)  # right on about half the texts
    model = np.where(rng.random(1000) < 0.3, 1, baseline)  # the same, plus 30 % of texts turned right
    paired = paired_difference(model, baseline)
    differences = model - baseline
    half_width = 1.96 * differences.std() / np.sqrt(len(differences))
    assert paired["difference"] == pytest.approx(differences.mean()) and paired["texts"] == 1000
    assert paired["low"] < paired["difference"] < paired["high"]
    assert paired["low"] == pytest.approx(differences.mean() - half_width, abs=0.01)
    assert paired["high"] == pytest.approx(differences.mean() + half_width, abs=0.01)
    assert paired == paired_difference(model, baseline)  # seeded: the same interval every time


def test_pairing_makes_agreement_narrow_the_interval():
    # Same accuracies (0.6 vs 0.5) over 200 texts: when the model is right wherever the baseline is,
    # the texts they share add nothing; when their mistakes are independent, they add noise.
    baseline = np.array([1] * 100 + [0] * 100)
    nested = np.array([1] * 100 + [1] * 20 + [0] * 80)
    shuffled = np.random.default_rng(0).permutation(nested)
    tight, loose = paired_difference(nested, baseline), paired_difference(shuffled, baseline)
    assert tight["difference"] == loose["difference"] == pytest.approx(0.1)
    assert tight["high"] - tight["low"] < 0.6 * (loose["high"] - loose["low"])
    assert tight["low"] > 0


def test_identical_verdicts_give_a_zero_interval_and_mismatched_texts_are_refused():
    assert paired_difference([1, 0, 1], [1, 0, 1]) | {"confidence": 0.95} == {
        "difference": 0.0, "low": 0.0, "high": 0.0, "confidence": 0.95, "texts": 3}
    with pytest.raises(ValueError, match="same, non-empty texts"):
        paired_difference([1, 0], [1, 0, 1])
    assert format_difference({"difference": 0.047, "low": 0.007, "high": 0.087}) == "+4.7 [+0.7, +8.7] pts"


@pytest.mark.parametrize("texts", [150, 151, 1000])
def test_resampling_in_batches_gives_the_interval_of_one_batch(monkeypatch, texts):
    rng = np.random.default_rng(texts)
    model, baseline = rng.integers(0, 2, texts), rng.integers(0, 2, texts)
    batched = paired_difference(model, baseline)
    monkeypatch.setattr("hf_nlp.evaluation.significance.BOOTSTRAP_BATCH", None)  # all 10,000 resamples at once
    assert paired_difference(model, baseline) == batched
