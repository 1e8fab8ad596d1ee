"""Char-RNN benchmarks, printed as ratios against baselines run in the same process.

1. Training chars/s, each as a share of the machine's matmul peak (FLOPs counted by torch):
   - the reference's settings (batch 32, float32): Géron's Keras model (when TensorFlow is
     installed, `pip install ".[bench-keras]"`), a plain PyTorch loop, and the shared loop
     (`hf_nlp.training.loop.Trainer`), all with the same model, data, NAdam and clipping;
   - the fast settings (`--fast-batch-size`, bf16 autocast; `recipes/configs/char_rnn_fast.yaml`):
     plain PyTorch, the shared loop, and Keras at the same batch (float32: the reference's Keras).
   The shared loop must lose nothing against plain PyTorch; the fast settings must beat the
   Keras reference by >= 1.5x.
2. Generation chars/s: `model.generate()` carrying the RNN state vs re-running the whole prefix
   for every new character (and a bare hand-written state-carrying loop, for reference).

    python scripts/bench.py char_rnn            # or: python -m scripts.bench_char_rnn
    python scripts/bench_char_rnn.py --steps 400 --repeats 3 --no-keras

The machines are noisy (±2× between runs), so runs alternate and the best of `--repeats` is kept.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from hf_nlp.data.char_windows import CharWindows
from hf_nlp.models.char_rnn import CharRNNConfig, CharRNNForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file, find `scripts`
from scripts import bench_keras  # noqa: E402
from scripts.bench_flops import share_of_peak, training_flops  # noqa: E402
from scripts.bench_table import ratio_table  # noqa: E402
from scripts.bench_timing import timed_fit  # noqa: E402

VOCAB = 40
REFERENCE_BATCH = 32


def make_model(hidden_size: int, rnn_backend: str = "auto") -> CharRNNForCausalLM:
    torch.manual_seed(0)
    return CharRNNForCausalLM(CharRNNConfig(vocab_size=VOCAB, hidden_size=hidden_size, rnn_backend=rnn_backend))


def make_windows(window: int) -> CharWindows:
    ids = torch.randint(2, VOCAB, (200_000,), generator=torch.Generator().manual_seed(0))
    return CharWindows(ids, window=window)


def plain_pytorch_training(model, data, batch_size: int, steps: int, bf16: bool = False) -> float:
    """Seconds for `steps` steps of a textbook loop (NAdam, clip 1.0, shuffled DataLoader)."""
    optimizer = torch.optim.NAdam(model.parameters(), lr=1e-3, foreach=True)  # as the shared loop builds it
    loader = DataLoader(data, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(0))
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    model.train()
    started = time.perf_counter()
    for step, batch in enumerate(loader):
        if step == steps:
            break
        with autocast:
            loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
    return time.perf_counter() - started


def shared_loop_training(model, data, batch_size: int, steps: int, bf16: bool = False) -> float:
    """Seconds for `Trainer.fit` over `steps` steps (setup and final checkpoint included)."""
    return timed_fit(model, data, batch_size=batch_size, max_steps=steps, optimizer="nadam", learning_rate=1e-3,
                     log_every=50, max_grad_norm=1.0, mixed_precision="bf16" if bf16 else "no")


def bench_training(hidden_size: int, window: int, steps: int, fast_batch: int, repeats: int, keras: bool) -> dict:
    """chars/s of every contender (see the module docstring), alternating, best of `repeats`."""
    data = make_windows(window)
    fast_steps = max(steps * REFERENCE_BATCH // fast_batch, 10)  # about as many characters as the reference runs
    settings = {f"batch {REFERENCE_BATCH} fp32": (REFERENCE_BATCH, steps, False),
                f"batch {fast_batch} bf16": (fast_batch, fast_steps, True)}
    contenders = {"plain PyTorch": plain_pytorch_training, "shared loop": shared_loop_training}
    seconds: dict[str, list[float]] = {}
    chars: dict[str, int] = {}
    for _ in range(repeats):
        for setting, (batch_size, setting_steps, bf16) in settings.items():
            for name, train in contenders.items():
                row = f"{name}, {setting}"
                seconds.setdefault(row, []).append(train(make_model(hidden_size), data, batch_size, setting_steps, bf16))
                chars[row] = setting_steps * batch_size * window
    rates = {row: chars[row] / min(t) for row, t in seconds.items()}
    peak_dtype = {row: "bfloat16" if "bf16" in row else "float32" for row in rates}
    if keras and bench_keras.keras_available():  # after torch: TensorFlow's thread pools stay up once started
        for batch_size in (REFERENCE_BATCH, fast_batch):
            row = f"Keras reference, batch {batch_size} fp32"
            rates[row] = bench_keras.keras_char_rnn_chars_per_s(VOCAB, window, batch_size, max(
                steps * REFERENCE_BATCH // batch_size, 10), repeats)
            peak_dtype[row] = "float32"
    sample = next(iter(DataLoader(data, batch_size=REFERENCE_BATCH)))
    flops_per_char = training_flops(make_model(hidden_size), sample) / (REFERENCE_BATCH * window)
    shares = {row: share_of_peak(rate, flops_per_char, peak_dtype[row]) for row, rate in rates.items()}
    reference = f"Keras reference, batch {REFERENCE_BATCH} fp32"
    baseline = reference if reference in rates else f"plain PyTorch, batch {REFERENCE_BATCH} fp32"
    ours = f"shared loop, batch {fast_batch} bf16"
    table = ratio_table(
        "char-RNN training", "chars/s", rates, baseline, ours,
        f"GRU {hidden_size}, windows of {window}, {torch.get_num_threads()} threads, {flops_per_char:,.0f} FLOPs/char "
        "forward + backward; share of the fp32 or bf16 matmul peak", shares)
    loop_vs_plain = {setting: rates[f"shared loop, {setting}"] / rates[f"plain PyTorch, {setting}"]
                     for setting in settings}
    print("  shared loop / plain PyTorch: " + ", ".join(f"x{r:.3f} ({s})" for s, r in loop_vs_plain.items()))
    keras_skipped = None if reference in rates else bench_keras.SKIPPED if keras else "--no-keras"
    if keras_skipped:
        print(f"  Keras reference skipped: {keras_skipped}")
    return {"table": table, "flops_per_char": flops_per_char, "loop_vs_plain": loop_vs_plain,
            "keras_skipped": keras_skipped}


@torch.no_grad()
def rerun_prefix_generation(model, prompt: torch.Tensor, new_tokens: int) -> float:
    """Greedy decoding that feeds the whole sequence again for each character (no state carried)."""
    started = time.perf_counter()
    sequence = prompt
    for _ in range(new_tokens):
        next_id = model(sequence, use_cache=False).logits[:, -1].argmax(-1, keepdim=True)  # (1, 1)
        sequence = torch.cat([sequence, next_id], dim=1)
    return time.perf_counter() - started


@torch.no_grad()
def bare_state_loop_generation(model, prompt: torch.Tensor, new_tokens: int) -> float:
    """Greedy decoding by hand: nn.GRU called one step at a time with its hidden state."""
    started = time.perf_counter()
    hidden, state = model.rnn(model.embedding(prompt))
    next_id = model.lm_head(hidden[:, -1]).argmax(-1, keepdim=True)
    for _ in range(new_tokens - 1):
        hidden, state = model.rnn(model.embedding(next_id), state)
        next_id = model.lm_head(hidden[:, -1]).argmax(-1, keepdim=True)
    return time.perf_counter() - started


@torch.no_grad()
def generate_with_state(model, prompt: torch.Tensor, new_tokens: int) -> float:
    started = time.perf_counter()
    model.generate(prompt, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, pad_token_id=0)
    return time.perf_counter() - started


def bench_generation(hidden_size: int, prompt_length: int, new_tokens: int, repeats: int) -> dict:
    model = make_model(hidden_size).eval()
    prompt = torch.randint(2, VOCAB, (1, prompt_length), generator=torch.Generator().manual_seed(1))
    timings: dict[str, list[float]] = {"rerun_prefix": [], "generate_with_state": [], "bare_state_loop": []}
    for _ in range(repeats):
        timings["rerun_prefix"].append(rerun_prefix_generation(model, prompt, new_tokens))
        timings["generate_with_state"].append(generate_with_state(model, prompt, new_tokens))
        timings["bare_state_loop"].append(bare_state_loop_generation(model, prompt, new_tokens))
    names = {"rerun_prefix": "re-run the prefix per char", "generate_with_state": "generate(), state carried",
             "bare_state_loop": "bare state loop by hand"}
    rates = {names[name]: new_tokens / min(t) for name, t in timings.items()}
    table = ratio_table("char-RNN generation", "chars/s", rates, names["rerun_prefix"], names["generate_with_state"],
                        f"greedy, {new_tokens} chars after a {prompt.shape[1]}-char prompt")
    return {"table": table, "generate_vs_bare_loop": rates[names["generate_with_state"]] / rates[names["bare_state_loop"]]}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--steps", type=int, default=300, help="steps at the reference batch (fewer at the fast one)")
    parser.add_argument("--fast-batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-keras", action="store_true", help="skip the Keras reference even if installed")
    parser.add_argument("--prompt-length", type=int, default=100)
    parser.add_argument("--new-tokens", type=int, default=300)
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    args, _ = parser.parse_known_args(argv)  # other sections' flags pass through `scripts/bench.py`

    training = bench_training(args.hidden_size, args.window, args.steps, args.fast_batch_size, args.repeats,
                              keras=not args.no_keras)
    generation = bench_generation(args.hidden_size, args.prompt_length, args.new_tokens, args.repeats)
    results = {
        "settings": vars(args) | {"out": str(args.out) if args.out else None, "torch_threads": torch.get_num_threads()},
        "training": training,
        "generation": generation,
        "tables": [training["table"], generation["table"]],
    }
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
