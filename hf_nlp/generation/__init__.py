"""Decoding helpers on top of `model.generate()`."""
