"""The fused CPU GRU/LSTM layers (`hf_nlp/models/fused_rnn.py`) against PyTorch's own.

"Equal" here means: the largest difference is at most 1e-5 of the largest magnitude of PyTorch's
tensor (its outputs, states or gradients), in float32. Both sides round differently (one GEMM for
all input projections, vector exp/tanh), so elementwise relative error on values near zero is not
a meaningful target; measured against float64, the fused gradients are as close as PyTorch's.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from hf_nlp.errors import UserError
from hf_nlp.models.char_rnn import CharRNNConfig, CharRNNForCausalLM
from hf_nlp.models.fused_rnn import FusedGRU, FusedLSTM, fused_extension, projects_per_token, run_on_tokens
from hf_nlp.models.rnn_classifier import RNNClassifierConfig, RNNForSequenceClassification
from hf_nlp.models.seq2seq_rnn import RNNForSeq2SeqLM, Seq2SeqRNNConfig
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.skipif(fused_extension() is None, reason="the fused kernels did not build (no C++ compiler)")

CELLS = {"gru": (FusedGRU, nn.GRU), "lstm": (FusedLSTM, nn.LSTM)}


def assert_equal(actual: torch.Tensor, expected: torch.Tensor, tolerance: float = 1e-5) -> None:
    scale = expected.abs().max().item()
    error = (actual.float() - expected.float()).abs().max().item()
    assert error <= tolerance * max(scale, 1e-12), f"max difference {error:.3g} against a scale of {scale:.3g}"


def states(state) -> tuple[torch.Tensor, ...]:
    return state if isinstance(state, tuple) else (state,)


def weighted_loss(outputs: torch.Tensor, state) -> torch.Tensor:
    """A loss that gives every output position and every final state a different gradient."""
    weights = torch.linspace(-1, 1, outputs.numel()).view_as(outputs)
    return (outputs * weights).sum() + sum((s ** 2).sum() for s in states(state))


def assert_runs_equal(got, want) -> None:
    """Outputs, final states, input (and state) gradients and every weight gradient, as `run` returns them."""
    assert_equal(got[0], want[0])
    for group in (1, 2):
        for a, b in zip(got[group], want[group], strict=True):
            assert_equal(a, b)
    assert got[3].keys() == want[3].keys()
    for name in want[3]:
        assert_equal(got[3][name], want[3][name])


def run(module, x, hx, **kwargs):
    x = x.clone().requires_grad_()
    hx = None if hx is None else tuple(h.clone().requires_grad_() for h in hx)
    outputs, state = module(x, hx if hx is None or len(hx) == 2 else hx[0], **kwargs)
    weighted_loss(outputs, state).backward()
    grads = [x.grad] + ([h.grad for h in hx] if hx is not None else [])
    return outputs, states(state), grads, {name: p.grad for name, p in module.named_parameters()}


def make_pair(cell: str, layers: int, bidirectional: bool, batch_first: bool, sizes=(6, 8)):
    fused_class, torch_class = CELLS[cell]
    reference = torch_class(*sizes, layers, batch_first=batch_first, bidirectional=bidirectional)
    fused = fused_class(*sizes, layers, batch_first=batch_first, bidirectional=bidirectional, backend="fused")
    fused.load_state_dict(reference.state_dict())  # the same weights, the same names
    return fused, reference


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize(("layers", "bidirectional", "batch_first", "initial_state"),
                         list(itertools.product([1, 2], [False, True], [True, False], [True, False])))
def test_forward_and_backward_equal_pytorch(cell, layers, bidirectional, batch_first, initial_state):
    torch.manual_seed(layers * 8 + bidirectional * 4 + batch_first * 2 + initial_state)
    fused, reference = make_pair(cell, layers, bidirectional, batch_first)
    batch, steps, directions = 5, 7, 2 if bidirectional else 1
    x = torch.randn(batch, steps, 6) if batch_first else torch.randn(steps, batch, 6)
    hx = None
    if initial_state:
        hx = tuple(torch.randn(layers * directions, batch, 8) for _ in range(2 if cell == "lstm" else 1))
    assert_runs_equal(run(fused, x, hx), run(reference, x, hx))


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("batch_first", [True, False])
def test_an_unbatched_sequence_equals_pytorch(cell, batch_first):
    """A 2-D input is one sequence `(T, I)` whatever `batch_first` says, as for `nn.GRU`."""
    torch.manual_seed(5)
    fused, reference = make_pair(cell, 2, True, batch_first)
    x = torch.randn(7, 6)
    got, want = fused(x), reference(x)
    assert got[0].shape == want[0].shape == (7, 16)
    assert_equal(got[0], want[0])
    for a, b in zip(states(got[1]), states(want[1]), strict=True):
        assert_equal(a, b)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_a_char_rnn_sized_window_equals_pytorch(cell):
    """The sizes the recipes train (GRU 128 over a 100-step window), where rounding accumulates."""
    torch.manual_seed(0)
    fused, reference = make_pair(cell, 1, False, True, sizes=(16, 128))
    x = torch.randn(32, 100, 16)
    got, want = run(fused, x, None), run(reference, x, None)
    assert_equal(got[0], want[0])
    for name in want[3]:
        assert_equal(got[3][name], want[3][name])


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize(("layers", "bidirectional", "hidden"), [(1, False, 8), (2, True, 8), (1, True, 40)])
def test_lengths_give_packed_sequence_results(cell, layers, bidirectional, hidden):
    """`lengths` on the fused path equals PyTorch's `pack_padded_sequence` path, gradients included. With 40
    hidden units two threads share each step unevenly (24 and 16 units)."""
    torch.manual_seed(3)
    fused, _ = make_pair(cell, layers, bidirectional, True, sizes=(6, hidden))
    packed = CELLS[cell][0](6, hidden, layers, batch_first=True, bidirectional=bidirectional, backend="torch")
    packed.load_state_dict(fused.state_dict())
    x = torch.randn(6, 9, 6)
    lengths = torch.tensor([4, 9, 1, 7, 9, 2])  # unsorted, as batches come
    got = run(fused, x, None, lengths=lengths)
    assert torch.all(got[0][2, 1:] == 0), "outputs past a row's length are zero"
    assert_runs_equal(got, run(packed, x, None, lengths=lengths))


def run_tokens(module, embedding, ids, **kwargs):
    """`run` for a layer fed token ids: outputs, final states, and the gradients of the layer and the embedding."""
    outputs, state = module(ids, None, embedding=embedding, **kwargs)
    weighted_loss(outputs, state).backward()
    grads = {name: p.grad for name, p in [*module.named_parameters(), *embedding.named_parameters(prefix="emb")]}
    return outputs, states(state), grads


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize(("layers", "bidirectional", "with_lengths"),
                         [(1, False, False), (2, True, False), (1, True, True), (2, False, True)])
def test_token_ids_looked_up_per_token_equal_pytorch(cell, layers, bidirectional, with_lengths):
    """Fed token ids and an embedding with fewer entries than the batch has positions, the first layer reads
    E W_ih^T + b_ih per token: outputs, states and every gradient (the embedding's, W_ih's and b_ih's through
    the table) equal `nn.GRU` / `nn.LSTM` over the embedded batch, lengths included."""
    torch.manual_seed(layers * 4 + bidirectional * 2 + with_lengths)
    fused, _ = make_pair(cell, layers, bidirectional, True, sizes=(6, 16))
    reference = CELLS[cell][0](6, 16, layers, batch_first=True, bidirectional=bidirectional, backend="torch")
    reference.load_state_dict(fused.state_dict())
    embedding = nn.Embedding(11, 6)
    reference_embedding = nn.Embedding(11, 6).requires_grad_()
    reference_embedding.load_state_dict(embedding.state_dict())
    ids = torch.randint(0, 11, (5, 9))
    assert projects_per_token(embedding, ids), "the test must take the per-token path"
    lengths = {"lengths": torch.tensor([4, 9, 1, 7, 9])} if with_lengths else {}
    got = run_tokens(fused, embedding, ids, **lengths)
    want = run_tokens(reference, reference_embedding, ids, **lengths)
    for a, b in zip([got[0], *got[1]], [want[0], *want[1]], strict=True):
        assert_equal(a, b)
    assert got[2].keys() == want[2].keys()
    for name in want[2]:
        assert_equal(got[2][name], want[2][name])


def test_a_padding_index_or_a_small_batch_embeds_first():
    """An embedding with a padding index keeps PyTorch's lookup (its padding row gets no gradient), and so does
    a batch with fewer positions than twice the vocabulary, where projecting every position is cheaper."""
    padded = nn.Embedding(11, 6, padding_idx=0)
    assert not projects_per_token(padded, torch.zeros(50, 10, dtype=torch.long))
    assert not projects_per_token(nn.Embedding(11, 6), torch.zeros(2, 5, dtype=torch.long))
    fused, _ = make_pair("gru", 1, False, True)
    ids = torch.randint(0, 11, (50, 10))
    ids[:, 0] = 0
    outputs, state = run_on_tokens(fused, padded, ids)
    weighted_loss(outputs, state).backward()
    assert torch.all(padded.weight.grad[0] == 0) and padded.weight.grad[1:].abs().sum() > 0


def test_the_char_rnn_trains_the_same_on_token_lookups():
    """The char-RNN feeds its GRU token ids (`run_on_tokens`): loss and gradients equal PyTorch's backend."""
    torch.manual_seed(0)
    models = [CharRNNForCausalLM(CharRNNConfig(vocab_size=20, hidden_size=32, num_layers=2, rnn_backend=backend))
              for backend in ("fused", "torch")]
    models[1].load_state_dict(models[0].state_dict())
    ids = torch.randint(0, 20, (8, 30))
    assert projects_per_token(models[0].embedding, ids)
    losses = [model(input_ids=ids, labels=ids).loss for model in models]
    for loss in losses:
        loss.backward()
    assert_equal(losses[0], losses[1])
    for got, want in zip(models[0].parameters(), models[1].parameters(), strict=True):
        assert_equal(got.grad, want.grad)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_bf16_autocast_stays_close_to_float32(cell):
    """Under CPU bf16 autocast the GEMMs take bf16 operands (float32 accumulation): close to fp32, not equal.
    The outputs come back in bf16 (as from PyTorch's LSTM under autocast; their gradient flows back in bf16),
    the final states in float32."""
    torch.manual_seed(1)
    fused, reference = make_pair(cell, 1, False, True, sizes=(16, 64))
    x = torch.randn(8, 20, 16)
    want = run(reference, x, None)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = run(fused, x, None)
    assert got[0].dtype == torch.bfloat16 and all(state.dtype == torch.float32 for state in got[1])
    for a, b in zip(got[1], want[1], strict=True):
        assert_equal(a, b, tolerance=3e-2)
    assert_equal(got[2][0], want[2][0], tolerance=5e-2)
    assert_equal(got[0], want[0], tolerance=3e-2)
    for name in want[3]:
        assert_equal(got[3][name], want[3][name], tolerance=5e-2)
    assert not torch.equal(got[0], run(fused, x, None)[0]), "autocast changed nothing: bf16 was not used"


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_bf16_with_wide_inputs_and_lengths_stays_close_to_float32(cell):
    """bf16 on every GEMM (inputs 96 and 128 wide take the bf16 input products too), with lengths: a batch
    padded past its longest row leaves a step with no row running, whose bf16 gate copies must be zeros."""
    torch.manual_seed(4)
    fused, _ = make_pair(cell, 2, True, True, sizes=(96, 64))
    packed = CELLS[cell][0](96, 64, 2, batch_first=True, bidirectional=True, backend="torch")
    packed.load_state_dict(fused.state_dict())
    x = torch.randn(8, 13, 96)
    lengths = torch.tensor([12, 3, 12, 7, 1, 9, 12, 5])  # no row reaches step 13
    want = run(packed, x, None, lengths=lengths)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = run(fused, x, None, lengths=lengths)
    assert torch.all(got[0][1, 3:] == 0) and torch.all(got[2][0][4, 1:] == 0), "padding has no output, no gradient"
    assert_equal(got[0], want[0], tolerance=3e-2)
    assert_equal(got[2][0], want[2][0], tolerance=5e-2)
    for name in want[3]:
        assert torch.isfinite(got[3][name]).all(), name
        assert_equal(got[3][name], want[3][name], tolerance=5e-2)
    assert not torch.equal(got[2][0], run(fused, x, None, lengths=lengths)[2][0]), "autocast changed nothing"


def test_a_bf16_model_runs_and_returns_bf16():
    fused, reference = make_pair("gru", 1, False, True, sizes=(16, 64))
    x = torch.randn(4, 10, 16)
    outputs, state = fused.to(torch.bfloat16)(x.to(torch.bfloat16))
    assert outputs.dtype == state.dtype == torch.bfloat16
    assert_equal(outputs, reference(x)[0], tolerance=3e-2)


def test_the_per_token_path_in_a_bf16_model_and_under_a_frozen_layer():
    """A bf16 model fed token ids returns bf16; with the layer frozen, the embedding still gets its gradient."""
    torch.manual_seed(6)
    fused, reference = make_pair("gru", 1, False, True, sizes=(6, 64))
    embedding = nn.Embedding(11, 6)
    ids = torch.randint(0, 11, (8, 10))
    want = reference(embedding(ids))[0]
    outputs, state = run_on_tokens(fused.to(torch.bfloat16), embedding.to(torch.bfloat16), ids)
    assert outputs.dtype == state.dtype == torch.bfloat16
    assert_equal(outputs, want, tolerance=3e-2)
    fused.float().requires_grad_(False)
    embedding.float()
    outputs, _ = run_on_tokens(fused, embedding, ids)
    outputs.sum().backward()
    assert embedding.weight.grad is not None and embedding.weight.grad.abs().sum() > 0


def test_a_checkpoint_trained_with_one_backend_loads_in_the_other(tmp_path):
    torch.manual_seed(0)
    trained = CharRNNForCausalLM(CharRNNConfig(vocab_size=20, hidden_size=32, num_layers=2, rnn_backend="torch"))
    trained.save_pretrained(tmp_path)
    loaded = CharRNNForCausalLM.from_pretrained(tmp_path, rnn_backend="fused")
    assert loaded.rnn.backend == "fused" and isinstance(loaded.rnn, FusedGRU)
    ids = torch.randint(1, 20, (3, 12))
    assert_equal(loaded(ids).logits, trained(ids).logits)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_the_sentiment_grus_masking_runs_in_the_kernel_with_the_same_results(bidirectional):
    """Fused: the state freezes at each text's length inside the kernel; PyTorch: the output at the last real
    token is gathered. Same logits, same gradients."""
    torch.manual_seed(2)
    models = [RNNForSequenceClassification(RNNClassifierConfig(vocab_size=50, embedding_size=8, hidden_size=16,
                                                               bidirectional=bidirectional, rnn_backend=backend))
              for backend in ("fused", "torch")]
    models[1].load_state_dict(models[0].state_dict())
    ids = torch.randint(1, 50, (5, 11))
    ids[0, 3:] = 0
    ids[2, 7:] = 0
    labels = torch.tensor([0, 1, 1, 0, 1])
    results = []
    for model in models:
        output = model(ids, labels=labels)
        output.loss.backward()
        results.append((output.logits, {n: p.grad for n, p in model.named_parameters()}))
    assert_equal(results[0][0], results[1][0])
    for name, grad in results[1][1].items():
        assert_equal(results[0][1][name], grad)


@pytest.mark.parametrize("bf16", [False, True])
def test_the_seq2seq_encoder_and_decoder_give_the_same_loss_on_both_backends(bf16):
    """Equal in float32; under bf16 autocast (the fused LSTMs return bf16 outputs into the attention and the
    output layer, and take their gradients back in bf16) close to PyTorch's float32."""
    torch.manual_seed(4)
    models = [RNNForSeq2SeqLM(Seq2SeqRNNConfig(vocab_size=40, embedding_size=8, hidden_size=16, bidirectional=True,
                                               attention="luong", rnn_backend=backend)) for backend in ("fused", "torch")]
    models[1].load_state_dict(models[0].state_dict())
    source = torch.randint(4, 40, (4, 9))
    source[1, 5:] = 0
    labels = torch.randint(4, 40, (4, 6))
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        fused_loss = models[0](input_ids=source, labels=labels).loss
    losses = [fused_loss, models[1](input_ids=source, labels=labels).loss]
    assert_equal(losses[0], losses[1], tolerance=1e-2 if bf16 else 1e-5)
    for loss in losses:
        loss.backward()
    for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
        assert_equal(a.grad, b.grad, tolerance=5e-2 if bf16 else 1e-5)


def test_the_char_rnn_under_bf16_stays_close_to_float32():
    """bf16 autocast on the per-token path (the char-RNN's): loss and gradients close to PyTorch's float32."""
    torch.manual_seed(0)
    models = [CharRNNForCausalLM(CharRNNConfig(vocab_size=20, hidden_size=64, rnn_backend=backend))
              for backend in ("fused", "torch")]
    models[1].load_state_dict(models[0].state_dict())
    ids = torch.randint(0, 20, (16, 30))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fused_loss = models[0](input_ids=ids, labels=ids).loss
    losses = [fused_loss, models[1](input_ids=ids, labels=ids).loss]
    assert_equal(losses[0], losses[1], tolerance=1e-2)
    for loss in losses:
        loss.backward()
    for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
        assert torch.isfinite(a.grad).all()
        assert_equal(a.grad, b.grad, tolerance=5e-2)


def test_an_unknown_backend_is_one_sentence():
    with pytest.raises(UserError, match="rnn_backend must be one of auto, fused, torch"):
        FusedGRU(4, 4, backend="cudnn")
    with pytest.raises(ValueError, match="rnn_backend"):
        CharRNNConfig(rnn_backend="cudnn")


def test_without_a_compiler_auto_falls_back_with_a_notice_and_fused_is_an_error(tmp_path):
    """A real failed build: no compiler on the PATH, a fresh extension cache."""
    script = (
        "import torch\n"
        "from hf_nlp.errors import UserError\n"
        "from hf_nlp.models.fused_rnn import FusedGRU\n"
        "x = torch.randn(2, 3, 4)\n"
        "auto = FusedGRU(4, 5, batch_first=True)\n"
        "assert not auto.uses_fused(x)\n"
        "auto(x)[0].sum().backward()\n"
        "try:\n"
        "    FusedGRU(4, 5, batch_first=True, backend='fused')(x)\n"
        "except UserError as error:\n"
        "    print('ERROR', error)\n"
    )
    env = {**os.environ, "CXX": str(tmp_path / "no-such-compiler"), "TORCH_EXTENSIONS_DIR": str(tmp_path / "ext"),
           "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    notices = [line for line in result.stderr.splitlines() if line.startswith("hf-nlp:")]
    assert len(notices) == 1 and "did not build" in notices[0] and "PyTorch's layers" in notices[0]
    assert "no C++ compiler" in notices[0] and "install g++" in notices[0]
    assert "ERROR --model.rnn_backend fused needs the fused kernels, which did not build here" in result.stdout


def test_a_thread_team_smaller_than_the_split_still_computes_every_unit():
    """Each thread owns a share of the hidden units; when OpenMP grants fewer threads than asked for (here
    OMP_THREAD_LIMIT=1 against 4 requested, as inside another parallel region), one thread takes every share.
    The reference runs in float64: there PyTorch's own float32 LSTM (oneDNN) gets weight_hh's gradient wrong."""
    script = (
        "import torch\n"
        "from tests.models.test_fused_rnn import make_pair, run, assert_runs_equal\n"
        "torch.set_num_threads(4)\n"
        "for cell in ('gru', 'lstm'):\n"
        "    torch.manual_seed(0)\n"
        "    fused, reference = make_pair(cell, 1, True, True, sizes=(6, 64))\n"
        "    x = torch.randn(5, 9, 6)\n"
        "    assert_runs_equal(run(fused, x, None), run(reference.double(), x.double(), None))\n"
        "print('equal')\n"
    )
    env = {**os.environ, "OMP_THREAD_LIMIT": "1", "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300,
                            cwd=REPO_ROOT)
    assert result.returncode == 0 and "equal" in result.stdout, result.stderr[-3000:]
