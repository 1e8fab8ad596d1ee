"""Corpora: one module each, every loader returns a `datasets.DatasetDict` with fixed, documented splits."""
