"""Report files built from structured results: `writing` (Markdown, JSON, plots, environment), one
module per family (`char_rnn`, `categorical`, `classification`, `translation`) and `suite` (`hf-nlp report`)."""

from hf_nlp.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, """
writing: write_report markdown_table plot_loss_curve plot_confusion_matrix environment_info
char_rnn: write_char_rnn_report
categorical: write_categorical_report
classification: variant_result write_classification_report encoder_run_notes rnn_run_notes
translation: write_translation_report write_mt_comparison
suite: suite_report
""")
