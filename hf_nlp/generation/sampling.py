"""Text generation with greedy, temperature, top-k and nucleus (top-p) decoding.

All of it is `model.generate()` with a `GenerationConfig`: our RNNs carry their state in the
generation cache, so the prompt is read once and each new token costs one step.
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
    output = model.generate(input_ids, generation_config=config, streamer=streamer)  # (1, T + new)
    return prompt + tokenizer.decode(output[0, input_ids.shape[1] :], skip_special_tokens=True)
