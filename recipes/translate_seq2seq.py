"""Train an LSTM encoder–decoder English→Spanish (plain, bidirectional, Bahdanau or Luong attention),
or the Marian transformer baseline on the same data.

    accelerate launch recipes/translate_seq2seq.py --config recipes/configs/seq2seq_luong.yaml

Géron, Hands-On ML ch. 16: word-level vocabularies, an LSTM encoder whose final states start an
LSTM decoder trained with teacher forcing, then attention. Reports the reference's token accuracy
(validation and test), BLEU and chrF of greedy and beam-search translations of the test set
(sacrebleu), translation speed, example translations and attention heatmaps.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Literal

from transformers import (
    AutoModelForSeq2SeqLM,
    DataCollatorForSeq2Seq,
    GenerationConfig,
    MarianConfig,
    MarianMTModel,
)

from hf_nlp.config import check_at_least, check_fraction, parse_config, to_dict
from hf_nlp.data.spa_eng import SpaEngDataConfig, encode_pairs, pair_lengths
from hf_nlp.errors import UserError, exit_on_user_error
from hf_nlp.evaluation.metrics import seq2seq_example_stats
from hf_nlp.evaluation.translation import decoded_scores, example_translations, score_test_translations
from hf_nlp.hub import PushConfig, check_push_target, finish_model_folder, load_model_and_tokenizer
from hf_nlp.models.activation_checkpointing import enable_activation_checkpointing
from hf_nlp.models.lora import LoraSettings, save_merged_with_adapter, with_lora
from hf_nlp.models.seq2seq_rnn import RNNForSeq2SeqLM, Seq2SeqRNNConfig
from hf_nlp.reports.translation import write_translation_report
from hf_nlp.text.translation_tokenizer import build_bpe_translation_tokenizer, build_translation_tokenizer
from hf_nlp.training.batch_step import StatelessStep
from hf_nlp.training.config import TrainingConfig
from hf_nlp.training.loop import Trainer

DECODED_METRICS = ("bleu", "chrf")
"""Validation metrics of decoded translations (`--decode.validation_sentences`), beside the loop's own."""
MARIAN_LORA_TARGETS = ("q_proj", "v_proj")
"""LoRA's layers in a Marian model when `--model.lora.target_modules` is null: the query and value
projections of every attention (peft's default for BART, Marian's sibling; it has none for Marian)."""

# The reference's attention examples (Hands-On ML ch. 16).
ATTENTION_EXAMPLES = ["I like soccer", "I like soccer and also going to the beach", "I love cats and dogs"]


@dataclass
class DataConfig(SpaEngDataConfig):
    tokenizer: Literal["word", "bpe"] = "word"
    """`word`: the reference's word-level vocabularies (lowercased, no punctuation); `bpe`: one
    subword vocabulary of `bpe_vocab_size` over both languages (cased, punctuation kept)."""
    bpe_vocab_size: int = 8000
    source_vocab_size: int = 1000
    """English words kept, the 4 special tokens included (the reference: 1,000)."""
    target_vocab_size: int = 1000
    """Spanish words kept, the 4 special tokens included (the reference: 1,000)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_at_least("data", self, 5, "bpe_vocab_size", "source_vocab_size", "target_vocab_size")  # 4 specials + 1


@dataclass
class ModelConfig:
    architecture: Literal["lstm", "marian", "pretrained"] = "lstm"
    """`lstm`: our RNNForSeq2SeqLM. `marian`: transformers' MarianMTModel (Opus-MT's architecture) from
    scratch, `hidden_size` wide with `transformer_layers` + `transformer_layers` layers — the transformer
    baseline trained on the same data, tokenizer and loop. `pretrained`: fine-tune the model `pretrained`
    (Opus-MT by default) with its own tokenizer; the `data:` tokenizer keys and the size keys below
    do not apply."""
    pretrained: str = "Helsinki-NLP/opus-mt-en-es"
    """`architecture pretrained`: the Hub id or local folder of an English→Spanish seq2seq model to fine-tune."""
    embedding_size: int = 128
    """LSTM only (a transformer's embeddings are `hidden_size` wide)."""
    hidden_size: int = 512
    num_layers: int = 1
    bidirectional: bool = False
    bidirectional_states: Literal["concat", "project"] = "concat"
    """`concat` (hidden_size / 2 per direction, as the reference) or `project` (a linear layer from both)."""
    attention: Literal["none", "bahdanau", "luong"] = "none"
    luong_score: Literal["dot", "general"] = "general"
    """Luong's score: `dot` (h · k) or `general` (h · W k)."""
    attention_size: int = 128
    dropout: float = 0.0
    rnn_backend: Literal["auto", "fused", "torch"] = "auto"
    """Which code runs the GRU / LSTM: `fused` C++ layers on CPU (built on first use), `torch` (PyTorch's own;
    always on GPU), or `auto` (fused on CPU when it builds). The weights are the same either way."""
    transformer_layers: int = 3
    """Marian only: encoder layers, and as many decoder layers."""
    transformer_heads: int = 4
    transformer_ffn_size: int = 1024
    gradient_checkpointing: bool = False
    """Marian and pretrained only: recompute each layer's activations in the backward pass instead of
    storing them (less memory for longer sentences or bigger batches, about a third more compute)."""
    lora: LoraSettings = field(default_factory=LoraSettings)
    """`architecture pretrained` only: train LoRA adapters (peft) instead of every weight."""

    def __post_init__(self) -> None:
        check_at_least("model", self, 1, "embedding_size", "hidden_size", "num_layers", "attention_size",
                       "transformer_layers", "transformer_heads", "transformer_ffn_size")
        check_fraction("model", self, "dropout")
        if self.architecture == "marian" and self.hidden_size % self.transformer_heads:
            raise UserError(f"`--model.hidden_size` ({self.hidden_size}) must be a multiple of "
                            f"`--model.transformer_heads` ({self.transformer_heads}).")
        if self.gradient_checkpointing and self.architecture == "lstm":
            raise UserError("`--model.gradient_checkpointing` applies to `--model.architecture marian` or "
                            "`pretrained`; the LSTM keeps its own state for the backward pass.")
        if self.lora.enabled and self.architecture != "pretrained":
            raise UserError("`--model.lora.r` adapts a pretrained model; pass `--model.architecture pretrained` "
                            "(and `--model.pretrained`), or leave `--model.lora.r` at 0 to train from scratch.")
        if self.bidirectional and self.bidirectional_states == "concat" and self.hidden_size % 2:
            raise UserError(f"`--model.hidden_size` ({self.hidden_size}) must be even: a bidirectional encoder "
                            "gives each direction half of it (or pass `--model.bidirectional_states project`).")


@dataclass
class DecodeConfig:
    num_beams: int = 3
    """Beam width for the beam-search row of the report (greedy is always reported too)."""
    length_penalty: float = 1.0
    """Beam scores are log-probability / length ** length_penalty."""
    unk_penalty: float = 0.0
    """Subtracted from [UNK]'s log-probability at each step (the reference's idea); 0 = off."""
    max_new_tokens: int = 60
    batch_size: int = 64
    max_test_sentences: int | None = None
    """Translate only the first N test pairs for BLEU/chrF (token accuracy always uses all); null = all."""
    examples: list[str] = field(default_factory=lambda: list(ATTENTION_EXAMPLES))
    """Sentences translated in the report (and drawn as attention heatmaps)."""
    validation_sentences: int = 0
    """Validation pairs translated at every evaluation, scored as `eval_bleu` / `eval_chrf` (the
    first N of the split, the same each time); needed by `--train.metric_for_best bleu|chrf`; 0: none."""
    validation_beams: int = 1
    """Beams for those translations (1: greedy, the cheapest)."""

    def __post_init__(self) -> None:
        check_at_least("decode", self, 1, "num_beams", "max_new_tokens", "batch_size", "max_test_sentences",
                       "validation_beams")
        check_at_least("decode", self, 0, "unk_penalty", "validation_sentences")


@dataclass
class TranslateRecipeConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainingConfig = field(default_factory=lambda: TrainingConfig(
        output_dir="runs/seq2seq", optimizer="nadam", batch_size=32, num_epochs=10, eval_every=0,
        metric_for_best="accuracy", greater_is_better=True))
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    push_to_hub: PushConfig = field(default_factory=PushConfig)

    def __post_init__(self) -> None:
        if self.train.metric_for_best in DECODED_METRICS and not self.decode.validation_sentences:
            raise UserError(f"`--train.metric_for_best {self.train.metric_for_best}` scores translations of "
                            "validation pairs; pass how many with `--decode.validation_sentences` (e.g. 500).")


def main(argv: list[str] | None = None) -> dict:
    started = time.monotonic()
    cfg = parse_config(TranslateRecipeConfig, sys.argv[1:] if argv is None else argv)
    check_push_target(cfg.push_to_hub)
    trainer = Trainer(cfg.train, StatelessStep(seq2seq_example_stats), run_config=cfg,
                      extra_metric_names=DECODED_METRICS)
    accelerator = trainer.accelerator
    data_started = time.monotonic()
    pretrained = cfg.model.architecture == "pretrained"
    with accelerator.main_process_first():
        corpus = cfg.data.load()
        if pretrained:  # its own tokenizer; the decoder predicts all of it
            model, tokenizer = load_model_and_tokenizer(cfg.model.pretrained, "AutoModelForSeq2SeqLM")
            target_vocab_size = getattr(model.config, "decoder_vocab_size", None) or model.config.vocab_size
        elif cfg.data.tokenizer == "bpe":
            tokenizer, target_vocab_size = build_bpe_translation_tokenizer(
                corpus["train"]["en"], corpus["train"]["es"], cfg.data.bpe_vocab_size)
        else:
            tokenizer, target_vocab_size = build_translation_tokenizer(
                corpus["train"]["en"], corpus["train"]["es"], cfg.data.source_vocab_size, cfg.data.target_vocab_size)
        encoded = encode_pairs(corpus, tokenizer, target_vocab_size)
    data_seconds = time.monotonic() - data_started
    if not pretrained:
        model = build_model(cfg.model, tokenizer, target_vocab_size)
        model.generation_config = GenerationConfig.from_model_config(model.config)
    elif cfg.model.gradient_checkpointing:
        enable_activation_checkpointing(model)
    # Decoding settings travel in the saved model (generation_config.json), written with its weights.
    model.generation_config.update(num_beams=cfg.decode.num_beams, max_new_tokens=cfg.decode.max_new_tokens,
                                   length_penalty=cfg.decode.length_penalty)
    collate = DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=-100)
    lora = cfg.model.lora.enabled
    if lora:
        settings = cfg.model.lora
        if settings.target_modules is None and model.config.model_type == "marian":  # peft has no default for it
            settings = replace(settings, target_modules=list(MARIAN_LORA_TARGETS))
        model = with_lora(model, settings, task="SEQ_2_SEQ_LM")
    trained_parameters = model.num_parameters(only_trainable=True)
    lengths = pair_lengths(encoded["train"])
    result = trainer.fit(model, encoded["train"], encoded["validation"], collate_fn=collate, lengths=lengths,
                         processing_class=tokenizer, write_model=save_merged_with_adapter if lora else None,
                         extra_metrics=validation_decoding(corpus["validation"], tokenizer, cfg.decode))

    # A LoRA run's best model is saved merged: a plain seq2seq model.
    best = (AutoModelForSeq2SeqLM if lora else type(model)).from_pretrained(result.best_model_dir)
    evaluations = {split: trainer.evaluate(best, encoded[split], collate_fn=collate) for split in ("validation", "test")}
    metrics: dict = {
        "source": cfg.data.source,
        "split_sizes": {split: len(corpus[split]) for split in corpus},
        "data_seconds": data_seconds,
        "vocabulary": {"kind": "pretrained" if pretrained else cfg.data.tokenizer, "tokens": len(tokenizer),
                       "target": target_vocab_size},
        "parameters": best.num_parameters(),
        "trainable_parameters": trained_parameters,
        "train_steps": result.global_step, "best_step": result.best_step, "stop_reason": result.stop_reason,
        "train_minutes": result.train_seconds / 60,
        "train_pairs_per_s": result.examples_seen / max(result.train_seconds, 1e-9),
        **{split: {"token_accuracy": v["accuracy"], "loss": v["loss"], "tokens": int(v["count"])}
           for split, v in evaluations.items()},
    }
    if accelerator.is_main_process:
        run_dir = Path(cfg.train.output_dir)
        metrics["decoding"], samples = score_test_translations(best, tokenizer, corpus["test"], cfg.decode,
                                                               save_to=run_dir)
        metrics["examples"] = example_translations(best, tokenizer, cfg.decode, run_dir)
        metrics["wall_minutes"] = (time.monotonic() - started) / 60
        write_translation_report(run_dir, to_dict(cfg), metrics, samples, result.history, accelerator.num_processes)
        beam = metrics["decoding"][f"beam {cfg.decode.num_beams}"]
        accelerator.print(f"\ntest token accuracy {metrics['test']['token_accuracy']:.4f}, BLEU (beam "
                          f"{cfg.decode.num_beams}) {beam['bleu']:.2f}, chrF {beam['chrf']:.3f}; "
                          f"report: {run_dir / 'report.md'}")
        finish_model_folder(result.best_model_dir, cfg.push_to_hub, accelerator.print)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return metrics


def validation_decoding(validation, tokenizer, cfg: DecodeConfig):
    """What scores the model's translations of the first `validation_sentences` validation pairs at each
    evaluation (None when it is 0)."""
    count = min(cfg.validation_sentences, len(validation))
    if not count:
        return None
    sources, references = list(validation["en"][:count]), list(validation["es"][:count])
    return partial(decoded_scores, tokenizer=tokenizer, sources=sources, references=references,
                   num_beams=cfg.validation_beams, batch_size=cfg.batch_size, max_new_tokens=cfg.max_new_tokens)


def build_model(cfg: ModelConfig, tokenizer, target_vocab_size: int):
    """A fresh RNNForSeq2SeqLM or MarianMTModel for `tokenizer`'s id layout (the decoder predicts the
    first `target_vocab_size` ids)."""
    special_ids = {"pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id,
                   "bos_token_id": tokenizer.bos_token_id, "decoder_start_token_id": tokenizer.bos_token_id}
    if cfg.architecture == "marian":  # (hidden_size a multiple of the heads: checked by ModelConfig)
        # Opus-MT's choices (swish, scaled embeddings, sinusoidal positions) at a CPU-trainable size.
        model = MarianMTModel(MarianConfig(
            vocab_size=len(tokenizer), decoder_vocab_size=target_vocab_size, share_encoder_decoder_embeddings=False,
            tie_word_embeddings=False, d_model=cfg.hidden_size, encoder_layers=cfg.transformer_layers,
            decoder_layers=cfg.transformer_layers, encoder_attention_heads=cfg.transformer_heads,
            decoder_attention_heads=cfg.transformer_heads, encoder_ffn_dim=cfg.transformer_ffn_size,
            decoder_ffn_dim=cfg.transformer_ffn_size, activation_function="swish", scale_embedding=True,
            dropout=cfg.dropout, max_position_embeddings=256, forced_eos_token_id=None, **special_ids))
        if cfg.gradient_checkpointing:
            enable_activation_checkpointing(model)
        return model
    lstm_settings = {k: v for k, v in to_dict(cfg).items() if not k.startswith("transformer_") and k != "architecture"}
    try:
        config = Seq2SeqRNNConfig(vocab_size=len(tokenizer), target_vocab_size=target_vocab_size,
                                  unk_token_id=tokenizer.unk_token_id, **special_ids, **lstm_settings)
    except ValueError as error:
        raise UserError(f"invalid `--model.*` setting: {error}.") from None
    return RNNForSeq2SeqLM(config)


if __name__ == "__main__":
    exit_on_user_error(main)()
