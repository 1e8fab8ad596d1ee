"""Report files built from structured results: `writing` (Markdown, JSON, plots, environment), one
module per family (`char_rnn`, `classification`, `translation`) and `suite` (`hf-nlp report`)."""

from hf_nlp.lazy import lazy_exports

_EXPORTS = {
    "write_report": "writing",
    "markdown_table": "writing",
    "plot_loss_curve": "writing",
    "plot_confusion_matrix": "writing",
    "environment_info": "writing",
    "write_char_rnn_report": "char_rnn",
    "variant_result": "classification",
    "write_classification_report": "classification",
    "encoder_run_notes": "classification",
    "write_translation_report": "translation",
    "write_mt_comparison": "translation",
    "suite_report": "suite",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
