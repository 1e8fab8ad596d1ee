"""One way to rebuild a run's data: every family's data config rebuilds from a saved run config
(`of_run`), every loader takes its config or a plain source, and one rule decides what a source is."""

from __future__ import annotations

import pytest

from hf_nlp.config import load_yaml, save_config
from hf_nlp.data.sentiment import EncoderDataConfig, SentimentDataConfig, load_sentiment
from hf_nlp.data.shakespeare import ShakespeareDataConfig, load_shakespeare
from hf_nlp.data.sources import resolve_source
from hf_nlp.data.spa_eng import SpaEngDataConfig, load_spa_eng
from hf_nlp.errors import UserError


def test_of_run_reads_the_data_section_and_leaves_out_a_recipes_own_keys(tmp_path):
    from dataclasses import dataclass, field

    @dataclass
    class Saved:  # what a recipe saves: its data section has keys of its own (a vocabulary size)
        data: dict = field(default_factory=lambda: {"source": "tweets", "cv_folds": 5, "cv_fold": 2, "max_tokens": 9,
                                                    "long_texts": "windows", "window": 7})

    save_config(Saved(), tmp_path / "config.yaml")
    saved = load_yaml(tmp_path / "config.yaml")
    assert SentimentDataConfig.of_run(saved) == SentimentDataConfig(source="tweets", cv_folds=5, cv_fold=2)
    assert EncoderDataConfig.of_run(saved).long_texts == "windows"
    assert ShakespeareDataConfig.of_run(saved) == ShakespeareDataConfig(source="tweets", window=7)
    assert SpaEngDataConfig.of_run({}) == SpaEngDataConfig()  # a model from elsewhere: the defaults


def test_of_run_checks_values_as_the_recipe_did():
    with pytest.raises(UserError, match="--data.window"):
        ShakespeareDataConfig.of_run({"data": {"window": 0}})


def test_loaders_take_their_config_or_a_plain_source(tiny_text_file, hf_home):
    config = ShakespeareDataConfig(source=str(tiny_text_file), train_chars=10_000, valid_chars=2_000)
    by_config, by_source = load_shakespeare(config), load_shakespeare(str(tiny_text_file), True, 10_000, 2_000)
    assert by_config["test"][0]["text"] == by_source["test"][0]["text"] == config.load()["test"][0]["text"]
    assert load_spa_eng("bible")["test"]["en"][:5] == load_spa_eng(SpaEngDataConfig())["test"]["en"][:5]
    sentiment = SentimentDataConfig(source="sentences", cv_folds=3, cv_fold=2)
    assert load_sentiment(sentiment)["test"]["text"] == load_sentiment("sentences", cv_folds=3, cv_fold=2)["test"]["text"]


def test_one_rule_decides_what_a_source_is(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    resolve = lambda source: resolve_source(source, ["bible"], [".tsv"], "translation corpus")  # noqa: E731
    assert resolve("bible").kind == "shipped"
    assert resolve("owner/pairs").kind == "hub"
    assert resolve("missing.tsv").kind == "file"  # a data-file name is a file, reported missing by its loader
    (tmp_path / "owner").mkdir()
    (tmp_path / "owner" / "pairs").write_text("a\tb\n")
    assert resolve("owner/pairs").kind == "file"  # a local file wins over a Hub id of the same spelling
    for bad in ("./nothing", "no/such/path/here", "not a name"):
        with pytest.raises(UserError, match=f"unknown translation corpus `{bad}`; use `bible`, a data file"):
            resolve(bad)
