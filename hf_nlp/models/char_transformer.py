"""A character-level GPT-2 from scratch: the transformer beside the char-RNN.

This is `transformers`' own `GPT2LMHeadModel`, not a copy of it, so a trained model is a plain GPT-2
folder: `AutoModelForCausalLM.from_pretrained`, `generate()` (with its key/value cache), pipelines and
`push_to_hub` need nothing of ours. The reference size is nanoGPT's "baby GPT" on tiny Shakespeare
(6 layers, 6 heads, width 384, 256-character context, dropout 0.2: validation loss 1.4697 on the
case-sensitive text); the char recipe's `--model.architecture gpt2` builds it from the same keys as the
RNN (`hidden_size`, `num_layers`, `dropout`) plus `num_heads`, its context being the data's `window`.

GPT-2 learns one position embedding per context slot, so it cannot read more than `n_positions`
characters at once; `hf_nlp.generation.sampling.generate_text` slides the context for longer texts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.modeling_outputs import CausalLMOutputWithCrossAttentions

from hf_nlp.models.seq2seq_rnn import IGNORE_INDEX


def char_gpt2(
    vocab_size: int,
    pad_token_id: int | None,
    context: int,
    hidden_size: int,
    num_layers: int,
    num_heads: int,
    dropout: float,
) -> GPT2LMHeadModel:
    """A GPT-2 with randomly initialised weights (GPT-2's own scheme, as nanoGPT's), tied input and
    output embeddings, reading at most `context` characters."""
    config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=context,
        n_embd=hidden_size,
        n_layer=num_layers,
        n_head=num_heads,
        resid_pdrop=dropout,
        embd_pdrop=dropout,
        attn_pdrop=dropout,
        # A character vocabulary has no GPT-2 BOS/EOS (50256); generation stops at max_new_tokens.
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=pad_token_id,
    )
    return GPT2LMHeadModel(config)


def shift_labels_forward(model: GPT2LMHeadModel, batch: dict[str, torch.Tensor]) -> CausalLMOutputWithCrossAttentions:
    """The char windows' batch (`input_ids` and `shift_labels`, both `(B, T)`, the targets already
    aligned with the logits) through a transformers causal LM, with the mean token loss.

    GPT-2's own loss takes `labels` and shifts them, which would leave the window's last position
    untrained; here every one of the T positions is a target, exactly as for the RNN."""
    logits = model(input_ids=batch["input_ids"], use_cache=False).logits  # (B, T, V)
    targets = batch["shift_labels"]  # (B, T)
    loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE_INDEX)
    return CausalLMOutputWithCrossAttentions(loss=loss, logits=logits)


__all__ = ["char_gpt2", "shift_labels_forward"]
