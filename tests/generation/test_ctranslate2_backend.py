"""`--backend ctranslate2`: Marian models (our vocabulary layout and Opus-MT's) converted with
CTranslate2's converter translate as transformers does, the conversion is cached and refreshed,
and the CLI says clearly what it cannot do."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hf_nlp.errors import UserError
from hf_nlp.generation.ctranslate2_backend import (
    converted_marian,
    load_translator,
    translate_texts_ctranslate2,
)
from hf_nlp.generation.translate import translate_texts
from hf_nlp.hub import load_model_and_tokenizer
from tests.conftest import cli_in_process

HF_NLP = str(Path(sys.executable).with_name("hf-nlp"))
LETTERS = "a b c d e f g h i j".split()
SENTENCES = [" ".join(LETTERS[(i * 7 + k * 3) % 10] for k in range(3 + i % 4)) for i in range(40)]


@pytest.fixture(scope="module")
def opus_layout_model(tmp_path_factory) -> Path:
    """A random Marian model in Opus-MT's format (`<pad>` last, decoder starting from it)."""
    from tests.models.tiny_marian import make_tiny_marian

    english = SENTENCES * 5
    return make_tiny_marian(tmp_path_factory.mktemp("opus") / "model", english, [s.upper() for s in english])


@pytest.mark.parametrize("beams", [1, 3])
def test_float32_conversion_of_our_marian_translates_as_transformers_does(marian_run, beams):
    run_dir, _ = marian_run
    model, tokenizer = load_model_and_tokenizer(str(run_dir), "AutoModelForSeq2SeqLM")
    expected = translate_texts(model, tokenizer, SENTENCES, num_beams=beams, max_new_tokens=12, progress=False)
    translator, ct2_tokenizer = load_translator(str(run_dir), "float32")
    got = translate_texts_ctranslate2(translator, ct2_tokenizer, SENTENCES, num_beams=beams, max_new_tokens=12,
                                      batch_size=16, progress=False)
    assert got.texts == expected.texts
    assert got.tokens == expected.tokens > len(SENTENCES)  # every sentence translated to several tokens
    assert got.texts[0] == " ".join(letter + "x" for letter in SENTENCES[0].split())  # the learnt copy task


def test_int8_conversion_keeps_the_translations_and_is_cached_until_the_weights_change(marian_run):
    run_dir, _ = marian_run
    model, tokenizer = load_model_and_tokenizer(str(run_dir), "AutoModelForSeq2SeqLM")
    expected = translate_texts(model, tokenizer, SENTENCES, max_new_tokens=12, progress=False).texts
    translator, ct2_tokenizer = load_translator(str(run_dir), "int8")
    got = translate_texts_ctranslate2(translator, ct2_tokenizer, SENTENCES, max_new_tokens=12, progress=False).texts
    assert sum(a == b for a, b in zip(got, expected, strict=True)) >= 0.9 * len(SENTENCES)

    converted = run_dir / "best_model" / "ctranslate2-int8" / "model.bin"
    assert converted.is_file()
    first = converted.stat().st_mtime_ns
    converted_marian(str(run_dir), "int8")
    assert converted.stat().st_mtime_ns == first  # reused, not converted again
    time.sleep(0.01)
    os.utime(run_dir / "best_model" / "model.safetensors")  # new weights (a resumed run saving again)
    converted_marian(str(run_dir), "int8")
    assert converted.stat().st_mtime_ns > first


def test_opus_mt_layout_is_converted_with_ctranslate2s_own_marian_loader(opus_layout_model):
    model, tokenizer = load_model_and_tokenizer(str(opus_layout_model), "AutoModelForSeq2SeqLM")
    expected = translate_texts(model, tokenizer, SENTENCES[:10], max_new_tokens=6, progress=False)
    translator, ct2_tokenizer = load_translator(str(opus_layout_model), "float32")
    # Random weights never end a sentence: transformers stops at 5 tokens + the `</s>` Opus-MT's
    # config forces at the length limit (forced_eos_token_id); CTranslate2 just stops, so 5 here.
    got = translate_texts_ctranslate2(translator, ct2_tokenizer, SENTENCES[:10], max_new_tokens=5, progress=False)
    assert got.texts == expected.texts and got.tokens == expected.tokens


def test_non_marian_models_and_finite_unk_penalties_are_refused(translator_run, marian_run):
    with pytest.raises(UserError, match="converts Marian models"):
        converted_marian(str(translator_run))
    translator, tokenizer = load_translator(str(marian_run[0]), "int8")
    with pytest.raises(UserError, match="--unk-penalty inf"):
        translate_texts_ctranslate2(translator, tokenizer, ["a b"], unk_penalty=2.0)
    forbidden = translate_texts_ctranslate2(translator, tokenizer, ["a b"], unk_penalty=float("inf"), progress=False)
    assert "[UNK]" not in forbidden.texts[0]


def test_cli_translates_with_ctranslate2_and_rejects_what_it_cannot_do(marian_run, translator_run, capsys):
    run_dir, _ = marian_run
    args = ["translate", "--model", str(run_dir), "--max-new-tokens", "12", "a b c", "d e"]
    plain, fast = cli_in_process(args, capsys), cli_in_process(args + ["--backend", "ctranslate2"], capsys)
    assert plain[0] == fast[0] == 0, fast[2][-2000:]
    assert fast[1] == plain[1] == "ax bx cx\ndx ex\n"
    for bad, message in ((["--model", str(translator_run), "--backend", "ctranslate2"], "converts Marian models"),
                         (["--model", str(run_dir), "--backend", "ctranslate2", "--dtype", "bfloat16"], "--quantization")):
        code, _, err = cli_in_process(["translate", *bad, "a b"], capsys)
        assert code == 2 and message in err and len(err.splitlines()) == 1


@pytest.mark.e2e
def test_a_hub_model_is_converted_once_into_hf_home_keyed_by_its_commit(opus_layout_model, tmp_path):
    from tests.hub.local_hub import LocalHub

    with LocalHub({"someone/opus-mt-tiny": opus_layout_model}) as hub:
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf_home")}
        args = [HF_NLP, "translate", "--model", "someone/opus-mt-tiny", "--backend", "ctranslate2",
                "--max-new-tokens", "5", "a b c"]
        first = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
        assert first.returncode == 0, first.stderr[-2000:]
        cached = list((tmp_path / "hf_home" / "hf-nlp" / "ctranslate2" / "someone--opus-mt-tiny").glob("*-int8"))
        assert len(cached) == 1 and (cached[0] / "model.bin").is_file() and not cached[0].name.startswith("None")
        stamp = (cached[0] / "model.bin").stat().st_mtime_ns
        again = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
    assert again.returncode == 0 and again.stdout == first.stdout
    assert (cached[0] / "model.bin").stat().st_mtime_ns == stamp
