"""Drop-in `nn.GRU` / `nn.LSTM` that run fused C++ layers on CPU (`csrc/fused_rnn.cpp`).

`FusedGRU` and `FusedLSTM` are subclasses with the same parameters and state layout, so a
checkpoint trained with one backend loads in the other, and `backend` only decides which code
runs a forward pass:

- `"torch"`: PyTorch's own (cuDNN on CUDA, ~40 small ops per step on CPU);
- `"fused"`: the fused kernels: one GEMM for every step's input projection, then one GEMM and one
  vectorised gate loop per step, and a backward through time whose weight gradients are single
  GEMMs (docs/performance.md, "Fused recurrent layers");
- `"auto"` (the default): fused on CPU when the extension builds, PyTorch's otherwise.

The extension is compiled once per machine on first use (`torch.utils.cpp_extension`, about a
minute) and cached in `TORCH_EXTENSIONS_DIR` (default `~/.cache/torch_extensions`). Without a C++
compiler, `auto` says so in one line and falls back to PyTorch's layers; `fused` is an error.

`forward(..., lengths=...)` also takes each row's length, with `pack_padded_sequence`'s meaning:
outputs are zero past a row's length and its final state is the one at its last real step. The
fused kernel only runs the rows still going at each step, so padding costs nothing.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from types import ModuleType

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from hf_nlp.errors import UserError

RNN_BACKENDS = ("auto", "fused", "torch")
SOURCE = Path(__file__).parent / "csrc" / "fused_rnn.cpp"
# -march=native vectorises the gate loops for this CPU; -ffast-math lets gcc call glibc's vector
# exp/tanh (libmvec), which the loops need to keep up with the GEMMs.
COMPILE_FLAGS = ["-O3", "-march=native", "-ffast-math", "-fopenmp"]
LINK_FLAGS = ["-lmvec", "-lm"]
VERBOSE_BUILD = "python -c 'import hf_nlp.models.fused_rnn as f; f.fused_extension(verbose=True)'"


def _build_tag() -> str:
    """A short id of this CPU's instruction sets, the source file and torch: a -march=native build is only
    reused where it runs, and two checkouts (or a wheel beside a clone) never rebuild each other's."""
    flags = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags += line
                break
    except OSError:
        pass
    identity = "\n".join([flags, str(SOURCE.resolve()), SOURCE.read_text(), torch.__version__])
    return hashlib.sha1(identity.encode()).hexdigest()[:10]


@functools.cache
def fused_extension(verbose: bool = False) -> ModuleType | None:
    """The compiled kernels, built on first use and cached; None (and one line on stderr) when they cannot be
    built. `verbose` shows the compiler's output."""
    from torch.utils import cpp_extension  # lazy: imports setuptools; only needed on the fused path

    name = f"hf_nlp_fused_rnn_{_build_tag()}"
    started = time.perf_counter()
    try:
        module = cpp_extension.load(name=name, sources=[str(SOURCE)], extra_cflags=COMPILE_FLAGS,
                                    extra_ldflags=LINK_FLAGS, verbose=verbose)
    except Exception as error:  # no compiler, no headers, no libmvec: every failure means "use PyTorch's"
        compiler = os.environ.get("CXX", "c++")
        if shutil.which(compiler) is None:
            reason = f"no C++ compiler `{compiler}`: install g++ to get them"
        else:
            last_line = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
            reason = f"{last_line}; rerun with `{VERBOSE_BUILD}` to see the compiler's output"
        if os.environ.get("LOCAL_RANK", "0") == "0":  # one line per machine, not one per process
            sys.stderr.write(f"hf-nlp: the fused GRU/LSTM kernels did not build ({reason}); using PyTorch's "
                             "layers (--model.rnn_backend torch skips this)\n")
        return None
    seconds = time.perf_counter() - started
    if seconds > 5 and os.environ.get("LOCAL_RANK", "0") == "0":  # a fresh build: say where the minute went
        sys.stderr.write(f"hf-nlp: built the fused GRU/LSTM kernels in {seconds:.0f} s (cached for later runs)\n")
    return module


def check_backend(backend: str) -> None:
    if backend not in RNN_BACKENDS:
        raise UserError(f"rnn_backend must be one of {', '.join(RNN_BACKENDS)}, got {backend!r}.")


class _FusedLayer(torch.autograd.Function):
    """One layer, one direction, batch-first; `c0` is None for a GRU. `x` is the inputs `(B, T, I)`, or, with
    `tokens` `(B, T)`, the table of their projections `E W_ih^T + b_ih` `(V, G)` (`projects_per_token`), whose
    gradient then carries W_ih's and b_ih's. With `bf16_output` the outputs come back in bf16 (the kernel
    writes a bf16 copy beside the float32 ones its backward pass reads), and so does their gradient."""

    @staticmethod
    def forward(ctx, x, tokens, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths, use_bf16, keep_for_backward, bf16_output):
        kernels = fused_extension()
        weights = [w.float().contiguous() for w in (w_ih, w_hh, b_ih, b_hh)]
        x = x.float().contiguous()
        tokens = NO_TOKENS if tokens is None else tokens.contiguous()
        h0 = h0.float().contiguous()
        # `states`: in bf16, the rounded state each step's GEMM read, (T, B, H), reused by the backward pass.
        if c0 is None:
            output, h_n, saved, states, y = kernels.gru_forward(x, tokens, h0, *weights, lengths, use_bf16,
                                                                keep_for_backward, bf16_output)
            outputs = (output, h_n)
        else:
            c0 = c0.float().contiguous()
            output, h_n, c_n, saved, states, y = kernels.lstm_forward(x, tokens, h0, c0, *weights, lengths,
                                                                      use_bf16, keep_for_backward, bf16_output)
            outputs = (output, h_n, c_n)
        ctx.is_lstm = c0 is not None
        ctx.use_bf16 = use_bf16
        ctx.save_for_backward(x, tokens, h0, c0 if c0 is not None else h0, weights[0], weights[1], y, saved, states,
                              lengths)
        return outputs

    @staticmethod
    def backward(ctx, dy, dh_n, dc_n=None):
        kernels = fused_extension()
        x, tokens, h0, c0, w_ih, w_hh, y, saved, states, lengths = ctx.saved_tensors
        if dy is None:
            dy = torch.zeros_like(y)
        elif dy.dtype != torch.bfloat16:  # a bf16 output's gradient stays bf16: the kernel reads either
            dy = dy.float()
        dy = dy.contiguous()
        dh_n = torch.zeros_like(h0) if dh_n is None else dh_n.float().contiguous()
        if ctx.is_lstm:
            dc_n = torch.zeros_like(h0) if dc_n is None else dc_n.float().contiguous()
            dx, dh0, dc0, dw_ih, dw_hh, db = kernels.lstm_backward(dy, dh_n, dc_n, x, tokens, h0, c0, w_ih, w_hh, y,
                                                                   saved, states, lengths, ctx.use_bf16)
            db_ih = None if tokens.numel() else db  # fed tokens, b_ih's gradient reaches it through the table
            return dx, None, dh0, dc0, dw_ih, dw_hh, db_ih, db, None, None, None, None
        dx, dh0, dw_ih, dw_hh, db_ih, db_hh = kernels.gru_backward(dy, dh_n, x, tokens, h0, w_ih, w_hh, y, saved,
                                                                   states, lengths, ctx.use_bf16)
        return dx, None, dh0, None, dw_ih, dw_hh, db_ih, db_hh, None, None, None, None


NO_TOKENS = torch.empty(0, dtype=torch.int64)  # "the layer is given its inputs, not token ids"


def projects_per_token(embedding: nn.Embedding, input_ids: torch.Tensor) -> bool:
    """Whether the first layer should read `E W_ih^T + b_ih` per token rather than project every position: when
    the batch holds at least twice as many positions as the vocabulary has tokens (the char-RNN: 40 tokens, 3,200
    to 25,600 positions), and the embedding is a plain lookup (no `padding_idx`, `max_norm` or sparse gradient,
    whose semantics the table would bypass)."""
    plain = embedding.padding_idx is None and embedding.max_norm is None and not embedding.sparse
    return plain and not embedding.scale_grad_by_freq and 2 * embedding.num_embeddings <= input_ids.numel()


def reverse_within_length(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """`(B, T, K)` or `(B, T)`: each row's first `length` steps reversed, the padding left after them; with
    `lengths=None` the whole padded row (padding first)."""
    if lengths is None:
        return x.flip(1)
    if x.dim() == 2:  # token ids
        return reverse_within_length(x.unsqueeze(-1), lengths).squeeze(-1)
    batch, steps = x.shape[:2]
    positions = torch.arange(steps, device=x.device).expand(batch, steps)  # (B, T)
    source = torch.where(positions < lengths[:, None], lengths[:, None] - 1 - positions, positions)  # (B, T)
    return x.gather(1, source.unsqueeze(-1).expand_as(x))


class _FusedRNNMixin:
    """The fused forward pass shared by `FusedGRU` and `FusedLSTM` (set on `nn.GRU` / `nn.LSTM`)."""

    backend: str = "auto"
    _is_lstm: bool

    def __init__(self, *args, backend: str = "auto", **kwargs):
        super().__init__(*args, **kwargs)  # nn.GRU / nn.LSTM's own arguments
        check_backend(backend)
        self.backend = backend

    def uses_fused(self, input: torch.Tensor | PackedSequence) -> bool:
        """Whether this forward pass runs the fused kernels (CPU, dense input, plain float weights)."""
        if self.backend == "torch" or isinstance(input, PackedSequence) or input.device.type != "cpu":
            return False
        if not self.bias or getattr(self, "proj_size", 0):
            return self._unsupported("bias=False or proj_size")
        if any(type(p) not in (nn.Parameter, torch.Tensor) for p in self._flat_weights):
            return False  # sharded (DTensor) weights: PyTorch's layer handles those
        if fused_extension() is None:
            if self.backend == "fused":
                raise UserError("--model.rnn_backend fused needs the fused kernels, which did not build here (the "
                                "`hf-nlp:` line above says why); fix that or pass --model.rnn_backend auto.")
            return False
        return True

    def _unsupported(self, what: str) -> bool:
        if self.backend == "fused":
            raise UserError(f"--model.rnn_backend fused does not support {what}; pass --model.rnn_backend torch.")
        return False

    def forward(self, input, hx=None, lengths: torch.Tensor | None = None, embedding: nn.Embedding | None = None):
        """`nn.GRU` / `nn.LSTM`'s forward; `lengths` `(B,)` gives packed-sequence semantics on a padded batch.
        With `embedding`, `input` holds token ids and the layer reads `embedding(input)`: the fused path may then
        look its first layer's input projections up per token (`projects_per_token`) instead of computing them."""
        fused = self.uses_fused(input)
        if embedding is not None and not (fused and projects_per_token(embedding, input)):
            input, embedding = embedding(input), None
        if not fused:
            if lengths is None:
                return super().forward(input, hx)
            return self._packed_forward(input, hx, lengths)
        return self._fused_forward(input, hx, lengths, embedding)

    def _packed_forward(self, input, hx, lengths):
        total = input.shape[1 if self.batch_first else 0]
        packed = pack_padded_sequence(input, lengths.cpu(), batch_first=self.batch_first, enforce_sorted=False)
        outputs, state = super().forward(packed, hx)
        outputs, _ = pad_packed_sequence(outputs, batch_first=self.batch_first, total_length=total)
        return outputs, state

    @torch.compiler.disable  # a pybind extension dynamo cannot trace: run it eagerly, without a warning
    def _fused_forward(self, input: torch.Tensor, hx, lengths: torch.Tensor | None, embedding: nn.Embedding | None):
        # `input`: (B, T, I), or token ids (B, T) to look up in `embedding`'s projection table
        unbatched = input.dim() == (1 if embedding is not None else 2)  # (T, I) whatever batch_first says
        if unbatched:
            x = input.unsqueeze(0)
        else:
            x = input if self.batch_first else input.transpose(0, 1)  # (B, T, I) or (B, T)
        dtype = embedding.weight.dtype if embedding is not None else input.dtype
        batch, directions = x.shape[0], 2 if self.bidirectional else 1
        zeros = x.new_zeros(self.num_layers * directions, batch, self.hidden_size, dtype=torch.float32)
        if self._is_lstm:
            h0, c0 = (zeros, zeros) if hx is None else hx
        else:
            h0, c0 = (zeros if hx is None else hx), None
        if unbatched and hx is not None:
            h0, c0 = h0.unsqueeze(1), (c0.unsqueeze(1) if c0 is not None else None)

        order = None
        if lengths is not None:  # the kernel wants rows longest first, as pack_padded_sequence does
            lengths = lengths.to(device="cpu", dtype=torch.int64)
            lengths, order = torch.sort(lengths, descending=True, stable=True)
            x, h0 = x[order], h0[:, order]
            c0 = c0[:, order] if c0 is not None else None
        kernel_lengths = lengths if lengths is not None else torch.empty(0, dtype=torch.int64)
        use_bf16 = dtype == torch.bfloat16 or (torch.is_autocast_enabled("cpu")
                                                 and torch.get_autocast_dtype("cpu") == torch.bfloat16)

        trainable = [*self._flat_weights, *([embedding.weight] if embedding is not None else [])]
        keep = torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in trainable))
        final_h, final_c, layer_input = [], [], x
        with torch.autocast("cpu", enabled=False):  # the kernel picks its own precision (use_bf16)
            for layer in range(self.num_layers):
                outputs = []
                for direction in range(directions):
                    index = layer * directions + direction
                    suffix = f"_l{layer}" + ("_reverse" if direction else "")
                    weights = [getattr(self, name + suffix) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
                    sequence = layer_input if direction == 0 else reverse_within_length(layer_input, lengths)
                    tokens = None
                    if layer == 0 and embedding is not None:  # the ids (B, T) and their projections (V, G)
                        tokens, sequence = sequence, nn.functional.linear(embedding.weight.float(), weights[0].float(),
                                                                          weights[2].float())
                    # the last layer's outputs in bf16 under bf16: what the projection after it reads
                    bf16_output = use_bf16 and layer == self.num_layers - 1
                    state = _FusedLayer.apply(sequence, tokens, h0[index], c0[index] if c0 is not None else None,
                                              *weights, kernel_lengths, use_bf16, keep, bf16_output)
                    y = state[0] if direction == 0 else reverse_within_length(state[0], lengths)
                    outputs.append(y)
                    final_h.append(state[1])
                    if self._is_lstm:
                        final_c.append(state[2])
                layer_input = outputs[0] if directions == 1 else torch.cat(outputs, dim=-1)  # (B, T, D * H)
                if self.training and self.dropout and layer < self.num_layers - 1:
                    layer_input = nn.functional.dropout(layer_input, self.dropout, training=True)

        output, h_n = layer_input, torch.stack(final_h)  # (B, T, D * H); (L * D, B, H)
        c_n = torch.stack(final_c) if self._is_lstm else None
        if order is not None:  # back to the caller's row order
            restore = torch.argsort(order)
            output, h_n = output[restore], h_n[:, restore]
            c_n = c_n[:, restore] if c_n is not None else None
        if dtype != torch.float32 and not torch.is_autocast_enabled("cpu"):
            output, h_n = output.to(dtype), h_n.to(dtype)
            c_n = c_n.to(dtype) if c_n is not None else None
        if unbatched:
            output, h_n = output.squeeze(0), h_n.squeeze(1)
            c_n = c_n.squeeze(1) if c_n is not None else None
        if not self.batch_first and not unbatched:
            output = output.transpose(0, 1)
        return output, ((h_n, c_n) if self._is_lstm else h_n)


class FusedGRU(_FusedRNNMixin, nn.GRU):
    """`nn.GRU` with a fused CPU forward and backward (`backend`: auto, fused or torch)."""

    _is_lstm = False


class FusedLSTM(_FusedRNNMixin, nn.LSTM):
    """`nn.LSTM` with a fused CPU forward and backward (`backend`: auto, fused or torch)."""

    _is_lstm = True


def run_on_tokens(rnn: nn.RNNBase, embedding: nn.Embedding, input_ids: torch.Tensor, hx=None):
    """`rnn(embedding(input_ids), hx)`; a fused layer may look its input projections up per token instead
    (`projects_per_token`), skipping the GEMM over every position."""
    if isinstance(rnn, _FusedRNNMixin):
        return rnn(input_ids, hx, embedding=embedding)
    return rnn(embedding(input_ids), hx)


def recurrent_layer(cell_type: str, *args, backend: str = "auto", **kwargs) -> nn.RNNBase:
    """`nn.GRU` / `nn.LSTM` / `nn.RNN` by name, the first two with the fused CPU path."""
    if cell_type == "gru":
        return FusedGRU(*args, backend=backend, **kwargs)
    if cell_type == "lstm":
        return FusedLSTM(*args, backend=backend, **kwargs)
    return nn.RNN(*args, **kwargs)  # the plain tanh RNN keeps PyTorch's layer


def set_rnn_backend(model: nn.Module, backend: str) -> nn.Module:
    """Switch every fused-capable GRU / LSTM in `model` to `backend` (the weights stay as they are)."""
    check_backend(backend)
    for module in model.modules():
        if isinstance(module, _FusedRNNMixin):
            module.backend = backend
    return model


__all__ = ["RNN_BACKENDS", "FusedGRU", "FusedLSTM", "check_backend", "fused_extension", "recurrent_layer",
           "projects_per_token", "reverse_within_length", "run_on_tokens", "set_rnn_backend"]
