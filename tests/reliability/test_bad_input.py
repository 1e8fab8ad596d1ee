"""Bad values, bad files, unwritable folders: each is one sentence naming the fix, exit 2, no traceback,
and is caught before any long work starts."""

import subprocess
import sys
from pathlib import Path

import pytest

from hf_nlp.errors import UserError
from tests.conftest import REPO_ROOT

QUICK = str(REPO_ROOT / "recipes/configs/char_rnn_quick.yaml")


def recipe_main(name: str):
    module = __import__(f"recipes.{name}", fromlist=["main"])
    return module.main


# (recipe, overrides, what the sentence must say): values refused when the config is parsed or the trainer
# created, before any corpus is read.
BAD_VALUES = [
    ("char_rnn", ["--train.learning_rate", "-1"], "`--train.learning_rate` must be above 0; got -1.0"),
    ("char_rnn", ["--train.learning_rate", "0"], "`--train.learning_rate` must be above 0"),
    ("char_rnn", ["--train.log_every", "0"], "`--train.log_every` must be at least 1"),
    ("char_rnn", ["--model.hidden_size", "0"], "`--model.hidden_size` must be at least 1"),
    ("char_rnn", ["--model.num_layers", "0"], "`--model.num_layers` must be at least 1"),
    ("char_rnn", ["--model.dropout", "2"], "`--model.dropout` must be at least 0 and below 1"),
    ("char_rnn", ["--data.window", "0"], "`--data.window` must be at least 1"),
    ("char_rnn", ["--train.eval_every", "-1"], "`--train.eval_every` must be at least 0"),
    ("char_rnn", ["--train.save_every", "-2"], "`--train.save_every` must be at least 0"),
    ("char_rnn", ["--train.max_minutes", "-1"], "`--train.max_minutes` must be above 0"),
    ("char_rnn", ["--train.keep_checkpoints", "-1"], "`--train.keep_checkpoints` must be at least 1"),
    ("char_rnn", ["--train.metric_for_best", "bleu"], "is not an evaluation metric of this recipe; use one of loss"),
    ("char_rnn", ["--train.momentum", "1.5"], "`--train.momentum` must be at least 0 and below 1"),
    ("char_rnn", ["--samples.max_new_tokens", "0"], "`--samples.max_new_tokens` must be at least 1"),
    ("char_rnn", ["--samples.temperatures", "[0.5, -1]"], "`--samples.temperatures` must all be at least 0"),
    ("char_rnn", ["--train.overwrite", "true", "--train.resume_from", "latest"], "pass one of them"),
    ("char_rnn", ["--train.learning_rate", "inf"], "must be a finite number"),
    ("sentiment_rnn", ["--data.max_tokens", "0"], "`--data.max_tokens` must be at least 3"),
    ("sentiment_rnn", ["--model.dropout", "-0.1"], "`--model.dropout` must be at least 0"),
    ("translate_seq2seq", ["--decode.unk_penalty", "nan"], "`--decode.unk_penalty` must be a finite number"),
    ("translate_seq2seq", ["--decode.num_beams", "0"], "`--decode.num_beams` must be at least 1"),
    ("translate_seq2seq", ["--model.architecture", "marian", "--model.transformer_heads", "3"],
     "must be a multiple of `--model.transformer_heads`"),
    ("finetune_encoder", ["--finetune.learning_rate", "0"], "`--finetune.learning_rate` must be above 0"),
    ("finetune_encoder", ["--data.max_length", "0"], "`--data.max_length` must be at least 1"),
    ("categorical_embeddings", ["--model.embedding_dim", "0"], "`--model.embedding_dim` must be at least 1"),
    ("compare_mt", ["--num_beams", "0"], "`--num_beams` must be at least 1"),
]


@pytest.mark.parametrize(("recipe", "overrides", "message"), BAD_VALUES,
                         ids=[f"{r}:{' '.join(o)}" for r, o, _ in BAD_VALUES])
def test_a_bad_config_value_is_refused_before_any_work(recipe, overrides, message, tmp_path):
    output = "--train.output_dir" if recipe != "compare_mt" else "--output_dir"
    with pytest.raises(UserError) as refused:
        recipe_main(recipe)([output, str(tmp_path / "run"), *overrides])
    assert message in str(refused.value)
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


# hf-nlp flags, checked by argparse: `error: argument --flag: ...`, exit 2.
BAD_FLAGS = [
    ["classify", "--model", "x", "--batch-size", "0", "good"],
    ["translate", "--model", "x", "--batch-size", "0", "hello"],
    ["translate", "--model", "x", "--max-new-tokens", "0", "hello"],
    ["translate", "--model", "x", "--unk-penalty", "nan", "hello"],
    ["translate", "--model", "x", "--beams", "-3", "hello"],
    ["generate", "--model", "x", "--prompt", "to", "--top-p", "1.5"],
    ["generate", "--model", "x", "--prompt", "to", "--temperature", "-1"],
    ["generate", "--model", "x", "--prompt", "to", "--max-new-tokens", "zero"],
    ["evaluate", "--model", "x", "--task", "lm", "--max-examples", "0"],
    ["space", "--port", "70000"],
]


@pytest.mark.parametrize("argv", BAD_FLAGS, ids=[" ".join(a) for a in BAD_FLAGS])
def test_a_bad_flag_is_one_sentence_and_exit_2(argv, capsys):
    from hf_nlp.cli import main

    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: argument --") and err.count("\n") == 1 and "Traceback" not in err


def run_recipe(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "recipes/char_rnn.py", *args], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=300, env={**os.environ, **(env or {})})


def assert_one_sentence(done: subprocess.CompletedProcess, *fragments: str) -> None:
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ")
    for fragment in fragments:
        assert fragment in last


@pytest.mark.parametrize(("content", "message"), [
    (b"to be or not " + bytes([0xE9]) + b"tre" * 5000, "is not UTF-8 text (byte 13 is 0xe9)"),
    (b"\x00\x01\x02binary" * 3000, "looks binary (a NUL byte at offset 0)"),
])
def test_a_text_that_is_not_utf8_or_is_binary_names_the_byte(content, message, tmp_path):
    text_file = tmp_path / "input.txt"
    text_file.write_bytes(content)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        recipe_main("char_rnn")(["--config", QUICK, "--data.source", str(text_file), "--train.output_dir",
                                 str(tmp_path / "run")])


def test_a_sample_prompt_the_corpus_cannot_spell_is_refused_before_training(tiny_text_file, tmp_path):
    with pytest.raises(UserError, match=r"`--samples.prompt` does not fit this corpus.*'#@'"):
        recipe_main("char_rnn")(["--config", QUICK, "--data.source", str(tiny_text_file), "--data.train_chars",
                                 "10000", "--data.valid_chars", "2000", "--samples.prompt", "to be @#",
                                 "--train.output_dir", str(tmp_path / "run")])
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


@pytest.mark.parametrize("where", ["a_file", "under_a_file"])
def test_an_output_dir_that_cannot_be_a_folder_is_refused(where, tmp_path):
    blocker = tmp_path / "taken"
    blocker.write_text("a file, not a folder")
    output_dir = blocker if where == "a_file" else blocker / "run"
    with pytest.raises(UserError, match=r"cannot write to .*; pass a writable `--train.output_dir`"):
        recipe_main("char_rnn")(["--config", QUICK, "--train.output_dir", str(output_dir)])


@pytest.fixture
def read_only_folder(tmp_path):
    """A read-only filesystem (a bind mount): root ignores permission bits, so chmod proves nothing."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    mounted = subprocess.run(["mount", "--bind", "-o", "ro", str(folder), str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a read-only folder here (needs root)")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def test_a_read_only_output_dir_is_refused(read_only_folder):
    with pytest.raises(UserError, match=r"cannot write to .*\(Read-only file system\); pass a writable"):
        recipe_main("char_rnn")(["--config", QUICK, "--train.output_dir", str(read_only_folder / "run")])


def test_a_read_only_hf_home_is_refused(read_only_folder, tiny_text_file, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(read_only_folder))
    with pytest.raises(UserError, match=r"cannot write to .*\(Read-only file system\); set HF_HOME to a writable"):
        recipe_main("char_rnn")(["--config", QUICK, "--data.source", str(tiny_text_file),
                                 "--train.output_dir", str(tmp_path / "run")])


def test_an_invalid_repo_id_is_one_sentence(lm_run, capsys):
    from hf_nlp.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["push", "--model", str(lm_run), "--repo-id", "me/bad name!"])
    assert exited.value.code == 2
    assert "is not a valid repo id" in capsys.readouterr().err


# --------------------------------------------------------------------------- damaged files


def damaged_copy(run: Path, tmp_path: Path, name: str, how: str) -> Path:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    path = copy / "best_model" / name
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if how == "truncate" else b"#" * 16 + data[16:])
    return copy


@pytest.mark.parametrize(("name", "how", "says"), [
    ("model.safetensors", "truncate", "model.safetensors is not a readable safetensors file"),
    ("model.safetensors", "garble", "model.safetensors is not a readable safetensors file"),
    ("config.json", "truncate", "config.json does not parse"),
    ("tokenizer.json", "garble", "tokenizer.json does not parse at line 1"),
    ("config.yaml", "garble", "config.yaml does not parse"),
])
def test_a_damaged_model_file_is_one_sentence_naming_it(lm_run, tmp_path, capsys, name, how, says):
    from hf_nlp.cli import main

    copy = damaged_copy(lm_run, tmp_path, name, how)
    with pytest.raises(SystemExit) as exited:
        main(["generate", "--model", str(copy), "--prompt", "to be", "--max-new-tokens", "5"])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and err.count("\n") == 1
    assert f"model folder `{copy / 'best_model'}` is damaged: {says}" in err and "train it again" in err


def test_a_flipped_byte_in_the_weights_is_caught_by_the_manifest(lm_run, tmp_path, capsys):
    from hf_nlp.cli import main

    copy = damaged_copy(lm_run, tmp_path, "config.json", "truncate")
    (copy / "best_model" / "config.json").write_bytes((lm_run / "best_model" / "config.json").read_bytes())
    weights = copy / "best_model" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0x01  # still a valid safetensors file: only the checksum sees it
    weights.write_bytes(bytes(data))
    with pytest.raises(SystemExit):
        main(["generate", "--model", str(copy), "--prompt", "to be", "--max-new-tokens", "5"])
    assert "model.safetensors does not match its checksum" in capsys.readouterr().err


def test_the_space_starts_with_a_damaged_model_and_shows_it_unavailable(lm_run, tmp_path):
    from hf_nlp.space import Demo, SpaceConfig

    copy = damaged_copy(lm_run, tmp_path, "model.safetensors", "truncate")
    demo = Demo(SpaceConfig(shakespeare={"good": str(lm_run), "damaged": str(copy)}, sentiment={}, translate={},
                            apertium=False))
    assert demo.lm["good"].ready and not demo.lm["damaged"].ready
    assert "is damaged: model.safetensors" in demo.lm["damaged"].problem
    assert next(demo.generate("good", "to be", 0.0, 0, 1.0, 5)).startswith("to be")


def test_a_truncated_corpus_cache_is_rebuilt(tiny_text_file, hf_home, caplog):
    import logging

    from hf_nlp.data.shakespeare import load_shakespeare

    first = load_shakespeare(str(tiny_text_file), train_chars=10_000, valid_chars=2_000)
    texts = [first[s][0]["text"] for s in first]  # read now: the dataset is memory-mapped from the cache
    arrow = sorted(hf_home.rglob("*.arrow"))[0]
    arrow.write_bytes(arrow.read_bytes()[:40])
    with caplog.at_level(logging.WARNING):
        again = load_shakespeare(str(tiny_text_file), train_chars=10_000, valid_chars=2_000)
    assert "is damaged" in caplog.text and "rebuilding it" in caplog.text
    assert [again[s][0]["text"] for s in again] == texts


def test_a_damaged_run_report_or_config_file_is_one_sentence(lm_run, tmp_path, capsys):
    import shutil

    from hf_nlp.cli import main

    copy = tmp_path / "run"
    shutil.copytree(lm_run, copy)
    (copy / "all_results.json").write_text('{"metrics": {"validation"')  # cut short
    with pytest.raises(SystemExit) as exited:
        main(["report", str(copy), "--output", str(tmp_path / "report")])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and err.count("\n") == 1
    assert f"`{copy / 'all_results.json'}` is damaged (not valid JSON); rerun the run's command" in err

    config = tmp_path / "latin1.yaml"
    config.write_bytes("train:\n  output_dir: caf\xe9\n".encode("latin-1"))
    with pytest.raises(UserError, match=r"is not UTF-8 text \(byte 24\); save it as UTF-8"):
        recipe_main("char_rnn")(["--config", str(config)])
