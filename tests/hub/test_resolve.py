"""Which `--model` values are folders and which are Hub ids."""

import pytest

from hf_nlp.errors import UserError
from hf_nlp.hub import resolve_model_dir


def test_run_folder_model_folder_hub_id_and_typos(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "good" / "best_model").mkdir(parents=True)
    (tmp_path / "runs" / "good" / "best_model" / "config.json").write_text("{}")
    assert resolve_model_dir("runs/good") == "runs/good/best_model"
    assert resolve_model_dir("runs/good/best_model") == "runs/good/best_model"
    assert resolve_model_dir("someone/model") == "someone/model"  # no local `someone/`: a Hub id
    with pytest.raises(UserError, match="does not exist"):  # not sent to the Hub (no retries, no wait)
        resolve_model_dir("runs/typo")
    with pytest.raises(UserError, match="is not a model folder"):
        resolve_model_dir("runs")
