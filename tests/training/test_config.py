from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hf_nlp.config import parse_config, save_config
from hf_nlp.errors import UserError
from hf_nlp.training.config import TrainingConfig
from tests.conftest import REPO_ROOT


@dataclass
class Inner:
    hidden_size: int = 8
    dropout: float = 0.0
    cell_type: str = "gru"
    sizes: list[int] = field(default_factory=lambda: [1, 2])


@dataclass
class Outer:
    model: Inner = field(default_factory=Inner)
    train: TrainingConfig = field(default_factory=TrainingConfig)


def test_yaml_then_dotted_overrides(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  hidden_size: 16\ntrain:\n  learning_rate: 0.01\n")
    cfg = parse_config(Outer, ["--config", str(path), "--model.hidden_size", "256", "--train.max_steps=7", "--model.dropout", "1"])
    assert cfg.model.hidden_size == 256
    assert cfg.train.learning_rate == 0.01
    assert cfg.train.max_steps == 7
    assert cfg.model.dropout == 1.0 and isinstance(cfg.model.dropout, float)
    assert cfg.train.mixed_precision == "no"


def test_unknown_key_names_the_closest_valid_key():
    with pytest.raises(UserError, match=r"unknown config key `train.lerning_rate`; did you mean `train.learning_rate`\?"):
        parse_config(Outer, ["--train.lerning_rate", "0.1"])
    with pytest.raises(UserError, match=r"did you mean `model.hidden_size`"):
        parse_config(Outer, ["--model.hiden_size", "3"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model.hidden_size", "abc"], "must be an integer"),
        (["--train.mixed_precision", "fp8"], "must be one of no, bf16, fp16"),
        (["--train.progress_bar", "3"], "must be true or false"),
        (["--model", "3"], "is a section"),
        (["--model.hidden_size"], "needs a value"),
        (["stray"], "unexpected argument"),
    ],
)
def test_bad_values_are_one_sentence_errors(argv, message):
    with pytest.raises(UserError, match=message):
        parse_config(Outer, argv)


def test_missing_config_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        parse_config(Outer, ["--config", str(tmp_path / "nope.yaml")])


def test_saved_config_loads_back_identically(tmp_path):
    cfg = parse_config(Outer, ["--model.hidden_size", "5", "--train.max_steps", "3"])
    save_config(cfg, tmp_path / "config.yaml")
    assert parse_config(Outer, ["--config", str(tmp_path / "config.yaml")]) == cfg


def test_every_shipped_config_loads():
    """Every YAML under recipes/configs/ is in the catalog and parses into its recipe's config class."""
    from recipes import CONFIGS, config_class

    configs = sorted((REPO_ROOT / "recipes" / "configs").glob("*.yaml"))
    assert configs, "no shipped configs found"
    assert {p.stem for p in configs} == set(CONFIGS), "recipes/__init__.py CONFIGS must list every shipped config"
    for path in configs:
        recipe = CONFIGS[path.stem].recipe
        cfg = parse_config(config_class(recipe), ["--config", str(path)])
        output_dir = cfg.train.output_dir if hasattr(cfg, "train") else cfg.output_dir  # compare_mt trains nothing
        assert output_dir.startswith(("runs/", "reports/")), path
        first_line = path.read_text().splitlines()[0]
        assert first_line.startswith("#"), f"{path} must start with a comment giving the command"
        assert f"hf-nlp train {recipe} --config {path.stem}" in path.read_text().split("\n\n")[0], path


def test_recipe_registry_matches_recipe_files():
    from recipes import CONFIGS, RECIPES, config_class

    files = {p.stem for p in (REPO_ROOT / "recipes").glob("*.py") if p.stem != "__init__"}
    assert set(RECIPES) == files
    for name, recipe in RECIPES.items():
        fields = config_class(name).__dataclass_fields__
        assert "train" in fields or "output_dir" in fields, name
        assert CONFIGS[recipe.default_config].recipe == name


def test_help_lists_every_key_with_its_default(capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_config(Outer, ["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--model.hidden_size  (int) = 8" in out
    assert "--train.mixed_precision  (no | bf16 | fp16) = 'no'" in out
    assert "--train.max_steps  (int | None) = None" in out


def test_a_bare_no_means_the_choice_not_false(tmp_path):
    """YAML 1.1 reads `no` as false; `mixed_precision: no` must still mean the choice "no"."""
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  mixed_precision: no\n")
    assert parse_config(Outer, ["--config", str(path)]).train.mixed_precision == "no"
    assert parse_config(Outer, ["--train.mixed_precision", "bf16", "--train.mixed_precision", "no"]).train.mixed_precision == "no"
    with pytest.raises(UserError, match="must be true or false"):
        parse_config(Outer, ["--train.progress_bar", "maybe"])


def test_exponent_notation_is_a_number_on_the_command_line_and_in_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  learning_rate: 3e-5\n")  # YAML 1.1 reads this as a string
    assert parse_config(Outer, ["--config", str(path)]).train.learning_rate == 3e-5
    assert parse_config(Outer, ["--train.learning_rate", "1e-4"]).train.learning_rate == 1e-4
    with pytest.raises(UserError, match="must be a number; got `fast`"):
        parse_config(Outer, ["--train.learning_rate", "fast"])
