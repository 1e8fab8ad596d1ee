"""`scripts/reproduce.py`: every published row has its command, each command gives that run's exact config,
and a rerun regenerates its family's rows while keeping the others."""

import json
import shutil

import pytest
import yaml
from hf_nlp.recipes import config_class, config_file

from hf_nlp.config import flatten_config, parse_config, to_dict
from scripts.reproduce import BOOKKEEPING, MANIFEST, REPORT, main, read_manifest


def test_every_published_row_has_its_command():
    report = json.loads(REPORT.read_text())
    runs, _ = read_manifest()
    names = {entry.name for entry in runs}
    assert names == {run["run"] for run in report["runs"]}
    rows = {row["run"] for table in report["tables"].values() for row in table if row.get("kind") != "tfidf"}
    assert rows <= names


def test_each_command_gives_the_run_its_published_config():
    report = {run["run"]: run for run in json.loads(REPORT.read_text())["runs"]}
    for entry in read_manifest()[0]:
        config = parse_config(config_class(entry.recipe), ["--config", str(config_file(entry.config)), *entry.overrides])
        if entry.note:  # changed on purpose since the published run, and says so
            continue
        ours = flatten_config(to_dict(config))
        published = flatten_config(report[entry.name]["config"])
        differing = {key: (value, ours[key]) for key, value in published.items()
                     if key in ours and ours[key] != value and not key.endswith(BOOKKEEPING)
                     and not key.startswith("push_to_hub.")}
        assert not differing, (entry.name, differing)


def test_dry_run_lists_every_command_with_its_minutes(capsys):
    main(["--dry-run"])
    out = capsys.readouterr().out
    runs, commands = read_manifest()
    for entry in runs:
        assert f"--train.output_dir runs/{entry.name}" in out
    for command in commands:
        assert command.command in out
    total = sum(e.minutes or 0 for e in runs) + sum(c.minutes or 0 for c in commands)
    assert f"{total:.1f} min in all" in out
    main(["--dry-run", "--family", "char"])
    listed = capsys.readouterr().out
    assert "char_gpt2_quick" in listed and "seq2seq" not in listed and "cross_validate" not in listed


@pytest.mark.e2e
def test_a_rerun_replaces_its_rows_and_keeps_the_others(tiny_text_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    reports = tmp_path / "reports"
    reports.mkdir()
    shutil.copyfile(REPORT, reports / "report.json")
    manifest = yaml.safe_load(MANIFEST.read_text())
    manifest["runs"] = {"char_rnn_quick": {
        "family": "char", "recipe": "char_rnn", "config": "char_rnn_quick",
        "overrides": ["--data.source", str(tiny_text_file), "--data.train_chars", "10000", "--data.valid_chars", "2000",
                      "--data.window", "20", "--model.hidden_size", "16", "--train.max_steps", "20",
                      "--train.eval_every", "10", "--samples.max_new_tokens", "10"]}}
    (tmp_path / "manifest.yaml").write_text(yaml.safe_dump(manifest))
    main(["--manifest", str(tmp_path / "manifest.yaml"), "--family", "char", "--runs", str(tmp_path / "runs"),
          "--reports", str(reports)])
    metrics = json.loads((tmp_path / "runs" / "char_rnn_quick" / "metrics.json").read_text())
    before, after = json.loads(REPORT.read_text()), json.loads((reports / "report.json").read_text())
    rows = {row["run"]: row for row in after["tables"]["lm"]}
    assert rows["char_rnn_quick"]["validation loss"] == pytest.approx(metrics["validation"]["loss"])
    assert rows["char_rnn_quick"]["steps"] == 20
    assert [row["run"] for row in after["tables"]["lm"]] == [row["run"] for row in before["tables"]["lm"]]
    assert rows["char_rnn"] == next(r for r in before["tables"]["lm"] if r["run"] == "char_rnn")
    assert after["tables"]["translation"] == before["tables"]["translation"]
    assert (reports / "report.md").is_file() and (reports / "figures" / "char_rnn_quick" / "loss_curve.png").is_file()
    # Run again: the finished run is reused, not trained again.
    mtime = (tmp_path / "runs" / "char_rnn_quick" / "metrics.json").stat().st_mtime
    main(["--manifest", str(tmp_path / "manifest.yaml"), "--family", "char", "--runs", str(tmp_path / "runs"),
          "--reports", str(reports)])
    assert (tmp_path / "runs" / "char_rnn_quick" / "metrics.json").stat().st_mtime == mtime
