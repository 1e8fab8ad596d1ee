"""Text generation with greedy, temperature, top-k and nucleus (top-p) decoding.

All of it is `model.generate()` with a `GenerationConfig`: our RNNs carry their state in the
generation cache, so the prompt is read once and each new token costs one step. A model with a
bounded context (GPT-2's learned positions: `max_position_embeddings`) writes texts longer than its
context in segments, each started from the end of the last (`generate_sliding`).
"""

from __future__ import annotations

import copy

import torch
from transformers import GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase
from transformers.generation.streamers import BaseStreamer

from hf_nlp.errors import UserError


def sampling_config(
    max_new_tokens: int,
    temperature: float | None = None,
    top_k: int | None = None,
    top_p: float | None = None,
) -> GenerationConfig:
    """Greedy when no sampling option is set (or temperature is 0); sampling otherwise."""
    if max_new_tokens < 1:
        raise UserError("`--max-new-tokens` must be at least 1.")
    if temperature is not None and temperature < 0:
        raise UserError("`--temperature` must be 0 (greedy) or positive.")
    if top_k is not None and top_k < 0:
        raise UserError("`--top-k` must be positive (or 0 to disable it).")
    if top_p is not None and not 0 < top_p <= 1:
        raise UserError("`--top-p` must be in (0, 1].")
    do_sample = temperature != 0 and any(v is not None for v in (temperature, top_k, top_p))
    if not do_sample:
        return GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False)
    return GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=True,
        temperature=temperature if temperature is not None else 1.0,
        top_k=top_k or 0,  # 0 disables top-k (transformers' default would be 50)
        top_p=top_p if top_p is not None else 1.0,
    )


def encode_prompt(tokenizer: PreTrainedTokenizerBase, prompt: str) -> torch.Tensor:
    """`(1, T)` ids of a prompt; an empty prompt or one with unknown characters is a user error."""
    if not prompt:
        raise UserError("the prompt is empty; pass some text with `--prompt`, e.g. --prompt \"to be or not to b\".")
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    if tokenizer.unk_token_id is not None and (ids == tokenizer.unk_token_id).any():
        vocab = tokenizer.get_vocab()
        normalize = tokenizer.backend_tokenizer.normalizer
        text = normalize.normalize_str(prompt) if normalize is not None else prompt
        unknown = sorted({c for c in text if c not in vocab})
        raise UserError(f"the prompt has characters the model never saw ({''.join(unknown)!r}); remove them.")
    return ids


def generate_text(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompt: str,
    config: GenerationConfig,
    seed: int | None = None,
    streamer: BaseStreamer | None = None,
) -> str:
    """The prompt followed by the generated continuation."""
    input_ids = encode_prompt(tokenizer, prompt).to(model.device)
    if seed is not None:
        torch.manual_seed(seed)
    config = copy.deepcopy(config)
    config.pad_token_id = tokenizer.pad_token_id
    context = getattr(model.config, "max_position_embeddings", None)
    if context is not None and input_ids.shape[1] + config.max_new_tokens > context:
        new_ids = generate_sliding(model, input_ids, config, context, streamer)
    else:
        new_ids = model.generate(input_ids, generation_config=config, streamer=streamer)[0, input_ids.shape[1] :]
    return prompt + tokenizer.decode(new_ids, skip_special_tokens=True)


def generate_sliding(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    config: GenerationConfig,
    context: int,
    streamer: BaseStreamer | None = None,
) -> torch.Tensor:
    """`(new,)` ids continuing `input_ids` `(1, T)` for a model that reads at most `context` tokens.

    nanoGPT crops its input to the last `context` tokens at every step, which re-reads the whole context
    for each new character. Here `generate()` runs with its cache until the context is full, then starts
    again from the last half of it: a new segment's first step reads `context // 2` tokens, every other
    step one, and each character still sees at least half a context. The streamer sees one prompt, the
    new tokens and one end, as from a single `generate()` call."""
    keep = max(context // 2, 1)
    ids = input_ids[:, -(context - 1) :]  # a prompt longer than the context is read from its end
    segment_streamer = _Continued(streamer) if streamer is not None else None
    pieces, remaining = [], config.max_new_tokens
    while remaining > 0:
        segment = copy.deepcopy(config)
        segment.max_new_tokens = min(remaining, context - ids.shape[1])
        output = model.generate(ids, generation_config=segment, streamer=segment_streamer)  # (1, len + new)
        new = output[:, ids.shape[1] :]
        pieces.append(new)
        remaining -= new.shape[1]
        if new.shape[1] < segment.max_new_tokens:  # stopped early (an end-of-text token)
            break
        ids = output[:, -keep:]
    if streamer is not None:
        streamer.end()
    return torch.cat(pieces, dim=1)[0]


class _Continued(BaseStreamer):
    """Passes several `generate()` calls to `streamer` as one: each later call's prompt (the first
    `put`, the end of text already streamed) and every call's `end()` are held back."""

    def __init__(self, streamer: BaseStreamer):
        self.streamer = streamer
        self.calls = 0
        self.prompt_next = True

    def put(self, value: torch.Tensor) -> None:
        if self.prompt_next:
            self.prompt_next = False
            self.calls += 1
            if self.calls > 1:
                return
        self.streamer.put(value)

    def end(self) -> None:
        self.prompt_next = True
