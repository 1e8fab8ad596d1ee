"""Char-RNN benchmarks, printed as ratios against baselines run in the same process.

1. Training chars/s: the shared loop (`hf_nlp.training.loop.Trainer`) vs a plain PyTorch loop on
   the same model, data, optimizer and clipping. The loop's overhead should stay within 5 %.
2. Generation chars/s: `model.generate()` carrying the RNN state vs re-running the whole prefix
   for every new character (and a bare hand-written state-carrying loop, for reference).

    python scripts/bench.py char_rnn            # or: python -m scripts.bench_char_rnn
    python scripts/bench_char_rnn.py --steps 400 --repeats 3 --hidden-size 128

The machines are noisy (±2× between runs), so runs alternate baseline/candidate and the best of
`--repeats` is kept for each.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from hf_nlp.data.windows import CharWindows
from hf_nlp.models.char_rnn import CharRNNConfig, CharRNNForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file, find `scripts`
from scripts.bench_timing import timed_fit  # noqa: E402

VOCAB = 40


def make_model(hidden_size: int) -> CharRNNForCausalLM:
    torch.manual_seed(0)
    return CharRNNForCausalLM(CharRNNConfig(vocab_size=VOCAB, hidden_size=hidden_size))


def make_windows(window: int) -> CharWindows:
    ids = torch.randint(2, VOCAB, (200_000,), generator=torch.Generator().manual_seed(0))
    return CharWindows(ids, window=window)


def plain_pytorch_training(model, data, batch_size: int, steps: int) -> float:
    """Seconds for `steps` steps of a textbook loop (NAdam, clip 1.0, shuffled DataLoader)."""
    optimizer = torch.optim.NAdam(model.parameters(), lr=1e-3, foreach=True)  # as the shared loop builds it
    loader = DataLoader(data, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(0))
    model.train()
    started = time.perf_counter()
    for step, batch in enumerate(loader):
        if step == steps:
            break
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
    return time.perf_counter() - started


def shared_loop_training(model, data, batch_size: int, steps: int) -> float:
    """Seconds for `Trainer.fit` over `steps` steps (setup and final checkpoint included)."""
    return timed_fit(model, data, batch_size=batch_size, max_steps=steps, optimizer="nadam", learning_rate=1e-3,
                     log_every=50, max_grad_norm=1.0)


def bench_training(hidden_size: int, batch_size: int, window: int, steps: int, repeats: int) -> dict:
    data = make_windows(window)
    plain, loop = [], []
    for _ in range(repeats):  # alternate, so drift on a noisy machine hits both alike
        plain.append(plain_pytorch_training(make_model(hidden_size), data, batch_size, steps))
        loop.append(shared_loop_training(make_model(hidden_size), data, batch_size, steps))
    chars = steps * batch_size * window
    plain_rate, loop_rate = chars / min(plain), chars / min(loop)
    return {
        "plain_pytorch_chars_per_s": plain_rate,
        "shared_loop_chars_per_s": loop_rate,
        "loop_vs_plain": loop_rate / plain_rate,
        "loop_overhead_pct": 100 * (1 - loop_rate / plain_rate),
    }


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
    rates = {f"{name}_chars_per_s": new_tokens / min(t) for name, t in timings.items()}
    rates["state_vs_rerun_prefix"] = rates["generate_with_state_chars_per_s"] / rates["rerun_prefix_chars_per_s"]
    rates["generate_vs_bare_loop"] = rates["generate_with_state_chars_per_s"] / rates["bare_state_loop_chars_per_s"]
    return rates


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--prompt-length", type=int, default=100)
    parser.add_argument("--new-tokens", type=int, default=300)
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)

    results = {
        "settings": vars(args) | {"out": str(args.out) if args.out else None, "torch_threads": torch.get_num_threads()},
        "training": bench_training(args.hidden_size, args.batch_size, args.window, args.steps, args.repeats),
        "generation": bench_generation(args.hidden_size, args.prompt_length, args.new_tokens, args.repeats),
    }
    train, gen = results["training"], results["generation"]
    print(f"char-RNN GRU {args.hidden_size}, batch {args.batch_size}, windows of {args.window}, "
          f"{torch.get_num_threads()} threads")
    print(f"  training  plain PyTorch   {train['plain_pytorch_chars_per_s']:>10,.0f} chars/s   (baseline)")
    print(f"  training  shared loop     {train['shared_loop_chars_per_s']:>10,.0f} chars/s   "
          f"x{train['loop_vs_plain']:.3f}  (overhead {train['loop_overhead_pct']:+.1f} %)")
    print(f"  generate  rerun prefix    {gen['rerun_prefix_chars_per_s']:>10,.0f} chars/s   (baseline)")
    print(f"  generate  state carried   {gen['generate_with_state_chars_per_s']:>10,.0f} chars/s   "
          f"x{gen['state_vs_rerun_prefix']:.2f}")
    print(f"  generate  bare state loop {gen['bare_state_loop_chars_per_s']:>10,.0f} chars/s   "
          f"(generate() runs at x{gen['generate_vs_bare_loop']:.2f} of it)")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
