"""The text toolkit: tokenizers, Keras-style vectorization and lookups, word and sentence vectors,
and how a classifier reads a long text."""

from hf_nlp.lazy import lazy_exports

_EXPORTS = {
    "train_tokenizer": "bpe",
    "subword_dropout": "bpe",
    "segmentation_stats": "bpe",
    "build_char_tokenizer": "char_tokenizer",
    "num_characters": "char_tokenizer",
    "WordVectors": "embeddings",
    "load_google_analogies": "embeddings",
    "TextReading": "long_texts",
    "classify_texts": "long_texts",
    "tokenize_texts": "long_texts",
    "training_sets": "long_texts",
    "group_windows_by_text": "long_texts",
    "WindowGroupCollator": "long_texts",
    "pooled_window_forward": "long_texts",
    "window_pooling": "long_texts",
    "StringLookup": "lookup",
    "CategoricalEmbedding": "lookup",
    "mean_pool": "pooling",
    "pool_window_logits": "pooling",
    "pretrained_encoder_path": "sentence_embeddings",
    "embed_texts": "sentence_embeddings",
    "make_embedder": "sentence_embeddings",
    "with_sentence_embeddings": "sentence_embeddings",
    "build_translation_tokenizer": "translation_tokenizer",
    "build_bpe_translation_tokenizer": "translation_tokenizer",
    "TextVectorization": "vectorize",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
