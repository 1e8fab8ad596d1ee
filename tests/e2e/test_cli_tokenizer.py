import subprocess
import sys
from pathlib import Path

from transformers import AutoTokenizer

from tests.conftest import cli_in_process

HF_NLP = str(Path(sys.executable).with_name("hf-nlp"))


def test_tokenizer_train_cli_writes_a_loadable_tokenizer(tmp_path, tiny_text_file):
    out = tmp_path / "tok"
    result = subprocess.run([HF_NLP, "tokenizer", "train", "--kind", "bpe", "--vocab-size", "300", "--dropout", "0.1",
                             "--input", str(tiny_text_file), "--output", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "bpe tokenizer with 300 tokens" in result.stdout and "tokens per word" in result.stdout
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.init_kwargs["subword_dropout"] == 0.1
    assert tokenizer.decode(tokenizer("First Citizen", add_special_tokens=False)["input_ids"]) == "First Citizen"


def test_tokenizer_cli_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9\n".encode("latin-1"))
    for args, message in [
        (["--input", str(tmp_path / "missing.txt")], "does not exist"),
        (["--input", str(bad)], "is not UTF-8"),
        (["--input", str(bad), "--kind", "unigram", "--dropout", "0.1"], "BPE option"),
    ]:
        code, _, err = cli_in_process(["tokenizer", "train", "--output", str(tmp_path / "o"), *args], capsys)
        assert code == 2 and message in err and len(err.splitlines()) == 1, (args, err)
