"""LSTM encoder–decoder for translation (Géron, Hands-On ML ch. 16), a `PreTrainedModel`.

Encoder: Embedding -> LSTM (optionally bidirectional) over the source. Decoder: Embedding -> LSTM
started from the encoder's final states, trained with teacher forcing, then optional attention
over the encoder outputs (`attention.py`: Bahdanau additive, Luong dot / general), then the
output layer over the target vocabulary.

Masking: the encoder reads a packed batch, so padding never reaches its final states (both
directions of a bidirectional LSTM start and stop at each sentence's own ends); attention masks
padded source positions out. Padding after a target sentence only follows its last real step.

Bidirectional encoders hand the decoder their two directions' final states either concatenated
(`bidirectional_states="concat"`, each direction has hidden_size / 2 units, as the reference's
Bidirectional(LSTM(256)) feeding an LSTM(512)) or projected by a linear layer from 2 × hidden_size.

Vocabularies: one word-level tokenizer serves both languages (so `AutoTokenizer` and `generate()`
work with one tokenizer); its first `target_vocab_size` ids are the target words,
which is all the decoder embeds and predicts. Target ids past that range read as `[UNK]`.
(transformers 5 removed the "translation" pipeline; `hf_nlp.generation.translate` batches
`generate()` over many sentences instead.)

`generate()` (greedy, beam search with length penalty, `num_return_sequences`, sampling) runs
transformers' own batched decoding: the decoder LSTM state travels in `cache` (a `DynamicCache`,
see `recurrent_state.py`) and the encoder outputs, final states and source mask travel batch-first
in `encoder_outputs`, which generation expands along the beams.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import DynamicCache, GenerationMixin, PreTrainedConfig, PreTrainedModel
from transformers.modeling_outputs import Seq2SeqLMOutput
from transformers.utils import ModelOutput

from hf_nlp.models.attention import ATTENTION_TYPES, LUONG_SCORES, SourceAttention
from hf_nlp.models.fused_rnn import RNN_BACKENDS, FusedLSTM
from hf_nlp.models.recurrent_state import read_rnn_state, write_rnn_state

IGNORE_INDEX = -100
BIDIRECTIONAL_STATES = ("concat", "project")


@strict
class Seq2SeqRNNConfig(PreTrainedConfig):
    r"""
    vocab_size (`int`, defaults to 1000): Ids the tokenizer produces (both languages; the encoder embeds them all).
    target_vocab_size (`int`, *optional*): Ids the decoder embeds and predicts (the first ones); None = vocab_size.
    embedding_size (`int`, defaults to 128): Width of the source and target embeddings.
    hidden_size (`int`, defaults to 512): Units of the decoder LSTM (and of the encoder's, unidirectional).
    num_layers (`int`, defaults to 1): Stacked LSTM layers in the encoder and in the decoder.
    bidirectional (`bool`, defaults to `False`): Read the source both ways.
    bidirectional_states (`str`, defaults to `"concat"`): `"concat"` (hidden_size / 2 per direction) or `"project"`.
    attention (`str`, defaults to `"none"`): `"none"`, `"bahdanau"` or `"luong"`.
    luong_score (`str`, defaults to `"general"`): Luong's `"dot"` or `"general"` score.
    attention_size (`int`, defaults to 128): Width of Bahdanau's additive scoring layer.
    dropout (`float`, defaults to 0.0): Dropout on embeddings, between layers and before the output layer.
    rnn_backend (`str`, defaults to `"auto"`): `"auto"`, `"fused"` or `"torch"`: which code runs the LSTMs on CPU
        (`fused_rnn.py`); the weights are the same either way.
    """

    model_type = "hf_nlp_seq2seq_rnn"
    attribute_map = {"num_hidden_layers": "num_layers"}

    vocab_size: int = 1000
    target_vocab_size: int | None = None
    embedding_size: int = 128
    hidden_size: int = 512
    num_layers: int = 1
    bidirectional: bool = False
    bidirectional_states: str = "concat"
    attention: str = "none"
    luong_score: str = "general"
    attention_size: int = 128
    dropout: float = 0.0
    rnn_backend: str = "auto"
    pad_token_id: int | None = 0
    unk_token_id: int | None = 1
    bos_token_id: int | None = 2
    eos_token_id: int | None = 3
    decoder_start_token_id: int | None = 2
    is_encoder_decoder: bool = True
    use_cache: bool = True
    tie_word_embeddings: bool = False

    def __post_init__(self, **kwargs):
        if self.target_vocab_size is None:
            self.target_vocab_size = self.vocab_size
        if not 0 < self.target_vocab_size <= self.vocab_size:
            raise ValueError(f"target_vocab_size must be in 1..vocab_size ({self.vocab_size}), got {self.target_vocab_size}")
        if self.attention not in ATTENTION_TYPES:
            raise ValueError(f"attention must be one of {ATTENTION_TYPES}, got {self.attention!r}")
        if self.luong_score not in LUONG_SCORES:
            raise ValueError(f"luong_score must be one of {LUONG_SCORES}, got {self.luong_score!r}")
        if self.bidirectional_states not in BIDIRECTIONAL_STATES:
            raise ValueError(f"bidirectional_states must be one of {BIDIRECTIONAL_STATES}, got {self.bidirectional_states!r}")
        if self.bidirectional and self.bidirectional_states == "concat" and self.hidden_size % 2:
            raise ValueError(f"concatenated bidirectional states need an even hidden_size, got {self.hidden_size}")
        if self.rnn_backend not in RNN_BACKENDS:
            raise ValueError(f"rnn_backend must be one of {list(RNN_BACKENDS)}, got {self.rnn_backend!r}")
        super().__post_init__(**kwargs)

    @property
    def encoder_direction_size(self) -> int:
        """Units per encoder direction."""
        concat = self.bidirectional and self.bidirectional_states == "concat"
        return self.hidden_size // 2 if concat else self.hidden_size

    @property
    def encoder_output_size(self) -> int:
        """Width of the encoder outputs that attention reads."""
        return self.encoder_direction_size * (2 if self.bidirectional else 1)

    @property
    def layer_types(self) -> list[str]:
        # One recurrent cache layer per decoder LSTM layer (DynamicCache builds them from this).
        return ["linear_attention"] * self.num_layers

    @property
    def number_of_conv_states(self) -> int:
        return 2  # LSTM: h and c


@dataclass
class Seq2SeqRNNEncoderOutput(ModelOutput):
    """Everything the decoder needs from the source, batch-first so generation can expand it per beam.

    last_hidden_state: `(B, S, K)` encoder outputs (zeros at padding).
    final_hidden, final_cell: `(B, L, H)` the decoder's initial LSTM state.
    source_mask: `(B, S)` 1 on real source tokens.
    attention_keys: the attention's projection of `last_hidden_state`, filled in by the first decoder
        step and reused by the next ones (generation passes the same object back at every step).
    """

    last_hidden_state: torch.Tensor | None = None
    final_hidden: torch.Tensor | None = None
    final_cell: torch.Tensor | None = None
    source_mask: torch.Tensor | None = None
    attention_keys: torch.Tensor | None = None


class Seq2SeqRNNPreTrainedModel(PreTrainedModel):
    config_class = Seq2SeqRNNConfig
    config: Seq2SeqRNNConfig
    base_model_prefix = "seq2seq_rnn"
    main_input_name = "input_ids"
    _is_stateful = True  # RNN state cannot be rolled back: no assisted decoding
    _no_split_modules: list[str] = []

    def _init_weights(self, module: nn.Module) -> None:
        return  # keep PyTorch's own (Keras-like) initialisation


class RNNEncoder(nn.Module):
    """Embedding -> packed (bi)LSTM; returns outputs, the decoder's initial state and the source mask."""

    main_input_name = "input_ids"

    def __init__(self, config: Seq2SeqRNNConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=config.pad_token_id)
        self.rnn = FusedLSTM(config.embedding_size, config.encoder_direction_size, config.num_layers, batch_first=True,
                             bidirectional=config.bidirectional, dropout=config.dropout if config.num_layers > 1 else 0.0,
                             backend=config.rnn_backend)
        self.dropout = nn.Dropout(config.dropout)
        projected = config.bidirectional and config.bidirectional_states == "project"
        self.state_projection = nn.Linear(2 * config.hidden_size, config.hidden_size) if projected else None

    def forward(self, input_ids: torch.LongTensor, attention_mask: torch.Tensor | None = None,
                **kwargs) -> Seq2SeqRNNEncoderOutput:
        if attention_mask is None:
            attention_mask = (input_ids != self.config.pad_token_id).long()
        lengths = attention_mask.sum(dim=1).clamp(min=1)  # (B,)
        embeddings = self.dropout(self.embedding(input_ids))  # (B, S, E)
        # Packed-sequence semantics: each row stops at its length (zero outputs after it).
        outputs, (hidden, cell) = self.rnn(embeddings, lengths=lengths)  # (B, S, K); hidden, cell: (L * D, B, h)
        return Seq2SeqRNNEncoderOutput(
            last_hidden_state=outputs,
            final_hidden=self._decoder_state(hidden),
            final_cell=self._decoder_state(cell),
            source_mask=attention_mask,
        )

    def _decoder_state(self, state: torch.Tensor) -> torch.Tensor:
        """`(L * D, B, h)` final states -> `(B, L, H)`: directions concatenated (then projected)."""
        layers, directions = self.config.num_layers, 2 if self.config.bidirectional else 1
        batch_size = state.shape[1]
        state = state.view(layers, directions, batch_size, -1).permute(2, 0, 1, 3)  # (B, L, D, h)
        state = state.reshape(batch_size, layers, -1)  # (B, L, D * h)
        if self.state_projection is not None:
            state = self.state_projection(state)  # (B, L, H)
        return state


class RNNForSeq2SeqLM(Seq2SeqRNNPreTrainedModel, GenerationMixin):
    def __init__(self, config: Seq2SeqRNNConfig):
        super().__init__(config)
        self.encoder = RNNEncoder(config)
        self.decoder_embedding = nn.Embedding(config.target_vocab_size, config.embedding_size,
                                              padding_idx=config.pad_token_id)
        self.decoder_rnn = FusedLSTM(config.embedding_size, config.hidden_size, config.num_layers, batch_first=True,
                                     dropout=config.dropout if config.num_layers > 1 else 0.0, backend=config.rnn_backend)
        self.attention = None if config.attention == "none" else SourceAttention(
            config.attention, config.hidden_size, config.encoder_output_size, config.attention_size, config.luong_score)
        self.dropout = nn.Dropout(config.dropout)
        self.lm_head = nn.Linear(config.hidden_size, config.target_vocab_size)
        self.post_init()

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        # Otherwise generate() wraps the cache in an EncoderDecoderCache, which has no recurrent layers.
        return False

    def get_encoder(self, modality: str | None = None) -> RNNEncoder:
        return self.encoder

    def get_input_embeddings(self) -> nn.Embedding:
        return self.encoder.embedding

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.encoder.embedding = value

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def prepare_decoder_input_ids_from_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """`[BOS] y_1 ... y_{n-1}` from labels `y_1 ... y_n` (teacher forcing; used by DataCollatorForSeq2Seq)."""
        shifted = labels.new_full(labels.shape, self.config.decoder_start_token_id)
        shifted[:, 1:] = labels[:, :-1]
        return shifted.masked_fill(shifted == IGNORE_INDEX, self.config.pad_token_id)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        encoder_outputs: Seq2SeqRNNEncoderOutput | None = None,
        cache: DynamicCache | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        **kwargs,
    ) -> Seq2SeqLMOutput:
        r"""
        input_ids: `(B, S)` right-padded source ids.
        attention_mask: `(B, S)`, 1 on real source tokens; derived from `pad_token_id` when omitted.
        decoder_input_ids: `(B, T)` target ids fed to the decoder; built from `labels` when omitted.
        encoder_outputs: a `Seq2SeqRNNEncoderOutput` (generation computes it once per batch).
        cache: the decoder's LSTM state from the previous step; None starts from the encoder's final states.
        labels: `(B, T)` target ids ending with `[EOS]`, -100 where ignored.
        output_attentions: also return the attention weights as `cross_attentions` `((B, 1, T, S),)`.
        """
        config = self.config
        if encoder_outputs is None:
            encoder_outputs = self.encoder(input_ids, attention_mask)
        if labels is not None:
            labels = self._target_ids(labels)
            if decoder_input_ids is None:
                decoder_input_ids = self.prepare_decoder_input_ids_from_labels(labels)
        decoder_input_ids = self._target_ids(decoder_input_ids)
        use_cache = use_cache if use_cache is not None else (config.use_cache and not self.training)

        state = read_rnn_state(cache, config.num_layers, is_lstm=True)
        if state is None:  # the first step: start from the encoder's final states
            state = (encoder_outputs.final_hidden.transpose(0, 1).contiguous(),  # (L, B, H)
                     encoder_outputs.final_cell.transpose(0, 1).contiguous())
        embeddings = self.dropout(self.decoder_embedding(decoder_input_ids))  # (B, T, E)
        outputs, final_state = self.decoder_rnn(embeddings, state)  # (B, T, H)
        if use_cache:
            cache = cache if cache is not None else DynamicCache(config=config)
            write_rnn_state(cache, final_state)

        weights = None
        if self.attention is not None:
            if encoder_outputs.attention_keys is None:  # once per source batch, not once per generated token
                encoder_outputs["attention_keys"] = self.attention.project_keys(encoder_outputs.last_hidden_state)
            outputs, weights = self.attention(outputs, encoder_outputs.last_hidden_state, encoder_outputs.source_mask,
                                              encoder_outputs.attention_keys)  # (B, T, H), (B, T, S)
        logits = self.lm_head(self.dropout(outputs))  # (B, T, V_target)

        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX)
        return Seq2SeqLMOutput(
            loss=loss,
            logits=logits,
            cache=cache if use_cache else None,
            cross_attentions=(weights.unsqueeze(1),) if output_attentions and weights is not None else None,
            encoder_last_hidden_state=encoder_outputs.last_hidden_state,
        )

    def _target_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """Ids past the target vocabulary (source-only words) read as [UNK]; -100 stays."""
        return ids.masked_fill(ids >= self.config.target_vocab_size, self.config.unk_token_id)


__all__ = ["RNNEncoder", "RNNForSeq2SeqLM", "Seq2SeqRNNConfig", "Seq2SeqRNNEncoderOutput", "Seq2SeqRNNPreTrainedModel"]
