"""The char GPT-2: its loss on shifted windows, and text longer than its context through `generate_sliding`."""

import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, GenerationConfig
from transformers.generation.streamers import BaseStreamer

from hf_nlp.generation.sampling import generate_sliding, sampling_config
from hf_nlp.models.char_transformer import char_gpt2, shift_labels_forward

CONTEXT = 16


def tiny_gpt2():
    torch.manual_seed(0)
    return char_gpt2(vocab_size=12, pad_token_id=0, context=CONTEXT, hidden_size=16, num_layers=2, num_heads=2,
                     dropout=0.0).eval()


def test_every_position_of_the_window_is_a_target():
    model = tiny_gpt2()
    ids = torch.randint(1, 12, (3, CONTEXT + 1))
    batch = {"input_ids": ids[:, :-1], "shift_labels": ids[:, 1:]}
    outputs = shift_labels_forward(model, batch)
    assert outputs.logits.shape == (3, CONTEXT, 12)
    expected = F.cross_entropy(outputs.logits.reshape(-1, 12), ids[:, 1:].reshape(-1))
    assert torch.allclose(outputs.loss, expected)
    # GPT-2's own loss (labels shifted inside) scores T - 1 positions: the last target would be lost.
    own = model(input_ids=ids[:, :-1], labels=ids[:, :-1]).loss
    assert not torch.allclose(own, expected)


def test_a_saved_model_is_plain_gpt2(tmp_path):
    model = tiny_gpt2()
    model.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert type(loaded).__name__ == "GPT2LMHeadModel" and loaded.config.n_positions == CONTEXT
    ids = torch.randint(1, 12, (1, 8))
    assert torch.equal(loaded(ids).logits, model(ids).logits)


class Collect(BaseStreamer):
    def __init__(self):
        self.puts, self.ends = [], 0

    def put(self, value):
        self.puts.append(value.reshape(-1).tolist())

    def end(self):
        self.ends += 1


def test_text_longer_than_the_context_continues_from_the_last_half():
    model = tiny_gpt2()
    prompt = torch.tensor([[1, 2, 3, 4, 5]])
    streamer = Collect()
    new = generate_sliding(model, prompt, sampling_config(40), CONTEXT, streamer)
    assert new.shape == (40,)
    # Greedy, so each segment can be replayed: up to the context from the prompt, then from the last 8.
    expected, ids = [], prompt
    while len(expected) < 40:
        budget = min(40 - len(expected), CONTEXT - ids.shape[1])
        out = model.generate(ids, generation_config=GenerationConfig(max_new_tokens=budget, do_sample=False))
        expected += out[0, ids.shape[1]:].tolist()
        ids = out[:, -CONTEXT // 2:]
    assert new.tolist() == expected
    # The streamer saw one prompt, the 40 new ids one by one, and one end, as from a single generate().
    assert streamer.puts[0] == [1, 2, 3, 4, 5] and sum(streamer.puts[1:], []) == expected and streamer.ends == 1


def test_a_prompt_longer_than_the_context_is_read_from_its_end():
    model = tiny_gpt2()
    prompt = torch.randint(1, 12, (1, 3 * CONTEXT))
    new = generate_sliding(model, prompt, sampling_config(5), CONTEXT)
    plain = model.generate(prompt[:, -(CONTEXT - 1):], generation_config=GenerationConfig(max_new_tokens=1,
                                                                                          do_sample=False))
    assert new.shape == (5,) and new[0] == plain[0, -1]
