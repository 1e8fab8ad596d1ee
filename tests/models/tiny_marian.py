"""A tiny random Marian en→es model saved in Opus-MT's format (SentencePiece source.spm / target.spm,
a joint vocab.json with `</s>` = 0, `<unk>` = 1, `<pad>` last): stands in for
Helsinki-NLP/opus-mt-en-es in tests (same classes and files, no download)."""

from __future__ import annotations

import json
from pathlib import Path

import sentencepiece as spm
import torch
from transformers import MarianConfig, MarianMTModel, MarianTokenizer


def make_tiny_marian(path: Path, english: list[str], spanish: list[str], seed: int = 0) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    pieces: list[str] = []
    for name, texts in (("source", english), ("target", spanish)):
        spm.SentencePieceTrainer.train(sentence_iterator=iter(texts), model_prefix=str(path / name), vocab_size=32, hard_vocab_limit=False,
                                       character_coverage=1.0, bos_id=-1, eos_id=-1, minloglevel=2)
        (path / f"{name}.model").rename(path / f"{name}.spm")
        (path / f"{name}.vocab").unlink()
        processor = spm.SentencePieceProcessor(model_file=str(path / f"{name}.spm"))
        pieces += [processor.id_to_piece(i) for i in range(processor.get_piece_size())]
    vocabulary = ["</s>", "<unk>"] + [p for p in dict.fromkeys(pieces) if p not in ("</s>", "<unk>")] + ["<pad>"]
    (path / "vocab.json").write_text(json.dumps({piece: i for i, piece in enumerate(vocabulary)}), encoding="utf-8")
    tokenizer = MarianTokenizer(source_spm=str(path / "source.spm"), target_spm=str(path / "target.spm"),
                                vocab=str(path / "vocab.json"), source_lang="en", target_lang="es")
    pad = len(vocabulary) - 1
    torch.manual_seed(seed)
    config = MarianConfig(vocab_size=len(vocabulary), d_model=16, encoder_layers=1, decoder_layers=1,
                          encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
                          max_position_embeddings=128, pad_token_id=pad, decoder_start_token_id=pad, eos_token_id=0,
                          forced_eos_token_id=0, activation_function="swish", scale_embedding=True)
    MarianMTModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
