"""Metrics (per-example statistics the loop sums), scoring saved models (`hf-nlp evaluate`),
baselines, translation scores, paired intervals and cross-validation summaries."""

from hf_nlp.lazy import lazy_exports

_EXPORTS = {
    "causal_lm_example_stats": "metrics",
    "seq2seq_example_stats": "metrics",
    "classification_example_stats": "metrics",
    "regression_example_stats": "metrics",
    "classification_scores": "metrics",
    "evaluate_classifier": "metrics",
    "evaluate_text_classifier": "metrics",
    "evaluate_by_text": "metrics",
    "bits_per_char": "metrics",
    "perplexity": "metrics",
    "evaluate_model": "evaluate_model",
    "tfidf_logistic_regression": "baselines",
    "translation_scores": "translation",
    "attention_heatmap": "translation",
    "score_test_translations": "translation",
    "example_translations": "translation",
    "paired_difference": "significance",
    "format_difference": "significance",
    "apertium_available": "apertium",
    "apertium_translate": "apertium",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
