import gc
import json
import os
import signal
import sys
import weakref
from pathlib import Path

import pytest
import torch

import hf_nlp
from hf_nlp.data.char_windows import CharWindows, StatefulWindows
from hf_nlp.errors import UserError
from hf_nlp.evaluation.metrics import causal_lm_example_stats
from hf_nlp.models.char_rnn import CharRNNConfig, CharRNNForCausalLM
from hf_nlp.models.recurrent_state import StatefulRNNStep
from hf_nlp.training.batch_step import StatelessStep
from hf_nlp.training.config import TrainingConfig
from hf_nlp.training.loop import METRICS_LOG, Trainer

VOCAB = 12
LM = StatelessStep(causal_lm_example_stats)
STATEFUL_LM = StatefulRNNStep(causal_lm_example_stats)
HF_NLP_SOURCE = str(Path(hf_nlp.__file__).parent)


def make_data(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(2, VOCAB, (3000,), generator=generator)
    ids[1::3] = ids[::3][: len(ids[1::3])]  # some structure so the loss can fall
    return CharWindows(ids[:2400], window=10), CharWindows(ids[2400:], window=10, stride=10)


def make_model(dropout: float = 0.3) -> CharRNNForCausalLM:
    torch.manual_seed(1)
    return CharRNNForCausalLM(CharRNNConfig(vocab_size=VOCAB, embedding_size=4, hidden_size=8, dropout=dropout))


def config(tmp_path, **overrides) -> TrainingConfig:
    values = dict(output_dir=str(tmp_path / "run"), batch_size=8, eval_batch_size=16, max_steps=20, eval_every=5,
                  save_every=5, log_every=1, learning_rate=0.01, progress_bar=False, lr_scheduler="linear", warmup_steps=3)
    values.update(overrides)
    return TrainingConfig(**values)


def train_losses(run_dir) -> dict[int, float]:
    lines = [json.loads(line) for line in (run_dir / METRICS_LOG).read_text().splitlines()]
    return {line["step"]: line["train_loss"] for line in lines if "train_loss" in line}


def interrupted_after(steps: int, model: CharRNNForCausalLM) -> CharRNNForCausalLM:
    """Send this process a real SIGINT (Ctrl-C) during the training forward pass of step `steps`."""
    original_forward = model.forward
    calls = {"n": 0}

    def forward(*args, **kwargs):
        calls["n"] += model.training
        if calls["n"] == steps:
            os.kill(os.getpid(), signal.SIGINT)
        return original_forward(*args, **kwargs)

    model.forward = forward
    return model


@pytest.mark.e2e
def test_resume_replays_exactly_the_same_losses(tmp_path):
    train, valid = make_data()
    straight = Trainer(config(tmp_path / "a"), LM).fit(make_model(), train, valid)
    assert straight.global_step == 20

    # Stopped (Ctrl-C) after 10 steps, then a fresh restart from the step-10 checkpoint for the last 10.
    with pytest.raises(KeyboardInterrupt):
        Trainer(config(tmp_path / "b"), LM).fit(interrupted_after(10, make_model()), train, valid)
    resumed = Trainer(config(tmp_path / "b", resume_from="latest"), LM).fit(make_model(), train, valid)
    assert resumed.global_step == 20

    a, b = train_losses(tmp_path / "a" / "run"), train_losses(tmp_path / "b" / "run")
    assert sorted(a) == sorted(b) == list(range(1, 21))
    assert [a[s] for s in range(1, 21)] == [b[s] for s in range(1, 21)]  # bit-identical on CPU
    assert resumed.best_metric == straight.best_metric


def test_resume_errors_are_user_errors(tmp_path):
    train, valid = make_data()
    with pytest.raises(UserError, match="no checkpoint to resume"):
        Trainer(config(tmp_path, resume_from="latest"), LM).fit(make_model(), train, valid)
    with pytest.raises(UserError, match="is not a checkpoint folder"):
        Trainer(config(tmp_path, resume_from=str(tmp_path)), LM).fit(make_model(), train, valid)


@pytest.mark.e2e
def test_best_model_and_checkpoints_are_written(tmp_path):
    train, valid = make_data()
    result = Trainer(config(tmp_path, keep_checkpoints=2), LM).fit(make_model(), train, valid)
    assert (result.best_model_dir / "model.safetensors").is_file()
    checkpoints = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert checkpoints == ["step_00000015", "step_00000020"]
    evals = [h for h in result.history if "eval_loss" in h]
    assert [h["step"] for h in evals] == [5, 10, 15, 20]
    assert result.best_metric == min(h["eval_loss"] for h in evals)
    assert evals[0]["eval_count"] == len(valid) * 10
    assert evals[-1]["eval_loss"] < evals[0]["eval_loss"]


@pytest.mark.e2e
def test_early_stopping_stops_after_patience(tmp_path):
    train, valid = make_data()
    # A learning rate of 1e-30 changes no float32 weight, so nothing improves after the first evaluation.
    result = Trainer(config(tmp_path, learning_rate=1e-30, lr_scheduler="constant", warmup_steps=0,
                            early_stopping_patience=2, max_steps=100), LM).fit(make_model(), train, valid)
    assert result.stop_reason == "early_stopping"
    assert result.global_step == 15  # evals at 5 (best), 10, 15 (two without improvement)


@pytest.mark.e2e
def test_gradient_accumulation_matches_a_big_batch(tmp_path):
    train, valid = make_data()
    common = dict(max_steps=3, eval_every=0, save_every=0, lr_scheduler="constant", warmup_steps=0, max_grad_norm=None)
    big_model, small_model = make_model(dropout=0.0), make_model(dropout=0.0)
    Trainer(config(tmp_path / "big", batch_size=16, **common), LM).fit(big_model, train, valid, shuffle=False)
    Trainer(config(tmp_path / "acc", batch_size=8, gradient_accumulation_steps=2, **common), LM).fit(
        small_model, train, valid, shuffle=False)
    for p_big, p_acc in zip(big_model.parameters(), small_model.parameters(), strict=False):
        torch.testing.assert_close(p_big, p_acc, rtol=1e-5, atol=1e-6)


@pytest.mark.e2e
def test_interrupt_saves_a_resumable_checkpoint(tmp_path):
    train, valid = make_data()
    with pytest.raises(KeyboardInterrupt):
        Trainer(config(tmp_path, save_every=0, eval_every=0), LM).fit(interrupted_after(7, make_model()), train, valid)
    assert (tmp_path / "run" / "checkpoints" / "step_00000007" / "trainer_state.json").is_file()
    resumed = Trainer(config(tmp_path, save_every=0, eval_every=0, resume_from="latest"), LM).fit(make_model(), train, valid)
    assert resumed.global_step == 20


@pytest.mark.e2e
def test_stateful_training_carries_state_and_resumes_exactly(tmp_path):
    ids = torch.randint(2, VOCAB, (4001,), generator=torch.Generator().manual_seed(3))
    train = StatefulWindows(ids[:3201], window=10, batch_size=4)
    valid = StatefulWindows(ids[3200:], window=10, batch_size=4)
    common = dict(batch_size=4, max_steps=30, eval_every=10, save_every=10)
    Trainer(config(tmp_path / "a", **common), STATEFUL_LM).fit(make_model(), train, valid, shuffle=False)
    with pytest.raises(KeyboardInterrupt):
        Trainer(config(tmp_path / "b", **common), STATEFUL_LM).fit(
            interrupted_after(15, make_model()), train, valid, shuffle=False)
    Trainer(config(tmp_path / "b", **common, resume_from="latest"), STATEFUL_LM).fit(
        make_model(), train, valid, shuffle=False)
    a, b = train_losses(tmp_path / "a" / "run"), train_losses(tmp_path / "b" / "run")
    assert [a[s] for s in range(1, 31)] == [b[s] for s in range(1, 31)]


def test_fp16_on_cpu_is_a_user_error(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("fp16 is valid on a GPU")
    with pytest.raises(UserError, match="fp16 needs a GPU"):
        Trainer(config(tmp_path, mixed_precision="fp16"), LM)


@pytest.mark.e2e
def test_bf16_autocast_trains_on_cpu(tmp_path):
    train, valid = make_data()
    result = Trainer(config(tmp_path, mixed_precision="bf16", max_steps=6), LM).fit(make_model(), train, valid)
    assert result.global_step == 6 and result.best_metric is not None


@pytest.mark.e2e
def test_overwrite_starts_a_new_log_where_a_plain_rerun_resumes(tmp_path):
    train, valid = make_data()
    first = Trainer(config(tmp_path, max_steps=10), LM).fit(make_model(), train, valid)
    log = (tmp_path / "run" / METRICS_LOG).read_text()
    rerun = Trainer(config(tmp_path, max_steps=10), LM).fit(make_model(), train, valid)  # the finished run, resumed
    assert rerun.global_step == 10 and rerun.best_metric == first.best_metric
    assert (tmp_path / "run" / METRICS_LOG).read_text() == log
    Trainer(config(tmp_path, max_steps=5, overwrite=True), LM).fit(make_model(), train, valid)
    assert sorted(train_losses(tmp_path / "run")) == [1, 2, 3, 4, 5]
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["step_00000005"]


@pytest.mark.e2e
def test_ctrl_c_inside_an_accumulation_step_finishes_the_step_then_resumes_exactly(tmp_path):
    train, valid = make_data()
    common = dict(gradient_accumulation_steps=2, batch_size=4)
    Trainer(config(tmp_path / "a", **common), LM).fit(make_model(), train, valid)
    with pytest.raises(KeyboardInterrupt):  # forward 19 = first micro-batch of step 10
        Trainer(config(tmp_path / "b", **common), LM).fit(interrupted_after(19, make_model()), train, valid)
    assert (tmp_path / "b" / "run" / "checkpoints" / "step_00000010").is_dir()
    Trainer(config(tmp_path / "b", **common, resume_from="latest"), LM).fit(make_model(), train, valid)
    a, b = train_losses(tmp_path / "a" / "run"), train_losses(tmp_path / "b" / "run")
    assert [a[s] for s in range(1, 21)] == [b[s] for s in range(1, 21)]


class VariableLengthWindows(torch.utils.data.Dataset):
    """Right-padded windows of varying length (the classifier's situation), labels -100 on padding."""

    def __init__(self, n: int = 200):
        generator = torch.Generator().manual_seed(5)
        self.lengths = torch.randint(3, 20, (n,), generator=generator).tolist()
        self.ids = [torch.randint(2, VOCAB, (length,), generator=generator) for length in self.lengths]

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, index):
        return {"input_ids": self.ids[index]}


def pad_collate(items):
    longest = max(len(item["input_ids"]) for item in items)
    input_ids = torch.zeros(len(items), longest, dtype=torch.long)
    labels = torch.full((len(items), longest), -100)
    for row, item in enumerate(items):
        input_ids[row, : len(item["input_ids"])] = item["input_ids"]
        labels[row, : len(item["input_ids"])] = item["input_ids"]
    return {"input_ids": input_ids, "labels": labels}


@pytest.mark.e2e
def test_length_grouped_batches_pad_little_and_resume_exactly(tmp_path):
    data = VariableLengthWindows()
    widths = []

    def recording_collate(items):
        batch = pad_collate(items)
        widths.append((batch["labels"] != -100).sum().item() / batch["labels"].numel())
        return batch

    common = dict(max_steps=30, eval_every=0, save_every=0, batch_size=8)
    Trainer(config(tmp_path / "a", **common), LM).fit(make_model(), data, collate_fn=recording_collate,
                                                   lengths=data.lengths)
    assert sum(widths) / len(widths) > 0.85  # grouped: most of each batch is real tokens
    widths.clear()
    Trainer(config(tmp_path / "shuffled", **common), LM).fit(make_model(), data, collate_fn=recording_collate)
    assert sum(widths) / len(widths) < 0.75  # plain shuffling pads far more
    with pytest.raises(KeyboardInterrupt):
        Trainer(config(tmp_path / "b", **common), LM).fit(interrupted_after(27, make_model()), data,
                                                       collate_fn=pad_collate, lengths=data.lengths)
    Trainer(config(tmp_path / "b", **common, resume_from="latest"), LM).fit(make_model(), data, collate_fn=pad_collate,
                                                                         lengths=data.lengths)
    a, b = train_losses(tmp_path / "a" / "run"), train_losses(tmp_path / "b" / "run")
    assert [a[s] for s in range(1, 31)] == [b[s] for s in range(1, 31)]  # resumed inside epoch 2 (25 steps an epoch)


@pytest.mark.e2e
def test_weight_decay_skips_biases_and_layernorm_and_warmup_ratio_warms_up(tmp_path):
    """As transformers.Trainer: decay only weight matrices; `warmup_ratio` sets the warmup length."""
    from hf_nlp.training.loop import _parameter_groups

    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 2))
    decayed, plain = _parameter_groups(model, 0.1)
    assert decayed["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    assert {id(p) for p in decayed["params"]} == {id(model[0].weight), id(model[2].weight)}
    assert len(plain["params"]) == 4  # two biases, LayerNorm weight and bias

    train, valid = make_data()
    cfg = config(tmp_path, max_steps=10, warmup_steps=0, warmup_ratio=0.5, learning_rate=0.1, eval_every=0)
    Trainer(cfg, LM).fit(make_model(), train, valid)
    lines = [json.loads(line) for line in (tmp_path / "run" / METRICS_LOG).read_text().splitlines()]
    lrs = [line["lr"] for line in lines if "lr" in line]
    assert lrs[:5] == pytest.approx([0.02, 0.04, 0.06, 0.08, 0.1]) and lrs[-1] == pytest.approx(0.0)


@pytest.mark.parametrize("interrupt", [False, True])
def test_fit_lets_go_of_the_prepared_model_and_optimizer(tmp_path, interrupt):
    """Nothing the loop prepared outlives `fit`, however it ends: the next training's memory, and in a
    multi-process run a DDP wrapper that must die before the process group (`Trainer._release_prepared`)."""
    train, valid = make_data()
    trainer = Trainer(config(tmp_path, max_steps=6), LM)
    prepared = []
    prepare = trainer.accelerator.prepare
    trainer.accelerator.prepare = lambda *objects: _watched(prepare(*objects), prepared)
    model = make_model()
    if interrupt:
        with pytest.raises(KeyboardInterrupt):
            trainer.fit(interrupted_after(3, model), train, valid)
    else:
        trainer.fit(model, train, valid)
    del model
    gc.collect()
    assert len(prepared) >= 3  # the model, the optimizer and the loaders went through accelerate
    assert [ref for ref in prepared if ref() is not None] == []


def _watched(result, refs: list):
    for item in result if isinstance(result, tuple) else (result,):
        refs.append(weakref.ref(item))
    return result


def test_the_loop_reads_the_device_only_at_log_eval_and_save_steps(tmp_path, monkeypatch):
    """On a GPU every `Tensor.item` / `.cpu()` / `.tolist()` waits for the queued kernels; hf_nlp's code
    (loop, steps, models) may only do that where it logs, evaluates or saves (here steps 10 and 20),
    never per micro-batch. (torch's sampler lists a CPU permutation each epoch: no device involved.)"""
    train, valid = make_data()
    trainer = Trainer(config(tmp_path, max_steps=20, log_every=10, eval_every=10, save_every=10), LM)
    reads_at_step: list[int] = []
    for name in ("item", "cpu", "tolist"):
        original = getattr(torch.Tensor, name)

        def counted(tensor, *args, _original=original, **kwargs):
            if sys._getframe(1).f_code.co_filename.startswith(HF_NLP_SOURCE):
                reads_at_step.append(trainer.state.global_step)
            return _original(tensor, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    result = trainer.fit(make_model(), train, valid)
    monkeypatch.undo()
    assert result.global_step == 20
    assert reads_at_step and set(reads_at_step) <= {10, 20}, sorted(set(reads_at_step))


@pytest.mark.e2e
@pytest.mark.slow  # inductor compiles for ~40 s on 2 cores
def test_a_compiled_model_trains_like_the_plain_one_and_saves_plain_weights(tmp_path):
    """`--train.compile true`: the same losses as eager (to float tolerance), and the checkpoint and best
    model hold the module's own weight names, so they load without torch.compile and resume."""
    from safetensors import safe_open
    from transformers import BertConfig, BertForSequenceClassification

    from hf_nlp.evaluation.metrics import classification_example_stats

    def tiny_bert():
        torch.manual_seed(0)
        return BertForSequenceClassification(BertConfig(
            vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
            max_position_embeddings=16, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))

    generator = torch.Generator().manual_seed(0)
    examples = [{"input_ids": torch.randint(1, 50, (8,), generator=generator), "labels": torch.tensor(i % 2)}
                for i in range(64)]
    step = StatelessStep(classification_example_stats)
    settings = dict(max_steps=6, eval_every=3, save_every=3, log_every=1, batch_size=8)
    eager = Trainer(config(tmp_path / "eager", **settings), step).fit(tiny_bert(), examples, examples[:16])
    compiled = Trainer(config(tmp_path / "compiled", compile=True, **settings), step).fit(tiny_bert(), examples,
                                                                                         examples[:16])
    a, b = train_losses(tmp_path / "eager" / "run"), train_losses(tmp_path / "compiled" / "run")
    assert sorted(a) == sorted(b) == list(range(1, 7))
    assert [b[s] for s in a] == pytest.approx([a[s] for s in a], rel=1e-4)
    assert compiled.best_metric == pytest.approx(eager.best_metric, rel=1e-4)
    reloaded = BertForSequenceClassification.from_pretrained(compiled.best_model_dir)  # no `_orig_mod.` names
    assert not [name for name in reloaded.state_dict() if "_orig_mod" in name]
    # The step-3 checkpoint resumes (compiled) to the same end as the straight compiled run.
    step_3 = sorted((tmp_path / "compiled" / "run" / "checkpoints").iterdir())[0]
    with safe_open(str(step_3 / "model.safetensors"), "pt") as weights:
        assert set(weights.keys()) == set(reloaded.state_dict())
    resumed = Trainer(config(tmp_path / "compiled", compile=True, resume_from=str(step_3), **settings), step)
    assert resumed.fit(tiny_bert(), examples, examples[:16]).best_metric == pytest.approx(compiled.best_metric)


def test_data_loader_workers_build_the_same_batches(tmp_path):
    """`--train.dataloader_workers 2` (the CUDA default) fetches in worker processes; the order is the
    sampler's, so the losses are those of the default (0 workers on CPU) to the bit."""
    train, valid = make_data()
    losses = {}
    for workers in (0, 2):
        marks = tmp_path / f"fetched_by_{workers}"
        marks.mkdir()
        Trainer(config(tmp_path / str(workers), max_steps=8, dataloader_workers=workers), LM).fit(
            make_model(), _MarkingWorkers(train, marks), valid)
        losses[workers] = train_losses(tmp_path / str(workers) / "run")
        assert sorted(mark.name for mark in marks.iterdir()) == ([] if workers == 0 else ["worker_0", "worker_1"])
    assert sorted(losses[0]) == list(range(1, 9)) and losses[2] == losses[0]


class _MarkingWorkers(torch.utils.data.Dataset):
    """A dataset that leaves a file named after each data loader worker that fetched from it."""

    def __init__(self, dataset, folder):
        self.dataset, self.folder = dataset, folder

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        worker = torch.utils.data.get_worker_info()
        if worker is not None:
            (self.folder / f"worker_{worker.id}").touch()
        return self.dataset[index]
