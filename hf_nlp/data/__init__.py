"""Corpora and their configs, one module per family, each loader returning a `datasets.DatasetDict` with
fixed, documented splits; window datasets; sources, files and caches."""

from hf_nlp.lazy import lazy_exports

_EXPORTS = {
    "CharWindows": "char_windows",
    "StatefulWindows": "char_windows",
    "encode_splits": "char_windows",
    "window_datasets": "char_windows",
    "SentimentDataConfig": "sentiment",
    "EncoderDataConfig": "sentiment",
    "load_sentiment": "sentiment",
    "label_config": "sentiment",
    "ShakespeareDataConfig": "shakespeare",
    "load_shakespeare": "shakespeare",
    "load_shakespeare_text": "shakespeare",
    "SpaEngDataConfig": "spa_eng",
    "load_spa_eng": "spa_eng",
    "encode_pairs": "spa_eng",
    "Source": "sources",
    "resolve_source": "sources",
    "load_table_file": "files",
    "load_hub_dataset": "files",
    "read_text_file": "files",
    "corpus_cache_dir": "cache",
    "hf_nlp_cache": "cache",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
