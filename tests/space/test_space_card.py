"""The Space's README header: `sdk_version` is the gradio the app is tested with (and the requirements pin),
and `models:` lists the Hub ids of models.yaml, never run folders."""

from __future__ import annotations

import shutil
from importlib.metadata import version

import pytest
import yaml

from tests.conftest import REPO_ROOT

pytest.importorskip("gradio")


def test_the_shipped_header_carries_the_tested_gradio_and_no_drift():
    from hf_nlp.space_card import header_problems, requirements_pin, split_front_matter

    header, body = split_front_matter((REPO_ROOT / "space/README.md").read_text(encoding="utf-8"))
    assert header["sdk"] == "gradio" and header["app_file"] == "app.py" and body.lstrip().startswith("# hf-nlp demo")
    sdk_version = str(header["sdk_version"])
    assert sdk_version == requirements_pin(REPO_ROOT / "space/requirements.txt")
    assert sdk_version.split(".")[0] == version("gradio").split(".")[0]  # a newer minor is a rerun, not a failure
    assert header_problems() == []


def test_writing_the_header_lists_hub_ids_and_pins_gradio(tmp_path):
    from hf_nlp.space_card import header_problems, split_front_matter, write_header

    space = tmp_path / "space"
    shutil.copytree(REPO_ROOT / "space", space, ignore=shutil.ignore_patterns("screenshots"))
    (tmp_path / "runs/local_run").mkdir(parents=True)
    (space / "models.yaml").write_text(yaml.safe_dump({
        "shakespeare": {"ours": "runs/char_rnn_quick"},
        "sentiment": {"from the Hub": "someone/gru-polarity", "a folder": "runs/local_run"},
        "translate": {"Marian": "someone/marian-bible", "again": "someone/gru-polarity"},
        "opus_mt": "Helsinki-NLP/opus-mt-en-es",
    }), encoding="utf-8")
    (space / "requirements.txt").write_text("torch\ngradio_client\ngradio>=5\n", encoding="utf-8")
    (space / "README.md").write_text("---\ntitle: demo\nsdk: gradio\napp_file: app.py\n---\n\n# body\n",
                                     encoding="utf-8")
    no_version, no_models = header_problems(space)
    assert "no `sdk_version`" in no_version and "someone/marian-bible" in no_models

    write_header(space)
    header, body = split_front_matter((space / "README.md").read_text(encoding="utf-8"))
    assert list(header) == ["title", "sdk", "sdk_version", "app_file", "models"] and body == "\n# body\n"
    assert header["sdk_version"] == version("gradio")
    assert header["models"] == ["someone/gru-polarity", "someone/marian-bible", "Helsinki-NLP/opus-mt-en-es"]
    assert (space / "requirements.txt").read_text() == f"torch\ngradio_client\ngradio=={version('gradio')}\n"
    assert header_problems(space) == []
    (space / "requirements.txt").write_text("gradio==5.0.0\n", encoding="utf-8")
    (pin,) = header_problems(space)
    assert pin.startswith("space/requirements.txt pins gradio 5.0.0, not sdk_version")


def test_a_readme_without_a_header_is_one_sentence(tmp_path):
    from hf_nlp.errors import UserError
    from hf_nlp.space_card import split_front_matter

    with pytest.raises(UserError, match="no YAML header"):
        split_front_matter("# just Markdown\n")
