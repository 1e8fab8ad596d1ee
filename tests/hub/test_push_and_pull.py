"""Model cards, `hf-nlp push` and loading back by name, over HTTP against a local Hub server.

Each family (char-RNN LM, sentiment RNN classifier, LSTM translator) is trained on toy data, its
card checked against its metrics, pushed with the real `huggingface_hub` client, and loaded back
with `from_pretrained`, `pipeline` and the CLI from the pushed name in fresh interpreters
(`huggingface_hub` reads HF_ENDPOINT at import), with the same weights and the same outputs.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from tests.conftest import REPO_ROOT, cli_in_process
from tests.hub.local_hub import LocalHub

# Every test trains runs (family_run reaches them through request.getfixturevalue, which the conftest hook
# cannot see) and pushes or loads them in subprocesses against a local Hub server.
pytestmark = pytest.mark.e2e

HF_NLP = str(Path(sys.executable).with_name("hf-nlp"))
ALICE, BOB = "hf_alice_token", "hf_bob_token"
USERS = {ALICE: "alice", BOB: "bob"}


RUNS = {"lm": "lm_run", "classification": "classifier_run", "translation": "translator_run"}


@pytest.fixture(params=list(RUNS))
def family_run(request) -> tuple[str, Path]:
    return request.param, request.getfixturevalue(RUNS[request.param])


# --------------------------------------------------------------------------- helpers


def hub_env(hub_url: str, tmp_path: Path, token: str | None = ALICE) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HF_HUB_OFFLINE")}
    env.update(HF_ENDPOINT=hub_url, HF_HOME=str(tmp_path / "hf_home"), HF_HUB_OFFLINE="0", HF_HUB_DISABLE_TELEMETRY="1")
    if token:
        env["HF_TOKEN"] = token
    return env


def run(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)


def folder_digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# Outputs of the same model loaded from a folder and from the Hub name, in one fresh interpreter.
COMPARE = r"""
import json, sys, torch
import hf_nlp
from transformers import AutoTokenizer, pipeline
import transformers
family, local, name = sys.argv[1:4]
auto = {"lm": "AutoModelForCausalLM", "classification": "AutoModelForSequenceClassification",
        "translation": "AutoModelForSeq2SeqLM"}[family]
text = {"lm": "to be or", "classification": "a great film", "translation": "a b c"}[family]
outputs, answers = [], []
for source in (local, name):
    model = getattr(transformers, auto).from_pretrained(source).eval()
    tokenizer = AutoTokenizer.from_pretrained(source)
    inputs = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        if family == "translation":
            out = model.generate(**inputs, num_beams=2, max_new_tokens=5)
        else:
            out = model(input_ids=inputs["input_ids"]).logits
    outputs.append(out)
    if family == "classification":
        answers.append(pipeline("text-classification", model=source)(text)[0]["label"])
    elif family == "lm":
        answers.append(pipeline("text-generation", model=source)(text, max_new_tokens=5, do_sample=False)[0]["generated_text"])
print(json.dumps({"equal": bool(torch.equal(outputs[0], outputs[1])), "answers": answers}))
"""

CLI_ARGS = {"lm": ["generate", "--prompt", "to be", "--max-new-tokens", "8", "--seed", "1"],
            "classification": ["classify", "a great film", "an awful plot"],
            "translation": ["translate", "--beams", "2", "a b c"]}


# --------------------------------------------------------------------------- model cards


EXPECTED_METRICS = {  # family -> (where in metrics.json, metric keys) that the card must carry
    "lm": [(("validation",), ("loss", "bits_per_char", "perplexity", "accuracy")),
           (("test",), ("loss", "bits_per_char", "perplexity", "accuracy"))],
    "classification": [(("variants", -1, "validation"), ("accuracy", "f1_macro", "loss")),
                       (("variants", -1, "test"), ("accuracy", "f1_macro", "loss"))],
    "translation": [(("validation",), ("token_accuracy", "loss")), (("test",), ("token_accuracy", "loss")),
                    (("decoding", "greedy"), ("bleu", "chrf")), (("decoding", "beam 3"), ("bleu", "chrf"))],
}


def test_card_parses_back_with_every_metric_of_the_run(family_run):
    family, run_dir = family_run
    card = ModelCard.load(run_dir / "best_model" / "README.md")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert card.data.library_name == "transformers" and card.data.license == "apache-2.0"
    assert card.data.pipeline_tag == {"lm": "text-generation", "classification": "text-classification",
                                      "translation": "translation"}[family]
    carried = [round(r.metric_value, 6) for r in card.data.eval_results]
    expected = []
    for path, keys in EXPECTED_METRICS[family]:
        section = metrics
        for step in path:
            section = section[step]
        expected += [round(section[key], 6) for key in keys]
    assert len(carried) >= len(expected)
    for value in expected:
        assert value in carried
    splits = {r.dataset_split for r in card.data.eval_results}
    assert {"validation", "test"} <= splits
    assert "data:" in card.text and "train:" in card.text  # the training config is in the card


# --------------------------------------------------------------------------- push and pull


# One family in the default run (the push path is the same for all three); the others in the slow tier.
@pytest.mark.parametrize("family", ["lm", pytest.param("classification", marks=pytest.mark.slow),
                                    pytest.param("translation", marks=pytest.mark.slow)])
def test_push_then_load_by_name_gives_the_same_model(family, request, tmp_path, capsys):
    run_dir = request.getfixturevalue(RUNS[family])
    repo_id = f"alice/{family}-model"
    before = folder_digest(run_dir)
    with LocalHub(users=USERS) as hub:
        env = hub_env(hub.url, tmp_path)
        pushed = run([HF_NLP, "push", "--model", str(run_dir), "--repo-id", repo_id], env)
        assert pushed.returncode == 0, pushed.stderr[-3000:]
        assert f"{hub.url}/{repo_id}" in pushed.stdout
        files = hub.files(repo_id)
        local = run_dir / "best_model"
        assert files["model.safetensors"] == (local / "model.safetensors").read_bytes()  # byte-identical weights
        assert {"config.json", "tokenizer.json", "config.yaml", "README.md", "report/report.md",
                "report/metrics.json"} <= set(files)
        card = ModelCard(files["README.md"].decode())
        assert card.data.eval_results and f'from_pretrained("{repo_id}")' in card.text
        commits = [r for r in hub.requests if r.startswith("POST /api/models/") and "/commit/" in r]
        assert len(commits) == 1  # model, tokenizer, config, card and report in one commit

        compared = run([sys.executable, "-c", COMPARE, family, str(local), repo_id], env)
        assert compared.returncode == 0, compared.stderr[-3000:]
        result = json.loads(compared.stdout.strip().splitlines()[-1])
        assert result["equal"]
        assert len(set(result["answers"])) <= 1  # pipeline: same answer from the folder and the name

        evaluated = run([HF_NLP, "evaluate", "--model", repo_id, "--task", family, "--output", str(tmp_path / "e")], env)
        assert evaluated.returncode == 0, evaluated.stderr[-2000:]  # the data config travelled as config.yaml
        remote = json.loads((tmp_path / "e" / "test.json").read_text())["metrics"]
        recipe = json.loads((run_dir / "metrics.json").read_text())
        key, expected = {"lm": ("loss", recipe.get("test", {}).get("loss")),
                         "classification": ("accuracy", recipe.get("variants", [{}])[-1].get("test", {}).get("accuracy")),
                         "translation": ("token_accuracy", recipe.get("test", {}).get("token_accuracy"))}[family]
        assert remote[key] == pytest.approx(expected, rel=1e-5)

        by_name = run([HF_NLP, *CLI_ARGS[family], "--model", repo_id], env)
        assert by_name.returncode == 0, by_name.stderr[-2000:]
    by_folder = cli_in_process([*CLI_ARGS[family], "--model", str(run_dir)], capsys)[1]
    assert by_name.stdout == by_folder and by_name.stdout.strip()
    assert folder_digest(run_dir) == before  # pushing only reads the run folder


@pytest.mark.slow  # the default run stays under 15 minutes on 2 cores; CI runs the slow tier too
def test_private_repo_is_refused_without_the_token_and_repush_moves_the_revision(classifier_run, tmp_path):
    repo_id = "alice/private-classifier"
    with LocalHub(users=USERS) as hub:
        env = hub_env(hub.url, tmp_path)
        first = run([HF_NLP, "push", "--model", str(classifier_run), "--repo-id", repo_id, "--private"], env)
        assert first.returncode == 0, first.stderr[-3000:]
        first_sha = hub.repos[f"models/{repo_id}"].branches["main"]

        anonymous = run([HF_NLP, "classify", "a great film", "--model", repo_id], hub_env(hub.url, tmp_path / "a", None))
        assert anonymous.returncode == 2 and f"could not load model `{repo_id}`" in anonymous.stderr
        assert "Traceback" not in anonymous.stderr
        other_user = run([HF_NLP, "classify", "a great film", "--model", repo_id], hub_env(hub.url, tmp_path / "b", BOB))
        assert other_user.returncode == 2
        owner = run([HF_NLP, "classify", "a great film", "--model", repo_id], env)
        assert owner.returncode == 0, owner.stderr[-2000:]

        again = run([HF_NLP, "push", "--model", str(classifier_run), "--repo-id", repo_id], env)
        assert again.returncode == 0, again.stderr[-3000:]
        second_sha = hub.repos[f"models/{repo_id}"].branches["main"]
        assert second_sha != first_sha and second_sha[:10] in again.stdout

        branch = run([HF_NLP, "push", "--model", str(classifier_run), "--repo-id", repo_id, "--revision", "v2"], env)
        assert branch.returncode == 0, branch.stderr[-3000:]
        branches = hub.repos[f"models/{repo_id}"].branches
        assert branches["main"] == second_sha and branches["v2"] not in (first_sha, second_sha)
        assert hub.files(repo_id, "v2")["model.safetensors"] == hub.files(repo_id, first_sha)["model.safetensors"]


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"  # nothing listens once the probe closes


@pytest.mark.parametrize("case, expected", [
    ("no token", "no Hub token: run `hf auth login` or set HF_TOKEN"),
    ("wrong token", "rejected your token"),
    ("server down", "could not reach the Hub at"),
    ("name taken", "may not write to `bob/taken`"),
    ("bad name", "must look like `user/name`"),
])
def test_push_failures_are_one_sentence_and_leave_the_run_untouched(classifier_run, tmp_path, case, expected):
    before = folder_digest(classifier_run)
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "weights.bin").write_bytes(b"bob's")
    with LocalHub({"bob/taken": taken}, users=USERS) as hub:
        url = _closed_port_url() if case == "server down" else hub.url
        token = {"no token": None, "wrong token": "hf_not_a_token"}.get(case, ALICE)
        repo_id = {"name taken": "bob/taken", "bad name": "no-namespace"}.get(case, "alice/model")
        result = run([HF_NLP, "push", "--model", str(classifier_run), "--repo-id", repo_id],
                     hub_env(url, tmp_path, token))
        assert hub.files("bob/taken") == {"weights.bin": b"bob's"}
    assert result.returncode == 2, result.stderr[-2000:]
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert folder_digest(classifier_run) == before


def test_recipe_push_to_hub_section_pushes_the_best_model_at_the_end(tmp_path):
    rows = [f"{'great superb' if i % 2 else 'awful dull'} film {i % 7},{'pos' if i % 2 else 'neg'}" for i in range(100)]
    (tmp_path / "toy.csv").write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    args = [sys.executable, "recipes/sentiment_rnn.py", "--config", "recipes/configs/sentiment_rnn.yaml",
            "--data.source", str(tmp_path / "toy.csv"), "--model.hidden_size", "8", "--model.embedding_size", "8",
            "--train.num_epochs", "1", "--train.progress_bar", "false", "--push_to_hub.repo_id", "alice/auto"]
    with LocalHub(users=USERS) as hub:
        done = run([*args, "--train.output_dir", str(tmp_path / "run")], hub_env(hub.url, tmp_path))
        no_token = run([*args, "--train.output_dir", str(tmp_path / "run2")], hub_env(hub.url, tmp_path / "n", None))
        files = hub.files("alice/auto")
    assert done.returncode == 0, done.stderr[-3000:]
    assert files["model.safetensors"] == (tmp_path / "run" / "best_model" / "model.safetensors").read_bytes()
    assert no_token.returncode == 2 and "no Hub token" in no_token.stderr
    assert not (tmp_path / "run2").exists()  # refused before training, not after


PUSH_WITH_TRANSFORMERS = r"""
import sys, torch
import hf_nlp
from transformers import AutoModelForSequenceClassification, AutoTokenizer
local = sys.argv[1]
model, tokenizer = AutoModelForSequenceClassification.from_pretrained(local), AutoTokenizer.from_pretrained(local)
model.push_to_hub("alice/via-transformers")
tokenizer.push_to_hub("alice/via-transformers")
pulled = AutoModelForSequenceClassification.from_pretrained("alice/via-transformers")
inputs = AutoTokenizer.from_pretrained("alice/via-transformers")("a great film", return_tensors="pt")
print(torch.equal(model(**inputs).logits, pulled(**inputs).logits))
"""


def test_transformers_own_push_to_hub_works_on_our_models(classifier_run, tmp_path):
    with LocalHub(users=USERS) as hub:
        done = run([sys.executable, "-c", PUSH_WITH_TRANSFORMERS, str(classifier_run / "best_model")],
                   hub_env(hub.url, tmp_path))
        files = hub.files("alice/via-transformers")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "True"
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(files)
