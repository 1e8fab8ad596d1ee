"""Tokenizers and text vectorization built on `tokenizers`."""
