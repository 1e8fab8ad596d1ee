"""Activation checkpointing recomputes each transformer layer in the backward pass and changes no gradient."""

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from hf_nlp.errors import UserError
from hf_nlp.models.activation_checkpointing import enable_activation_checkpointing
from hf_nlp.models.pooled_encoder_classifier import PooledEncoderClassifier, PooledEncoderClassifierConfig

TINY_BERT = dict(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                 max_position_embeddings=32)


def layer_forwards(model: torch.nn.Module, layer_type_name: str, batch: dict) -> tuple[int, dict[str, torch.Tensor]]:
    """Forward calls per module of the named type over one training step, and the step's gradients.
    (A submodule of each checkpointed layer: the recomputation calls the layer's own forward, past
    its hooks, and its submodules' `__call__`, through theirs.)"""
    calls = []
    layers = [m for m in model.modules() if type(m).__name__ == layer_type_name]
    assert layers, layer_type_name
    handles = [layer.register_forward_hook(lambda *_: calls.append(1)) for layer in layers]
    model.train()
    model(**batch).loss.backward()
    for handle in handles:
        handle.remove()
    return len(calls) // len(layers), {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def bert_batch():
    generator = torch.Generator().manual_seed(0)
    return {"input_ids": torch.randint(1, 40, (4, 12), generator=generator), "labels": torch.tensor([0, 1, 0, 1])}


@pytest.mark.parametrize("build", ["auto", "pooled"])
def test_each_encoder_layer_runs_again_in_backward_with_the_same_gradients(build):
    def model():
        torch.manual_seed(0)  # dropout on: the recomputation must replay the same masks
        if build == "auto":
            return BertForSequenceClassification(BertConfig(**TINY_BERT))
        return PooledEncoderClassifier(PooledEncoderClassifierConfig(encoder=BertConfig(**TINY_BERT).to_dict(),
                                                                     hidden_size=8))

    plain = model()
    torch.manual_seed(1)
    plain_calls, plain_grads = layer_forwards(plain, "BertAttention", bert_batch())
    checkpointed = model()
    enable_activation_checkpointing(checkpointed)
    torch.manual_seed(1)
    calls, grads = layer_forwards(checkpointed, "BertAttention", bert_batch())
    assert (plain_calls, calls) == (1, 2)
    assert grads.keys() == plain_grads.keys()
    for name in grads:
        torch.testing.assert_close(grads[name], plain_grads[name], rtol=1e-5, atol=1e-6, msg=lambda m, name=name: f"{name}: {m}")


class IdLayout:
    """What `build_model` reads of a tokenizer: its size and special ids."""

    pad_token_id, unk_token_id, bos_token_id, eos_token_id = 0, 1, 2, 3

    def __len__(self) -> int:
        return 30


def test_the_translation_recipe_checkpoints_marian_and_refuses_it_for_the_lstm():
    from recipes.translate_seq2seq import ModelConfig, build_model

    tokenizer = IdLayout()
    settings = dict(architecture="marian", hidden_size=16, transformer_layers=1, transformer_heads=2,
                    transformer_ffn_size=32)
    batch = {"input_ids": torch.randint(4, 30, (3, 7)), "labels": torch.randint(4, 20, (3, 5))}
    counts = {}
    for flag in (False, True):
        torch.manual_seed(0)
        model = build_model(ModelConfig(gradient_checkpointing=flag, **settings), tokenizer, target_vocab_size=20)
        counts[flag], _ = layer_forwards(model, "MarianAttention", batch)
    assert counts == {False: 1, True: 2}
    with pytest.raises(UserError, match="architecture marian"):
        ModelConfig(architecture="lstm", gradient_checkpointing=True)


def test_the_encoder_recipe_refuses_it_for_a_frozen_encoder():
    from recipes.finetune_encoder import ModelConfig

    with pytest.raises(UserError, match="method full"):
        ModelConfig(encoder="minilm", method="head", gradient_checkpointing=True)
    assert ModelConfig(encoder="minilm", method="full", gradient_checkpointing=True).gradient_checkpointing
