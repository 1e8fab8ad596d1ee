"""The translation recipe end to end on a toy task (reverse a word sequence): it learns it, writes its
report, and the saved model loads through the Auto classes and translates with generate().
(transformers 5 removed the "translation" pipeline, so there is no pipeline to go through.)"""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

from hf_nlp.data.spa_eng import SpaEngDataConfig, load_spa_eng
from hf_nlp.errors import UserError
from tests.conftest import REPO_ROOT, cli_in_process

WORDS = "a b c d e f g h i j".split()
SPLITS = ["--data.test_size", "100", "--data.validation_size", "100"]


@pytest.fixture(scope="module")
def reversal_file(tmp_path_factory) -> Path:
    """2,000 pairs: 3-6 letters -> the same letters reversed, each with an `x` (its own target word)."""
    rng = random.Random(0)
    lines = []
    for _ in range(2000):
        source = [rng.choice(WORDS) for _ in range(rng.randint(3, 6))]
        lines.append(" ".join(source) + "\t" + " ".join(word + "x" for word in reversed(source)))
    path = tmp_path_factory.mktemp("toy") / "reverse.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def toy_run(reversal_file, tmp_path_factory) -> tuple[Path, dict]:
    from recipes.translate_seq2seq import main

    run_dir = tmp_path_factory.mktemp("seq2seq") / "run"
    metrics = main([
        "--config", str(REPO_ROOT / "recipes/configs/seq2seq_quick.yaml"), "--data.source", str(reversal_file),
        "--data.max_train_pairs", "null", *SPLITS, "--model.hidden_size", "64", "--model.embedding_size", "16",
        "--train.num_epochs", "6", "--train.learning_rate", "0.005", "--train.output_dir", str(run_dir),
        "--train.progress_bar", "false", "--decode.examples", '["a b c", "j i h g"]',
        "--train.metric_for_best", "bleu", "--decode.validation_sentences", "50",  # chosen by decoded BLEU
    ])
    return run_dir, metrics


def test_recipe_learns_to_reverse_and_writes_its_report(toy_run, reversal_file):
    run_dir, metrics = toy_run
    for name in ("report.md", "metrics.json", "all_results.json", "loss_curve.png", "attention_1.png", "attention_2.png"):
        assert (run_dir / name).is_file(), name
    for name in ("model.safetensors", "config.json", "tokenizer.json", "generation_config.json", "config.yaml"):
        assert (run_dir / "best_model" / name).is_file(), name
    assert metrics["test"]["token_accuracy"] > 0.9
    assert metrics["decoding"]["beam 3"]["bleu"] > 80 and metrics["decoding"]["greedy"]["chrf"] > 0.8
    for decoding in metrics["decoding"].values():  # every row of the report's decoding table
        assert decoding["sentences"] == 100 and decoding["sentences_per_s"] > 0
    assert [row.get("heatmap") for row in metrics["examples"]] == ["attention_1.png", "attention_2.png"]
    assert [row["translation"] for row in metrics["examples"]] == ["cx bx ax", "gx hx ix jx"]
    saved = json.loads((run_dir / "metrics.json").read_text())
    unique_pairs = len(set(reversal_file.read_text().splitlines()))  # duplicates are kept once
    assert saved["split_sizes"] == {"train": unique_pairs - 200, "validation": 100, "test": 100}


def test_the_best_model_is_chosen_by_the_bleu_of_decoded_validation_pairs(toy_run, reversal_file):
    from hf_nlp.evaluation.translation import translation_scores
    from hf_nlp.generation.translate import translate_texts

    run_dir, metrics = toy_run
    evaluations = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()
                   if "eval_count" in line]
    assert len(evaluations) == 6 and all(0 <= e["eval_bleu"] < 100.001 and 0 <= e["eval_chrf"] < 1.000001 for e in evaluations)
    best = max(evaluations, key=lambda e: e["eval_bleu"])  # the first of equal ones, as the loop keeps it
    assert metrics["best_step"] == best["step"]
    assert (run_dir / "validation_bleu.png").is_file() and "validation_bleu.png" in (run_dir / "report.md").read_text()
    # The logged BLEU is the saved best model's greedy BLEU on the first 50 validation pairs.
    validation = load_spa_eng(SpaEngDataConfig(source=str(reversal_file), test_size=100, validation_size=100))["validation"]
    model = AutoModelForSeq2SeqLM.from_pretrained(run_dir / "best_model")
    tokenizer = AutoTokenizer.from_pretrained(run_dir / "best_model")
    texts = translate_texts(model, tokenizer, list(validation["en"][:50]), num_beams=1, max_new_tokens=60,
                            progress=False).texts
    assert translation_scores(texts, list(validation["es"][:50]))["bleu"] == pytest.approx(best["eval_bleu"])


def test_two_processes_select_the_same_model_by_bleu(reversal_file, tmp_path):
    """The main process decodes, the other gets its scores: both pick the same best step and finish."""
    run_dir = tmp_path / "ddp"
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29641",
         "recipes/translate_seq2seq.py", "--config", str(REPO_ROOT / "recipes/configs/seq2seq_quick.yaml"),
         "--data.source", str(reversal_file), *SPLITS, "--data.max_train_pairs", "600", "--model.hidden_size", "32",
         "--model.embedding_size", "8", "--train.num_epochs", "2", "--train.output_dir", str(run_dir),
         "--train.progress_bar", "false", "--train.metric_for_best", "bleu", "--decode.validation_sentences", "20",
         "--decode.max_test_sentences", "20"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    evaluations = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()
                   if "eval_bleu" in line]
    assert len(evaluations) == 2
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved["best_step"] == max(evaluations, key=lambda e: e["eval_bleu"])["step"]


def test_selecting_by_bleu_needs_decoded_validation_pairs(reversal_file):
    from recipes.translate_seq2seq import main

    with pytest.raises(UserError, match=r"^`--train.metric_for_best chrf` scores translations of validation pairs; "
                                        r"pass how many with `--decode.validation_sentences`"):
        main(["--data.source", str(reversal_file), "--train.metric_for_best", "chrf"])


def test_saved_model_loads_with_auto_classes_and_translates(toy_run, reversal_file):
    """> 90 % exact match on the held-out test pairs, beam settings from the saved generation_config."""
    run_dir, _ = toy_run
    test = load_spa_eng(SpaEngDataConfig(source=str(reversal_file), test_size=100, validation_size=100))["test"]
    model = AutoModelForSeq2SeqLM.from_pretrained(run_dir / "best_model")
    tokenizer = AutoTokenizer.from_pretrained(run_dir / "best_model")
    assert model.generation_config.num_beams == 3
    inputs = tokenizer(list(test["en"]), padding=True, return_tensors="pt")
    outputs = [text.strip() for text in tokenizer.batch_decode(model.generate(**inputs), skip_special_tokens=True)]
    exact = sum(out == ref for out, ref in zip(outputs, test["es"], strict=True)) / len(test)
    assert exact > 0.9


def test_a_bad_model_setting_is_one_sentence(tmp_path):
    result = subprocess.run(
        [sys.executable, "recipes/translate_seq2seq.py", "--model.attention", "additive",
         "--train.output_dir", str(tmp_path / "run")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "attention" in result.stderr and "bahdanau" in result.stderr


def test_cli_translates_texts_and_a_file(toy_run, tmp_path, capsys):
    run_dir, _ = toy_run
    code, out, err = cli_in_process(["translate", "--model", str(run_dir), "--beams", "3", "a b c d", "j j i"], capsys)
    assert code == 0, err[-2000:]
    assert out.splitlines() == ["dx cx bx ax", "ix jx jx"]
    code, bfloat16, err = cli_in_process(["translate", "--model", str(run_dir), "--beams", "3", "--dtype", "bfloat16",
                                   "a b c d", "j j i"], capsys)
    assert code == 0, err[-2000:]
    assert bfloat16 == out  # a learned toy task survives bfloat16 rounding
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("a b\n\nc d e\n", encoding="utf-8")
    code, out, err = cli_in_process(["translate", "--model", str(run_dir / "best_model"), "--file", str(sentences)], capsys)
    assert code == 0, err[-2000:]
    assert out.splitlines() == ["bx ax\ta b", "ex dx cx\tc d e"]
    code, _, err = cli_in_process(["translate", "--model", str(run_dir)], capsys)
    assert code == 2 and "nothing to translate" in err


def test_marian_transformer_baseline_trains_on_the_same_pipeline(marian_run):
    """Copying (each letter -> its `x` word, same order), which a small transformer learns in a few epochs."""
    run_dir, metrics = marian_run
    assert metrics["test"]["token_accuracy"] > 0.9
    assert [row["translation"] for row in metrics["examples"]] == ["ax bx cx"]
    assert (run_dir / "attention_1.png").is_file()  # last layer's cross-attention, heads averaged
    loaded = AutoModelForSeq2SeqLM.from_pretrained(run_dir / "best_model")
    assert type(loaded).__name__ == "MarianMTModel" and loaded.config.decoder_vocab_size < loaded.config.vocab_size


def test_compare_mt_reports_our_runs_a_marian_folder_and_missing_runs(toy_run, reversal_file, tmp_path):
    from recipes.compare_mt import main
    from tests.models.tiny_marian import make_tiny_marian

    run_dir, _ = toy_run
    corpus = load_spa_eng(SpaEngDataConfig(source=str(reversal_file), test_size=100, validation_size=100))
    opus = make_tiny_marian(tmp_path / "opus", list(corpus["train"]["en"]), list(corpus["train"]["es"]))
    report = main(["--data.source", str(reversal_file), "--data.test_size", "100", "--data.validation_size", "100",
                   "--runs", json.dumps([str(run_dir), str(tmp_path / "never_trained")]), "--opus_mt", str(opus),
                   "--apertium", "false", "--max_test_sentences", "40", "--max_new_tokens", "12",
                   "--output_dir", str(tmp_path / "comparison")])
    rows = {(row["kind"], row["decoding"], row["backend"]): row for row in report["rows"]}
    ours = rows[("trained here", "beam 3", "transformers fp32")]
    assert ours["BLEU"] > 80 and ours["token accuracy"] > 0.9 and ours["sentences/s"] > 0 and ours["tokens/s"] > 0
    assert ours["system"].startswith("LSTM(64) encoder–decoder")
    assert rows[("trained here", "greedy", "transformers fp32")]["BLEU"] > 80
    assert not any(backend.startswith("ctranslate2") for kind, _, backend in rows if kind == "trained here")  # LSTM
    opus_row = rows[("production", "beam 3", "transformers fp32")]  # measured (random weights: a low score)
    assert opus_row["test set"] == "ours (40)" and opus_row["BLEU"] < 50 and opus_row["parameters"] > 0
    assert ("production", "beam 3", "ctranslate2 int8") in rows  # a Marian model: CTranslate2 rows too
    assert any("never_trained" in note for note in report["notes"])
    markdown = (tmp_path / "comparison" / "comparison.md").read_text()
    assert "| system | kind | decoding | backend | BLEU | chrF |" in markdown and "I like soccer" in markdown
    assert json.loads((tmp_path / "comparison" / "comparison.json").read_text())["test_sentences"] == 40

    # sacrebleu's paired bootstrap against the first measured system (ours, greedy): the random Marian is
    # far worse (p < 0.05); the scores are the table's; each measured row has its interval.
    significance = report["significance"]
    assert significance["baseline"] == f"{ours['system']}, greedy"
    assert "|bs:1000|seed:12345|" in significance["signatures"]["bleu"] and "nrefs:1" in significance["signatures"]["chrf"]
    baseline = significance["systems"][significance["baseline"]]
    assert baseline["bleu"]["p_value"] is None and baseline["bleu"]["score"] == pytest.approx(
        rows[("trained here", "greedy", "transformers fp32")]["BLEU"])
    random_marian = significance["systems"]["Opus-MT, beam 3"]
    assert random_marian["bleu"]["p_value"] < 0.05 and random_marian["chrf"]["p_value"] < 0.05
    assert random_marian["chrf"]["score"] == pytest.approx(opus_row["chrF"])
    assert 0 < random_marian["bleu"]["ci"] < 50 and opus_row["BLEU ±"] == random_marian["bleu"]["ci"]
    assert opus_row["p (BLEU / chrF)"] == (f"{random_marian['bleu']['p_value']:.4f} / "
                                           f"{random_marian['chrf']['p_value']:.4f}")
    assert rows[("trained here", "greedy", "transformers fp32")]["p (BLEU / chrF)"] == "baseline"
    assert ours["p (BLEU / chrF)"] == "1.0000 / 1.0000"  # beam 3 translates every sentence as greedy does
    assert "Paired bootstrap against" in markdown and "| BLEU ± | chrF ± | p (BLEU / chrF) |" in markdown


def test_compare_mt_measures_a_marian_run_on_transformers_and_ctranslate2(marian_run, tmp_path):
    from recipes.compare_mt import main

    run_dir, _ = marian_run
    report = main(["--data.source", str(run_dir.parent / "copy.tsv"), *SPLITS, "--runs", json.dumps([str(run_dir)]),
                   "--opus_mt", "''", "--apertium", "false", "--max_test_sentences", "60", "--max_new_tokens", "12",
                   "--output_dir", str(tmp_path / "comparison")])
    rows = {(row["decoding"], row["backend"]): row for row in report["rows"]}
    assert {backend for _, backend in rows} == {"transformers fp32", "ctranslate2 float32", "ctranslate2 int8"}
    for decoding in ("greedy", "beam 3"):
        reference = rows[(decoding, "transformers fp32")]
        assert reference["BLEU"] > 80
        assert rows[(decoding, "ctranslate2 float32")]["BLEU"] == pytest.approx(reference["BLEU"], abs=0.5)
        assert rows[(decoding, "ctranslate2 int8")]["BLEU"] == pytest.approx(reference["BLEU"], abs=2.0)
        assert all(rows[(decoding, backend)]["tokens/s"] > 0 for _, backend in rows)
    assert (run_dir / "best_model" / "ctranslate2-int8" / "model.bin").is_file()  # cached beside the model


def test_compare_mt_shows_published_opus_figures_when_the_weights_are_unreachable(toy_run, reversal_file, tmp_path):
    from recipes.compare_mt import OPUS_MT_PUBLISHED, main

    run_dir, _ = toy_run
    report = main(["--data.source", str(reversal_file), "--data.test_size", "100", "--data.validation_size", "100",
                   "--runs", json.dumps([str(run_dir)]), "--apertium", "false", "--max_test_sentences", "10",
                   "--output_dir", str(tmp_path / "comparison")])  # the default Hub id; HF_HUB_OFFLINE=1 in tests
    published = [row for row in report["rows"] if row["kind"] == "production"]
    assert len(published) == 1 and published[0]["BLEU"] == OPUS_MT_PUBLISHED["bleu"]
    assert published[0]["test set"] == "Tatoeba (published)"
    assert any("Opus-MT" in note and "published" in note for note in report["notes"])


def test_cli_translates_with_a_marian_model_by_hub_id_over_http(reversal_file, tmp_path):
    from tests.hub.local_hub import LocalHub
    from tests.models.tiny_marian import make_tiny_marian

    corpus = load_spa_eng(SpaEngDataConfig(source=str(reversal_file), test_size=100, validation_size=100))
    opus = make_tiny_marian(tmp_path / "opus", list(corpus["train"]["en"]), list(corpus["train"]["es"]))
    hf_nlp = str(Path(sys.executable).with_name("hf-nlp"))
    with LocalHub({"someone/opus-mt-tiny": opus}) as hub:
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf_home")}
        result = subprocess.run([hf_nlp, "translate", "--model", "someone/opus-mt-tiny", "--max-new-tokens", "5",
                                 "a b c", "d e"], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(result.stdout.splitlines()) == 2
    assert any("opus-mt-tiny" in request and "source.spm" in request for request in hub.requests)


def test_bpe_tokenizer_option_trains_on_the_same_pipeline(reversal_file, tmp_path):
    from recipes.translate_seq2seq import main

    run_dir = tmp_path / "bpe"
    metrics = main(["--data.source", str(reversal_file), *SPLITS, "--data.tokenizer", "bpe", "--data.bpe_vocab_size",
                    "60", "--model.hidden_size", "48", "--model.embedding_size", "16", "--model.attention", "luong",
                    "--train.num_epochs", "3", "--train.learning_rate", "0.005", "--train.output_dir", str(run_dir),
                    "--train.progress_bar", "false", "--decode.max_test_sentences", "30"])
    assert metrics["vocabulary"]["tokens"] == metrics["vocabulary"]["target"] <= 60  # one shared subword vocabulary
    assert metrics["vocabulary"]["kind"] == "bpe"
    assert metrics["test"]["token_accuracy"] > 0.6


def test_lora_fine_tunes_a_pretrained_marian_and_saves_it_merged_and_apart(marian_run, reversal_file, tmp_path):
    """`--model.architecture pretrained` starts from a trained Marian folder (the copying model, standing in
    for Opus-MT) with its own tokenizer; LoRA adapts it to reversing. Only the adapters train; the best
    model is written merged (Auto classes, `hf-nlp evaluate`) and as an adapter apart (peft)."""
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file

    from hf_nlp.evaluation.evaluate_model import evaluate_model
    from recipes.translate_seq2seq import main

    pretrained = marian_run[0] / "best_model"
    out = tmp_path / "lora"
    metrics = main(["--config", str(REPO_ROOT / "recipes/configs/seq2seq_quick.yaml"), "--data.source",
                    str(reversal_file), "--data.max_train_pairs", "null", *SPLITS, "--model.architecture", "pretrained",
                    "--model.pretrained", str(pretrained), "--model.lora.r", "4", "--model.lora.alpha", "8",
                    "--train.num_epochs", "2", "--train.learning_rate", "0.01", "--train.log_every", "10",
                    "--train.output_dir", str(out), "--train.progress_bar", "false",
                    "--decode.max_test_sentences", "20", "--decode.examples", '["a b c"]'])

    # r 4 on q_proj and v_proj (64 x 64) of 2 encoder self-attentions and 2 x 2 decoder attentions.
    assert metrics["trainable_parameters"] == 12 * (64 * 4 + 4 * 64)
    assert metrics["vocabulary"]["kind"] == "pretrained"
    losses = [entry["train_loss"] for entry in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())
              if "train_loss" in entry]
    assert losses[-1] < losses[0]  # the adapters learn

    best = out / "best_model"
    merged = AutoModelForSeq2SeqLM.from_pretrained(best)
    adapter = load_file(best / "adapter" / "adapter_model.safetensors")
    assert sum(t.numel() for t in adapter.values()) == metrics["trainable_parameters"]
    adapted = PeftModel.from_pretrained(AutoModelForSeq2SeqLM.from_pretrained(pretrained), best / "adapter").eval()
    batch = {"input_ids": torch.tensor([[5, 6, 7, 2]]), "decoder_input_ids": torch.tensor([[3, 8, 9]])}
    with torch.no_grad():
        torch.testing.assert_close(adapted(**batch).logits, merged.eval()(**batch).logits, rtol=1e-4, atol=1e-5)
    evaluated, _ = evaluate_model(str(out), "translation", "test")  # what `hf-nlp evaluate` runs
    assert evaluated["metrics"]["token_accuracy"] == pytest.approx(metrics["test"]["token_accuracy"])


def test_lora_needs_a_pretrained_model(tmp_path):
    from hf_nlp.errors import UserError
    from recipes.translate_seq2seq import main

    with pytest.raises(UserError, match="pass `--model.architecture pretrained`"):
        main(["--model.lora.r", "4", "--train.output_dir", str(tmp_path / "x")])
