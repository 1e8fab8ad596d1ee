"""The prepared device check: what the suite's GPU code paths do on a CUDA device, in one command.

    python scripts/device_check.py --out DIR      # about 5 minutes on one GPU; DIR/device_check.{json,md}

Without a CUDA device it says "no CUDA device", runs every check at tiny sizes on the CPU (the CPU
rows, which test the script's own logic), and exits 0. A check that fails is recorded with its
error and the others go on; the exit status is 1 only when a check failed on CUDA.

What it runs, each on synthetic batches through the suite's own code (`hf_nlp.training.Trainer`,
the models, `generate()`):

- `precision`: the char-RNN trained by the shared loop in fp32, bf16 and fp16 (fp16 with
  accelerate's loss scaling), in chars/s, with each run's last logged loss.
- `host_reads`: the same training logging every step against logging every 50 steps: what a
  device read per step costs.
- `resume`: 20 steps straight against 10 steps, then a fresh `Trainer` resuming from the
  step-10 checkpoint: the largest difference between their step-11-to-20 losses.
- `packing`: the translation encoder's LSTM over padded batches, packed
  (`pack_padded_sequence`, what `RNNEncoder` does) against unpacked, forward and backward.
- `generate`: char-RNN sampling and batched beam search with the LSTM encoder-decoder.
- `compile`: `scripts/bench_compile.py`'s workloads, eager against `torch.compile`, at GPU batch sizes.
- `lora`: a MiniLM-sized BERT classifier trained by the shared loop in full and with LoRA r 8 (peft,
  `hf_nlp.models.lora`, best model written merged and as an adapter): trainable weights,
  examples/s and peak GPU memory of each.
- `deepspeed`: whether DeepSpeed imports (the ZeRO-2 config needs it).

The project's GPU machine runs a fixed image (python 3.12, torch 2.11 + CUDA, transformers 5.17,
accelerate 1.15, peft, no `datasets`, no network). This script imports nothing that image lacks, so
no wheels need to travel with it: run it from the repository root with `PYTHONPATH=.`.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file, find `hf_nlp` and `scripts`
from hf_nlp.models.char_rnn import CharRNNConfig, CharRNNForCausalLM  # noqa: E402
from hf_nlp.models.seq2seq_rnn import RNNForSeq2SeqLM, Seq2SeqRNNConfig  # noqa: E402
from hf_nlp.training.accelerator import reset_shared_accelerator  # noqa: E402
from hf_nlp.training.batch_step import StatelessStep  # noqa: E402
from hf_nlp.training.config import TrainingConfig  # noqa: E402
from hf_nlp.training.loop import METRICS_LOG, Trainer  # noqa: E402
from scripts import bench_compile  # noqa: E402

VOCAB = 65


@dataclass(frozen=True)
class Sizes:
    """How big each check runs: `GPU` on a CUDA device, `DRY` on a CPU (the script's logic only)."""

    batch_size: int
    window: int
    hidden_size: int
    steps: int
    encoder_batch: int
    encoder_length: int
    compile_steps: int
    compile_workloads: tuple[str, ...]
    encoder: dict
    """BertConfig keys of the `lora` check's classifier."""


GPU = Sizes(batch_size=256, window=100, hidden_size=512, steps=200, encoder_batch=128, encoder_length=40,
            compile_steps=50, compile_workloads=("char_rnn", "bert"),
            encoder=dict(vocab_size=30_522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                         intermediate_size=1536))  # all-MiniLM-L6-v2's shape
DRY = Sizes(batch_size=8, window=20, hidden_size=16, steps=20, encoder_batch=8, encoder_length=10,
            compile_steps=3, compile_workloads=("char_rnn",),
            encoder=dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64))


def _synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


class RandomWindows(torch.utils.data.Dataset):
    """`count` windows of random character ids, the same for every run (seeded)."""

    def __init__(self, count: int, window: int):
        generator = torch.Generator().manual_seed(0)
        self.ids = torch.randint(1, VOCAB, (count, window + 1), generator=generator)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[index, :-1], "labels": self.ids[index, 1:]}


def _no_evaluation(logits, batch):
    raise AssertionError("the device check does not evaluate while training")


def _char_rnn(sizes: Sizes) -> CharRNNForCausalLM:
    torch.manual_seed(0)
    return CharRNNForCausalLM(CharRNNConfig(vocab_size=VOCAB, hidden_size=sizes.hidden_size))


def _fit(sizes: Sizes, run_dir: Path, **settings) -> tuple[float, dict[int, float]]:
    """Train the char-RNN with the shared loop; (seconds, {step: logged train loss})."""
    config = dict(output_dir=str(run_dir), batch_size=sizes.batch_size, max_steps=sizes.steps, eval_every=0,
                  save_every=0, log_every=50, learning_rate=2e-3, progress_bar=False)
    config.update(settings)
    data = RandomWindows(sizes.batch_size * sizes.steps, sizes.window)
    started = time.perf_counter()
    Trainer(TrainingConfig(**config), StatelessStep(_no_evaluation)).fit(_char_rnn(sizes), data)
    _synchronize()
    seconds = time.perf_counter() - started
    reset_shared_accelerator()  # the next run may use another precision
    lines = [json.loads(line) for line in (run_dir / METRICS_LOG).read_text().splitlines()]
    return seconds, {line["step"]: line["train_loss"] for line in lines if "train_loss" in line}


def check_precision(sizes: Sizes, work: Path) -> list[dict]:
    rows = []
    for precision in ("no", "bf16", "fp16"):
        if precision == "fp16" and not torch.cuda.is_available():
            rows.append({"precision": precision, "status": "skipped: fp16 needs a GPU"})
            continue
        seconds, losses = _fit(sizes, work / f"precision_{precision}", mixed_precision=precision)
        last = max(losses)
        rows.append({"precision": "fp32" if precision == "no" else precision, "status": "ok",
                     "chars_per_second": sizes.steps * sizes.batch_size * sizes.window / seconds,
                     "last_logged_loss": losses[last], "finite": math.isfinite(losses[last])})
    return rows


def check_host_reads(sizes: Sizes, work: Path) -> list[dict]:
    rates = {}
    for log_every in (1, 50):
        seconds, _ = _fit(sizes, work / f"log_every_{log_every}", log_every=log_every)
        rates[log_every] = sizes.steps * sizes.batch_size * sizes.window / seconds
    return [{"log_every": every, "status": "ok", "chars_per_second": rate, "ratio_to_log_every_1": rate / rates[1]}
            for every, rate in rates.items()]


def check_resume(sizes: Sizes, work: Path) -> list[dict]:
    half = sizes.steps // 2
    settings = dict(max_steps=sizes.steps, save_every=half, log_every=1, keep_checkpoints=2)
    _, straight = _fit(sizes, work / "straight", **settings)
    checkpoint = sorted((work / "straight" / "checkpoints").iterdir())[0]
    _, resumed = _fit(sizes, work / "resumed", resume_from=str(checkpoint), **settings)
    steps = range(half + 1, sizes.steps + 1)
    differences = [abs(straight[step] - resumed[step]) for step in steps]
    return [{"status": "ok", "from_step": half, "steps_compared": len(differences),
             "max_abs_loss_difference": max(differences), "identical": max(differences) == 0.0}]


def _timed(function: Callable[[], None], repeats: int) -> float:
    """Seconds per call of `function`, after one untimed call."""
    function()
    _synchronize()
    started = time.perf_counter()
    for _ in range(repeats):
        function()
    _synchronize()
    return (time.perf_counter() - started) / repeats


def check_packing(sizes: Sizes, device: torch.device) -> list[dict]:
    """The encoder's LSTM on right-padded batches of uneven lengths, packed or not, forward and backward."""
    from torch.nn.utils.rnn import pack_padded_sequence

    torch.manual_seed(0)
    lstm = torch.nn.LSTM(128, sizes.hidden_size, batch_first=True).to(device)
    inputs = torch.randn(sizes.encoder_batch, sizes.encoder_length, 128, device=device)
    lengths = torch.randint(sizes.encoder_length // 4, sizes.encoder_length + 1, (sizes.encoder_batch,),
                            generator=torch.Generator().manual_seed(0))

    def packed():
        # As `RNNEncoder.forward`: the lengths come to the host for packing.
        outputs, _ = lstm(pack_padded_sequence(inputs, lengths.to(device).cpu(), batch_first=True,
                                               enforce_sorted=False))
        outputs.data.sum().backward()

    def padded():
        outputs, _ = lstm(inputs)
        outputs.sum().backward()

    seconds = {"padded": math.inf, "packed": math.inf}
    for _ in range(3):  # alternated, best of 3: neither mode gets the warmer machine
        for name, function in (("padded", padded), ("packed", packed)):
            seconds[name] = min(seconds[name], _timed(function, 5))
    rates = {name: sizes.encoder_batch / value for name, value in seconds.items()}
    return [{"mode": name, "status": "ok", "sentences_per_second": rate, "ratio_to_padded": rate / rates["padded"]}
            for name, rate in rates.items()]


def check_generate(sizes: Sizes, device: torch.device) -> list[dict]:
    from transformers import GenerationConfig

    rows = []
    model = _char_rnn(sizes).to(device).eval()
    prompt = torch.randint(1, VOCAB, (1, 10), device=device)
    new_tokens = 200 if device.type == "cuda" else 20
    for name, config in (("char-RNN greedy", GenerationConfig(max_new_tokens=new_tokens, do_sample=False,
                                                              pad_token_id=0)),
                         ("char-RNN top-p 0.9", GenerationConfig(max_new_tokens=new_tokens, do_sample=True,
                                                                 top_p=0.9, pad_token_id=0))):
        with torch.no_grad():
            seconds = _timed(lambda config=config: model.generate(prompt, generation_config=config), 3)
        rows.append({"what": name, "status": "ok", "tokens_per_second": new_tokens / seconds})
    torch.manual_seed(0)
    seq2seq = RNNForSeq2SeqLM(Seq2SeqRNNConfig(vocab_size=1000, hidden_size=sizes.hidden_size,
                                               attention="luong")).to(device).eval()
    sources = torch.randint(4, 1000, (sizes.encoder_batch, sizes.encoder_length), device=device)
    beam = GenerationConfig(num_beams=4, max_new_tokens=sizes.encoder_length, early_stopping=True,
                            decoder_start_token_id=2, eos_token_id=3, pad_token_id=0)
    with torch.no_grad():
        outputs = seq2seq.generate(sources, generation_config=beam)
        seconds = _timed(lambda: seq2seq.generate(sources, generation_config=beam), 2)
    rows.append({"what": f"LSTM seq2seq + Luong, beam 4, batch {sizes.encoder_batch}", "status": "ok",
                 "sentences_per_second": sizes.encoder_batch / seconds, "output_shape": list(outputs.shape)})
    return rows


def check_compile(sizes: Sizes, device: torch.device) -> list[dict]:
    workloads = {"char_rnn": lambda: bench_compile.char_rnn(batch_size=sizes.batch_size, hidden_size=sizes.hidden_size,
                                                            window=sizes.window),
                 "bert": lambda: bench_compile.minilm_sized_bert(batch_size=64, length=128)}
    rows = []
    for name in sizes.compile_workloads:
        result = bench_compile.compare(workloads[name](), device, sizes.compile_steps, warmup=3,
                                       bf16=device.type == "cuda")
        rows.append({"workload": result["workload"], "status": "ok", "precision": result["precision"],
                     **{f"{mode}_rate": rate for mode, rate in result["rates"].items()},
                     "compiled_vs_eager": result["rates"]["compiled"] / result["rates"]["eager"],
                     "compile_seconds": result["compile_seconds"]})
    return rows


class RandomReviews(torch.utils.data.Dataset):
    """`count` sequences of random token ids with a random binary label (seeded)."""

    def __init__(self, count: int, length: int, vocab_size: int):
        generator = torch.Generator().manual_seed(0)
        self.ids = torch.randint(1, vocab_size, (count, length), generator=generator)
        self.labels = torch.randint(0, 2, (count,), generator=generator)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[index], "attention_mask": torch.ones_like(self.ids[index]),
                "labels": self.labels[index]}


def check_lora(sizes: Sizes, work: Path) -> list[dict]:
    """Full fine-tuning against LoRA r 8 on the same classifier, data and loop."""
    from transformers import BertConfig, BertForSequenceClassification

    from hf_nlp.models.lora import LoraSettings, save_merged_with_adapter, with_lora

    steps = sizes.compile_steps
    data = RandomReviews(sizes.encoder_batch * steps, sizes.encoder_length * 3, sizes.encoder["vocab_size"])
    precision = "bf16" if torch.cuda.is_available() else "no"
    rows = []
    for method in ("full", "lora"):
        torch.manual_seed(0)
        model = BertForSequenceClassification(BertConfig(**sizes.encoder, num_labels=2))
        if method == "lora":
            model = with_lora(model, LoraSettings(r=8))
        run_dir = work / f"lora_{method}"
        config = TrainingConfig(output_dir=str(run_dir), batch_size=sizes.encoder_batch, max_steps=steps,
                                eval_every=0, save_every=0, log_every=steps, learning_rate=1e-4 if method == "full" else 1e-3,
                                mixed_precision=precision, progress_bar=False)
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        Trainer(config, StatelessStep(_no_evaluation)).fit(
            model, data, write_model=save_merged_with_adapter if method == "lora" else None)
        _synchronize()
        seconds = time.perf_counter() - started
        reset_shared_accelerator()
        lines = [json.loads(line) for line in (run_dir / METRICS_LOG).read_text().splitlines()]
        loss = [line["train_loss"] for line in lines if "train_loss" in line][-1]
        row = {"method": "LoRA r 8 (query, value)" if method == "lora" else "full", "status": "ok",
               "trainable_parameters": model.num_parameters(only_trainable=True),
               "examples_per_second": steps * sizes.encoder_batch / seconds, "last_logged_loss": loss}
        if torch.cuda.is_available():
            row["peak_memory_mib"] = torch.cuda.max_memory_allocated() / 2**20
        rows.append(row)
    return rows


def check_deepspeed() -> list[dict]:
    try:
        import deepspeed
    except ImportError:
        return [{"status": "skipped: deepspeed is not installed"}]
    return [{"status": "ok", "version": deepspeed.__version__}]


def environment(device: torch.device) -> dict:
    info = {"python": platform.python_version(), "torch": torch.__version__, "device": str(device),
            "cuda": torch.cuda.is_available()}
    if torch.cuda.is_available():
        info.update(gpu=torch.cuda.get_device_name(0), cuda_version=torch.version.cuda,
                    bf16_supported=torch.cuda.is_bf16_supported(),
                    gpu_memory_gib=round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1))
    import accelerate
    import transformers

    info.update(transformers=transformers.__version__, accelerate=accelerate.__version__)
    return info


def run_checks(device: torch.device, sizes: Sizes, work: Path, only: list[str] | None = None) -> dict[str, dict]:
    checks: dict[str, Callable[[], list[dict]]] = {
        "precision": lambda: check_precision(sizes, work),
        "host_reads": lambda: check_host_reads(sizes, work),
        "resume": lambda: check_resume(sizes, work),
        "packing": lambda: check_packing(sizes, device),
        "generate": lambda: check_generate(sizes, device),
        "compile": lambda: check_compile(sizes, device),
        "lora": lambda: check_lora(sizes, work),
        "deepspeed": check_deepspeed,
    }
    results = {}
    for name, check in checks.items():
        if only and name not in only:
            continue
        started = time.perf_counter()
        try:
            rows = check()
            skipped = all(row["status"].startswith("skipped") for row in rows)
            results[name] = {"status": "skipped" if skipped else "ok", "rows": rows}
        except Exception as error:  # one broken check must not hide the others' results
            results[name] = {"status": "failed", "error": f"{type(error).__name__}: {error}",
                             "traceback": traceback.format_exc(limit=6)}
        results[name]["seconds"] = time.perf_counter() - started
        print(f"{name}: {results[name]['status']} ({results[name]['seconds']:.1f} s)", flush=True)
    return results


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def markdown(report: dict) -> str:
    """One table per check: its rows' keys as columns."""
    env = report["environment"]
    lines = [f"# Device check: {env.get('gpu', 'no CUDA device (CPU rows, tiny sizes)')}", "",
             ", ".join(f"{key} {value}" for key, value in env.items()), ""]
    for name, result in report["checks"].items():
        lines += [f"## {name} ({result['status']}, {result['seconds']:.1f} s)", ""]
        if result["status"] == "failed":
            lines += [f"`{result['error']}`", ""]
            continue
        columns = list(dict.fromkeys(key for row in result["rows"] for key in row))
        lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(_cell(row.get(key, "")) for key in columns) + " |" for row in result["rows"]]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--out", type=Path, required=True, help="folder for device_check.json and device_check.md")
    parser.add_argument("--only", nargs="+", default=None, help="run only these checks (names as in the JSON)")
    args = parser.parse_args(argv)
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    if not cuda:
        print("no CUDA device: running every check at tiny sizes on the CPU (the script's logic, not GPU figures)")
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        report = {"environment": environment(device), "sizes": vars(GPU if cuda else DRY),
                  "checks": run_checks(device, GPU if cuda else DRY, Path(work), args.only)}
    report["seconds"] = time.perf_counter() - started
    (args.out / "device_check.json").write_text(json.dumps(report, indent=2))
    (args.out / "device_check.md").write_text(markdown(report))
    print(markdown(report))
    failed = [name for name, result in report["checks"].items() if result["status"] != "ok"]
    return 1 if cuda and failed else 0


if __name__ == "__main__":
    sys.exit(main())
