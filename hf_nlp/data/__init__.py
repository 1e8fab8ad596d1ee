"""Corpora and their configs, one module per family, each loader returning a `datasets.DatasetDict` with
fixed, documented splits; window datasets; streamed corpora that resume exactly; sources, files and caches."""

from hf_nlp.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, """
char_windows: CharWindows StatefulWindows window_datasets
token_ids: TokenIds id_dtype split_token_ids token_ids_file
sentiment: SentimentDataConfig EncoderDataConfig load_sentiment label_config label_names
sentiment_stream: SentimentStream TokenizingCollator stream_sentiment
streaming: ResumableStream
columns: read_columns token_counts tokenize_processes
shakespeare: ShakespeareDataConfig load_shakespeare load_shakespeare_text text_chunks
spa_eng: SpaEngDataConfig load_spa_eng encode_pairs pair_lengths
sources: Source resolve_source
files: load_table_file load_hub_dataset read_text_file read_text_chunks
cache: corpus_cache_dir hf_nlp_cache
""")
