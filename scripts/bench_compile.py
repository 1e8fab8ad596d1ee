"""`torch.compile` against eager: training steps/s of the recipes' model families, and what compiling costs.

Each workload is one model of a recipe's family on random batches of its usual shape: the char-RNN
(`nn.GRU`, a graph break for dynamo) and a MiniLM-sized BERT classifier (what `finetune_encoder`
fine-tunes). A step is forward, backward and a fused AdamW update. The eager and compiled models
start from the same weights and run the same batches. The compiled one's first step includes
inductor's compilation; the rate counts only the steps after the warm-up.

    python scripts/bench.py compile              # or: python scripts/bench_compile.py --steps 30

`scripts/device_check.py` calls `train_rate` on a GPU with the same workloads at GPU batch sizes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file, find `scripts` and `hf_nlp`
from hf_nlp.models.char_rnn import CharRNNConfig, CharRNNForCausalLM  # noqa: E402
from scripts.bench_table import ratio_table  # noqa: E402


@dataclass(frozen=True)
class Workload:
    """A model family at one batch shape: `build()` makes the model, `batch(generator)` a batch on CPU."""

    name: str
    build: Callable[[], torch.nn.Module]
    batch: Callable[[torch.Generator], dict[str, torch.Tensor]]
    unit: str
    """What a step processes, for the rate's unit (e.g. `tokens`)."""
    items_per_step: int


def char_rnn(batch_size: int = 32, window: int = 100, hidden_size: int = 128) -> Workload:
    def batch(generator):
        ids = torch.randint(1, 65, (batch_size, window + 1), generator=generator)
        return {"input_ids": ids[:, :-1], "labels": ids[:, 1:]}

    return Workload(f"char-RNN GRU {hidden_size}, batch {batch_size} x {window}",
                    lambda: CharRNNForCausalLM(CharRNNConfig(vocab_size=65, hidden_size=hidden_size)),
                    batch, "chars", batch_size * window)


def minilm_sized_bert(batch_size: int = 16, length: int = 128) -> Workload:
    """all-MiniLM-L6-v2's shape (6 layers, 384 wide, 12 heads), random weights: speed needs no download."""
    from transformers import BertConfig, BertForSequenceClassification

    def build():
        return BertForSequenceClassification(BertConfig(
            vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536,
            num_labels=2))

    def batch(generator):
        return {"input_ids": torch.randint(1000, 30000, (batch_size, length), generator=generator),
                "attention_mask": torch.ones(batch_size, length, dtype=torch.long),
                "labels": torch.randint(0, 2, (batch_size,), generator=generator)}

    return Workload(f"MiniLM-sized BERT, batch {batch_size} x {length}", build, batch, "examples", batch_size)


WORKLOADS = {"char_rnn": char_rnn, "bert": minilm_sized_bert}
"""The workloads at this machine's (CPU) batch sizes, by the name `--workloads` takes."""


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_rate(workload: Workload, device: torch.device, compiled: bool, steps: int, warmup: int,
               bf16: bool = False) -> dict[str, float]:
    """Items/s over `steps` training steps after `warmup` ones, and the first step's seconds (which
    hold the compilation when `compiled`). The device is synchronized only around the timed span."""
    torch.manual_seed(0)
    model = workload.build().to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    forward = torch.compile(model) if compiled else model
    generator = torch.Generator().manual_seed(0)
    batches = [{k: v.to(device) for k, v in workload.batch(generator).items()} for _ in range(4)]

    def step(index: int) -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = forward(**batches[index % len(batches)]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    started = time.perf_counter()
    step(0)
    _synchronize(device)
    first_step = time.perf_counter() - started
    for index in range(1, warmup):
        step(index)
    _synchronize(device)
    started = time.perf_counter()
    for index in range(steps):
        step(index)
    _synchronize(device)
    return {"rate": steps * workload.items_per_step / (time.perf_counter() - started), "first_step_seconds": first_step}


def compare(workload: Workload, device: torch.device, steps: int, warmup: int, bf16: bool = False) -> dict:
    """Eager (baseline) and compiled rates of one workload as a ratio table."""
    runs = {mode: train_rate(workload, device, mode == "compiled", steps, warmup, bf16) for mode in ("eager", "compiled")}
    compile_seconds = runs["compiled"]["first_step_seconds"] - runs["eager"]["first_step_seconds"]
    precision = "bf16 autocast" if bf16 else "fp32"
    return {
        "workload": workload.name, "device": str(device), "precision": precision,
        "rates": {mode: run["rate"] for mode, run in runs.items()}, "compile_seconds": compile_seconds,
        "table": ratio_table(
            f"torch.compile: {workload.name}", f"{workload.unit}/s", {m: r["rate"] for m, r in runs.items()},
            "eager", "compiled", f"{device.type}, {precision}, {steps} steps after {warmup}, AdamW fused",
            notes={"compiled": f"first step {runs['compiled']['first_step_seconds']:.1f} s (compilation)"}),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--workloads", nargs="+", choices=sorted(WORKLOADS), default=sorted(WORKLOADS))
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    args, _ = parser.parse_known_args(argv)  # other sections' flags pass through `scripts/bench.py`
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    comparisons = [compare(WORKLOADS[name](), device, args.steps, args.warmup) for name in args.workloads]
    results = {"comparisons": [{k: v for k, v in c.items() if k != "table"} for c in comparisons],
               "tables": [c["table"] for c in comparisons]}
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
