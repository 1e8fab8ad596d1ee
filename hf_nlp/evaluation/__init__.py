"""Metrics (per-example statistics the loop sums), scoring saved models (`hf-nlp evaluate`),
baselines, translation scores, paired intervals and cross-validation summaries."""

from hf_nlp.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, """
metrics: causal_lm_example_stats seq2seq_example_stats classification_example_stats regression_example_stats classification_scores evaluate_classifier evaluate_text_classifier evaluate_by_text bits_per_char perplexity
evaluate_model: evaluate_model
baselines: tfidf_logistic_regression
translation: translation_scores decoded_scores paired_bootstrap attention_heatmap score_test_translations example_translations
significance: paired_difference format_difference
apertium: apertium_available apertium_translate
""")
