"""RNNForSeq2SeqLM: attention masks and shapes, bidirectional states, Auto save/load, and decoding
through transformers' generate() checked against hand-written step loops."""

import pytest
import torch
from transformers import AutoConfig, AutoModelForSeq2SeqLM

from hf_nlp.models import RNNForSeq2SeqLM, Seq2SeqRNNConfig

PAD, UNK, BOS, EOS = 0, 1, 2, 3
VARIANTS = [
    {"attention": "none"},
    {"attention": "bahdanau"},
    {"attention": "luong", "luong_score": "dot"},
    {"attention": "luong", "luong_score": "general"},
    {"attention": "bahdanau", "bidirectional": True},
    {"attention": "luong", "luong_score": "general", "bidirectional": True, "bidirectional_states": "project"},
]


def tiny_model(seed: int = 0, **overrides) -> RNNForSeq2SeqLM:
    torch.manual_seed(seed)
    settings = {"vocab_size": 24, "target_vocab_size": 16, "embedding_size": 8, "hidden_size": 12,
                "attention_size": 6, **overrides}
    return RNNForSeq2SeqLM(Seq2SeqRNNConfig(**settings)).eval()


# Two right-padded source sentences of lengths 5 and 3, each ending with [EOS].
SOURCE = torch.tensor([[5, 17, 7, 20, EOS, PAD, PAD], [9, 22, EOS, PAD, PAD, PAD, PAD]])
LABELS = torch.tensor([[4, 5, 6, EOS], [7, EOS, -100, -100]])


@pytest.mark.parametrize("settings", VARIANTS, ids=lambda s: "-".join(str(v) for v in s.values()))
def test_attention_weights_are_a_distribution_over_real_source_tokens(settings):
    model = tiny_model(**settings)
    out = model(input_ids=SOURCE, labels=LABELS, output_attentions=True)
    assert out.logits.shape == (2, 4, 16)
    assert torch.isfinite(out.loss)
    if settings["attention"] == "none":
        assert out.cross_attentions is None
        return
    weights = out.cross_attentions[0]
    assert weights.shape == (2, 1, 4, 7)  # (B, heads, T, S)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 1, 4))
    assert (weights[0, ..., 5:] == 0).all() and (weights[1, ..., 3:] == 0).all()  # padding gets nothing
    assert (weights[0, ..., :5] > 0).all() and (weights[1, ..., :3] > 0).all()


@pytest.mark.parametrize("settings", VARIANTS, ids=lambda s: "-".join(str(v) for v in s.values()))
def test_extra_source_padding_changes_nothing(settings):
    model = tiny_model(**settings)
    padded = torch.cat([SOURCE, torch.zeros(2, 6, dtype=torch.long)], dim=1)
    short = model(input_ids=SOURCE, labels=LABELS)
    long = model(input_ids=padded, labels=LABELS)
    torch.testing.assert_close(short.logits, long.logits)


@pytest.mark.parametrize(("states", "direction_size"), [("concat", 6), ("project", 12)])
def test_bidirectional_encoder_states_have_the_decoders_shape(states, direction_size):
    model = tiny_model(bidirectional=True, bidirectional_states=states, num_layers=2)
    assert model.encoder.rnn.hidden_size == direction_size
    encoded = model.get_encoder()(SOURCE)
    assert encoded.last_hidden_state.shape == (2, 7, 2 * direction_size)
    assert encoded.final_hidden.shape == encoded.final_cell.shape == (2, 2, 12)  # (B, L, H)
    # The backward direction's final output sits at each sentence's first token, not in the padding.
    backward_first = encoded.last_hidden_state[1, 0, direction_size:]
    assert backward_first.abs().sum() > 0 and (encoded.last_hidden_state[1, 3:] == 0).all()


def test_dot_score_needs_matching_widths():
    with pytest.raises(ValueError, match="general"):
        tiny_model(attention="luong", luong_score="dot", bidirectional=True, bidirectional_states="project")


def test_source_only_ids_read_as_unk_on_the_target_side():
    model = tiny_model()
    with_source_only_word = model(input_ids=SOURCE, labels=torch.tensor([[4, 20, 6, EOS], [7, EOS, -100, -100]]))
    with_unk = model(input_ids=SOURCE, labels=torch.tensor([[4, UNK, 6, EOS], [7, EOS, -100, -100]]))
    torch.testing.assert_close(with_source_only_word.loss, with_unk.loss)


def test_save_and_load_through_the_auto_classes(tmp_path):
    model = tiny_model(attention="luong", bidirectional=True)
    model.save_pretrained(tmp_path)
    assert AutoConfig.from_pretrained(tmp_path).model_type == "hf_nlp_seq2seq_rnn"
    loaded = AutoModelForSeq2SeqLM.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, RNNForSeq2SeqLM) and loaded.config.target_vocab_size == 16
    torch.testing.assert_close(loaded(input_ids=SOURCE, labels=LABELS).logits, model(input_ids=SOURCE, labels=LABELS).logits)


# ------------------------------------------------------------------ decoding


def manual_greedy(model: RNNForSeq2SeqLM, source: torch.Tensor, max_new_tokens: int) -> list[int]:
    """Re-run the whole teacher-forced decoder on the prefix each step (no cache) and take the argmax."""
    prefix = [BOS]
    for _ in range(max_new_tokens):
        logits = model(input_ids=source, decoder_input_ids=torch.tensor([prefix]), use_cache=False).logits
        prefix.append(int(logits[0, -1].argmax()))
        if prefix[-1] == EOS:
            break
    return prefix


def sequence_log_prob(model: RNNForSeq2SeqLM, source: torch.Tensor, generated: list[int]) -> float:
    """Sum of log-probabilities of `generated` after its [BOS], [EOS] included."""
    tokens = generated[1:]
    logits = model(input_ids=source, decoder_input_ids=torch.tensor([[BOS, *tokens[:-1]]]), use_cache=False).logits
    return float(logits.log_softmax(-1)[0, torch.arange(len(tokens)), torch.tensor(tokens)].sum())


@pytest.mark.parametrize("settings", VARIANTS, ids=lambda s: "-".join(str(v) for v in s.values()))
def test_greedy_generate_equals_a_step_loop_without_cache(settings):
    model = tiny_model(seed=3, num_layers=2, **settings)
    generated = model.generate(SOURCE, max_new_tokens=8, do_sample=False)
    for row in range(2):
        length = int((SOURCE[row] != PAD).sum())
        expected = manual_greedy(model, SOURCE[row:row + 1, :length], 8)
        assert generated[row, :len(expected)].tolist() == expected
        assert (generated[row, len(expected):] == PAD).all()


def test_beam_width_one_is_greedy():
    model = tiny_model(seed=1, attention="bahdanau")
    greedy = model.generate(SOURCE, max_new_tokens=8, do_sample=False)
    beam = model.generate(SOURCE, max_new_tokens=8, num_beams=1, do_sample=False)
    assert torch.equal(greedy, beam)


def reversal_batch(generator: torch.Generator, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sources of 3-6 tokens from 4..11 + [EOS]; targets: the tokens reversed + [EOS] (right-padded)."""
    sources, targets = [], []
    for _ in range(size):
        tokens = torch.randint(4, 12, (int(torch.randint(3, 7, (1,), generator=generator)),), generator=generator)
        sources.append(torch.cat([tokens, torch.tensor([EOS])]))
        targets.append(torch.cat([tokens.flip(0), torch.tensor([EOS])]))
    pad = torch.nn.utils.rnn.pad_sequence
    return pad(sources, batch_first=True, padding_value=PAD), pad(targets, batch_first=True, padding_value=-100)


@pytest.fixture(scope="module")
def half_trained_model() -> RNNForSeq2SeqLM:
    """A model part-way through learning to reverse: confident enough to stop, wrong often enough
    for beam search and greedy decoding to disagree."""
    model = tiny_model(seed=0, attention="luong", vocab_size=12, target_vocab_size=12, hidden_size=24).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    generator = torch.Generator().manual_seed(0)
    for _ in range(60):
        source, labels = reversal_batch(generator, 32)
        model(input_ids=source, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return model.eval()


def finished(generated: list[int]) -> list[int] | None:
    """[BOS] ... [EOS] without the padding after it; None if the budget ran out first."""
    return generated[: generated.index(EOS) + 1] if EOS in generated else None


@torch.no_grad()
def test_beam_search_never_scores_below_greedy(half_trained_model):
    """On the model's own log-probability (no length penalty), over 64 sentences."""
    model = half_trained_model
    source, _ = reversal_batch(torch.Generator().manual_seed(1), 64)
    greedy = model.generate(source, max_new_tokens=12, do_sample=False)
    beam = model.generate(source, max_new_tokens=12, do_sample=False, num_beams=4, length_penalty=0.0)
    compared = differed = 0
    for row in range(len(source)):
        one = source[row:row + 1, : int((source[row] != PAD).sum())]
        greedy_output, beam_output = finished(greedy[row].tolist()), finished(beam[row].tolist())
        if greedy_output is None or beam_output is None:
            continue
        greedy_score, beam_score = sequence_log_prob(model, one, greedy_output), sequence_log_prob(model, one, beam_output)
        assert beam_score >= greedy_score - 1e-4, (row, greedy_output, beam_output)
        compared += 1
        differed += beam_output != greedy_output
    assert compared >= 48 and differed >= 3  # the check ran on real, differing decodings


def test_batched_beam_search_equals_one_sentence_at_a_time():
    model = tiny_model(seed=2, attention="bahdanau", bidirectional=True)
    batched = model.generate(SOURCE, max_new_tokens=8, num_beams=3, num_return_sequences=2, do_sample=False)
    assert batched.shape[0] == 4
    for row in range(2):
        length = int((SOURCE[row] != PAD).sum())
        alone = model.generate(SOURCE[row:row + 1, :length], max_new_tokens=8, num_beams=3, num_return_sequences=2,
                               do_sample=False)
        for k in range(2):
            got = [t for t in batched[2 * row + k].tolist() if t != PAD]
            assert got == [t for t in alone[k].tolist() if t != PAD]
