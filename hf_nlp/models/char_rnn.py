"""Character-level RNN language model (Géron, Hands-On ML ch. 16: Embedding 16 -> GRU 128 -> Dense).

A `PreTrainedModel` + `GenerationMixin`: `save_pretrained`, `from_pretrained`, `generate()`
(greedy, temperature, top-k, top-p, beam) and `pipeline("text-generation")` work as on any
transformer. The RNN state travels in `cache` (see `recurrent_state.py`), so a prompt is read
once and each new character costs one step.

Stateful training passes the previous batch's `cache` back in; the same weights then generate
statelessly, since a fresh cache starts from zeros.
"""

from __future__ import annotations

import torch
from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import DynamicCache, GenerationMixin, PreTrainedConfig, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutputWithPast

from hf_nlp.models.fused_rnn import RNN_BACKENDS, recurrent_layer, run_on_tokens
from hf_nlp.models.recurrent_state import read_rnn_state, write_rnn_state

RNN_CELLS = ("gru", "lstm", "rnn")


@strict
class CharRNNConfig(PreTrainedConfig):
    r"""
    vocab_size (`int`, defaults to 40): Size of the character vocabulary (special tokens included).
    embedding_size (`int`, defaults to 16): Width of the character embeddings.
    hidden_size (`int`, defaults to 128): Units per recurrent layer.
    num_layers (`int`, defaults to 1): Stacked recurrent layers.
    cell_type (`str`, defaults to `"gru"`): `"gru"`, `"lstm"` or `"rnn"`.
    dropout (`float`, defaults to 0.0): Dropout between recurrent layers and before the output layer.
    rnn_backend (`str`, defaults to `"auto"`): `"auto"`, `"fused"` or `"torch"`: which code runs the GRU / LSTM
        on CPU (`fused_rnn.py`); the weights are the same either way.
    """

    model_type = "hf_nlp_char_rnn"
    # transformers' cache and generation code read `num_hidden_layers`.
    attribute_map = {"num_hidden_layers": "num_layers"}

    vocab_size: int = 40
    embedding_size: int = 16
    hidden_size: int = 128
    num_layers: int = 1
    cell_type: str = "gru"
    dropout: float = 0.0
    rnn_backend: str = "auto"
    pad_token_id: int | None = 0
    use_cache: bool = True
    tie_word_embeddings: bool = False

    def __post_init__(self, **kwargs):
        if self.cell_type not in RNN_CELLS:
            raise ValueError(f"cell_type must be one of {sorted(RNN_CELLS)}, got {self.cell_type!r}")
        if self.rnn_backend not in RNN_BACKENDS:
            raise ValueError(f"rnn_backend must be one of {list(RNN_BACKENDS)}, got {self.rnn_backend!r}")
        super().__post_init__(**kwargs)

    @property
    def layer_types(self) -> list[str]:
        # One recurrent cache layer per RNN layer; DynamicCache builds LinearAttentionLayers from this.
        return ["linear_attention"] * self.num_layers

    @property
    def number_of_conv_states(self) -> int:
        # Cache slots per layer: LSTM keeps (h, c), GRU and RNN keep h.
        return 2 if self.cell_type == "lstm" else 1


class CharRNNPreTrainedModel(PreTrainedModel):
    config_class = CharRNNConfig
    config: CharRNNConfig
    base_model_prefix = "char_rnn"
    main_input_name = "input_ids"
    _is_stateful = True  # RNN state cannot be rolled back: no assisted decoding
    _no_split_modules: list[str] = []


class CharRNNForCausalLM(CharRNNPreTrainedModel, GenerationMixin):
    def __init__(self, config: CharRNNConfig):
        super().__init__(config)
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_size)
        self.rnn = recurrent_layer(
            config.cell_type,
            config.embedding_size,
            config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            batch_first=True,
            backend=config.rnn_backend,
        )
        self.dropout = nn.Dropout(config.dropout)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        # Keep PyTorch's own initialisation for every layer (Keras-like uniform ranges); the
        # transformers default would re-draw Linear/Embedding weights from N(0, 0.02).
        return

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embedding

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embedding = value

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        cache: DynamicCache | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int = 0,
        **kwargs,
    ) -> CausalLMOutputWithPast:
        r"""
        input_ids: `(B, T)` character ids.
        attention_mask: ignored; an RNN reads every position (batch prompts of equal length).
        cache: RNN state from a previous call; it is read as the initial state and updated in place.
        labels: HF convention, shifted inside (`labels = input_ids`). Pass `shift_labels` instead
            (already aligned with the logits, `(B, T)`) to train on every position of a window, as
            stateful training does.
        logits_to_keep: if > 0, compute logits for the last `logits_to_keep` positions only.
        """
        use_cache = use_cache if use_cache is not None else (self.config.use_cache and not self.training)
        if use_cache and cache is None:
            cache = DynamicCache(config=self.config)
        initial_state = read_rnn_state(cache, self.config.num_layers, self.config.cell_type == "lstm")

        # rnn(embedding(input_ids)): a fused layer looks the first input projections up per character instead
        hidden, final_state = run_on_tokens(self.rnn, self.embedding, input_ids, initial_state)  # (B, T, H); (L, B, H) or (h, c)
        if cache is not None:
            write_rnn_state(cache, final_state)

        if logits_to_keep:
            hidden = hidden[:, -logits_to_keep:]
        logits = self.lm_head(self.dropout(hidden))  # (B, T, V)

        loss = None
        if labels is not None or kwargs.get("shift_labels") is not None:
            loss = self.loss_function(logits, labels, vocab_size=self.config.vocab_size, **kwargs)
        return CausalLMOutputWithPast(loss=loss, logits=logits, cache=cache if use_cache or cache is not None else None)


__all__ = ["CharRNNConfig", "CharRNNForCausalLM", "CharRNNPreTrainedModel"]
