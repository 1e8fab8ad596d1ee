"""Tokenizers and text vectorization built on `tokenizers`."""

from hf_nlp.text.char_tokenizer import build_char_tokenizer
from hf_nlp.text.vectorize import TextVectorization

__all__ = ["TextVectorization", "build_char_tokenizer"]
