"""A tiny random BERT encoder with a word-level vocabulary, saved like a pretrained checkpoint:
stands in for all-MiniLM-L6-v2 in tests (same classes, 2 layers of width 32, no download)."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import BertConfig, BertModel, BertTokenizer

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def make_tiny_encoder(path: Path, words: list[str], seed: int = 0) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    vocab = {token: i for i, token in enumerate(SPECIAL + sorted(set(words)))}
    tokenizer = BertTokenizer(vocab=vocab, do_lower_case=True)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
