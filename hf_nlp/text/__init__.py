"""The text toolkit: tokenizers, Keras-style vectorization and lookups, word and sentence vectors,
and how a classifier reads a long text."""

from hf_nlp.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, """
bpe: train_tokenizer subword_dropout segmentation_stats
char_corpus: CharCorpus load_char_corpus encode_characters
char_tokenizer: build_char_tokenizer num_characters
embeddings: WordVectors load_google_analogies
long_texts: TextReading classify_texts tokenize_texts training_sets group_windows_by_text WindowGroupCollator pooled_window_forward window_pooling
lookup: StringLookup CategoricalEmbedding
pooling: mean_pool pool_window_logits
sentence_embeddings: pretrained_encoder_path embed_texts make_embedder with_sentence_embeddings
translation_tokenizer: build_translation_tokenizer build_bpe_translation_tokenizer
vectorize: TextVectorization
""")
