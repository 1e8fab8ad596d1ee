import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM, GenerationConfig, pipeline

from hf_nlp.models import MODEL_REGISTRY
from hf_nlp.models.char_rnn import CharRNNConfig, CharRNNForCausalLM
from hf_nlp.text.char_tokenizer import build_char_tokenizer

VOCAB = 20


def tiny_model(cell_type: str = "gru", num_layers: int = 1, seed: int = 0) -> CharRNNForCausalLM:
    torch.manual_seed(seed)
    config = CharRNNConfig(vocab_size=VOCAB, embedding_size=4, hidden_size=8, num_layers=num_layers, cell_type=cell_type)
    return CharRNNForCausalLM(config).eval()


def test_defaults_match_the_reference_architecture():
    model = CharRNNForCausalLM(CharRNNConfig(vocab_size=40))
    assert model.embedding.embedding_dim == 16
    assert isinstance(model.rnn, torch.nn.GRU) and model.rnn.hidden_size == 128
    assert model.lm_head.out_features == 40


@pytest.mark.parametrize(("cell_type", "num_layers"), [("gru", 1), ("lstm", 2), ("rnn", 1)])
def test_forward_shapes_and_loss(cell_type, num_layers):
    model = tiny_model(cell_type, num_layers)
    ids = torch.randint(2, VOCAB, (3, 7))
    out = model(ids, labels=ids)
    assert out.logits.shape == (3, 7, VOCAB)
    assert out.loss.ndim == 0 and out.loss.item() > 0
    shifted = model(ids, shift_labels=ids)  # already-aligned targets: every position counts
    assert not torch.isclose(shifted.loss, out.loss)


def test_shift_labels_equals_labels_shifted_by_one():
    model = tiny_model()
    ids = torch.randint(2, VOCAB, (2, 9))
    hf_style = model(ids, labels=ids).loss
    aligned = torch.cat([ids[:, 1:], torch.full((2, 1), -100)], dim=1)
    torch.testing.assert_close(model(ids, shift_labels=aligned).loss, hf_style)


def test_auto_classes_and_safetensors_round_trip(tmp_path):
    model = tiny_model("lstm", 2)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    assert isinstance(AutoConfig.from_pretrained(tmp_path), CharRNNConfig)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, CharRNNForCausalLM)
    ids = torch.randint(2, VOCAB, (2, 5))
    torch.testing.assert_close(loaded(ids).logits, model(ids).logits, rtol=0, atol=0)


def test_registry_lists_every_model_type():
    assert CharRNNConfig.model_type in MODEL_REGISTRY


@pytest.mark.parametrize("cell_type", ["gru", "lstm"])
def test_stateful_two_windows_equal_stateless_concatenation(cell_type):
    model = tiny_model(cell_type, num_layers=2)
    ids = torch.randint(2, VOCAB, (4, 12))
    whole = model(ids, use_cache=False).logits
    first = model(ids[:, :5], use_cache=True)
    second = model(ids[:, 5:], cache=first.cache, use_cache=True)
    torch.testing.assert_close(torch.cat([first.logits, second.logits], dim=1), whole)


@pytest.mark.parametrize("cell_type", ["gru", "lstm"])
def test_greedy_generate_equals_a_manual_loop_over_the_full_prefix(cell_type):
    model = tiny_model(cell_type, num_layers=2)
    prompt = torch.randint(2, VOCAB, (1, 6))
    generated = model.generate(prompt, max_new_tokens=12, do_sample=False, pad_token_id=0)
    sequence = prompt
    for _ in range(12):
        next_id = model(sequence, use_cache=False).logits[:, -1].argmax(-1, keepdim=True)
        sequence = torch.cat([sequence, next_id], dim=1)
    assert generated.tolist() == sequence.tolist()


def test_generation_reads_the_prompt_once_then_one_step_per_token():
    model = tiny_model()
    lengths = []
    model.rnn.register_forward_hook(lambda module, args, output: lengths.append(args[0].shape[1]))
    model.generate(torch.randint(2, VOCAB, (1, 9)), max_new_tokens=5, do_sample=False, pad_token_id=0)
    assert lengths == [9, 1, 1, 1, 1]


def test_greedy_equals_top_k_1_sampling():
    model = tiny_model()
    prompt = torch.randint(2, VOCAB, (1, 4))
    greedy = model.generate(prompt, max_new_tokens=15, do_sample=False, pad_token_id=0)
    torch.manual_seed(123)
    top1 = model.generate(prompt, generation_config=GenerationConfig(
        max_new_tokens=15, do_sample=True, top_k=1, temperature=1.5, pad_token_id=0))
    assert greedy.tolist() == top1.tolist()


def test_top_p_samples_only_from_the_nucleus():
    model = tiny_model()
    with torch.no_grad():  # make the next-token distribution known and state independent
        model.lm_head.weight.zero_()
        model.lm_head.bias.copy_(torch.log(torch.tensor([0.5, 0.3, 0.15] + [0.05 / (VOCAB - 3)] * (VOCAB - 3))))
    prompt = torch.full((1, 1), 5)
    config = GenerationConfig(max_new_tokens=200, do_sample=True, top_p=0.7, top_k=0, pad_token_id=19, eos_token_id=None)
    torch.manual_seed(0)
    tokens = set(model.generate(prompt, generation_config=config)[0, 1:].tolist())
    assert tokens == {0, 1}  # 0.5 + 0.3 >= 0.7: only the two most likely tokens survive
    config.top_p = 0.9
    assert {2} <= set(model.generate(prompt, generation_config=config)[0, 1:].tolist()) <= {0, 1, 2}


def test_beam_search_runs_and_returns_sorted_beams():
    model = tiny_model("lstm", 2)
    out = model.generate(torch.randint(2, VOCAB, (2, 3)), max_new_tokens=4, num_beams=3, num_return_sequences=3,
                         do_sample=False, pad_token_id=0, output_scores=True, return_dict_in_generate=True)
    assert out.sequences.shape == (6, 7)
    scores = out.sequences_scores.view(2, 3)
    assert torch.all(scores[:, :-1] >= scores[:, 1:])


def test_text_generation_pipeline(tmp_path):
    text = "to be or not to be, that is the question"
    tokenizer = build_char_tokenizer([text])
    torch.manual_seed(0)
    model = CharRNNForCausalLM(CharRNNConfig(vocab_size=len(tokenizer), hidden_size=8, embedding_size=4, pad_token_id=0))
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    generator = pipeline("text-generation", model=str(tmp_path), tokenizer=str(tmp_path))
    result = generator("to be", max_new_tokens=10, do_sample=False)[0]["generated_text"]
    assert result.startswith("to be") and len(result) == len("to be") + 10
