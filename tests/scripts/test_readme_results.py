"""The docs' results tables are generated from the evaluation report, and stay in sync with it."""

import json
from pathlib import Path

import pytest

from hf_nlp import cli
from scripts import readme_results
from tests.conftest import REPO_ROOT, cli_in_process


@pytest.fixture(scope="module")
def lm_report(lm_run, tmp_path_factory) -> Path:
    """The report.json of `hf-nlp report` over the tiny LM run (made in this process, once)."""
    out = tmp_path_factory.mktemp("lm_report")
    cli.main(["report", str(lm_run), "--output", str(out)])
    return out / "report.json"


def test_committed_pages_match_the_committed_report():
    assert readme_results.main(["--check"]) == 0  # run scripts/readme_results.py after `hf-nlp report`


def test_blocks_are_filled_from_a_report_and_checked(lm_run, translator_run, tmp_path, capsys):
    code, _, err = cli_in_process(["report", str(lm_run), str(translator_run), "--output", str(tmp_path / "r")], capsys)
    assert code == 0, err[-2000:]
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n<!-- results:lm -->\n| stale | 1.0 |\n<!-- /results:lm -->\n\ntext\n\n"
                      "<!-- results:translation -->\n<!-- /results:translation -->\n", encoding="utf-8")
    args = ["--pages", str(readme), "--report", str(tmp_path / "r" / "report.json"),
            "--comparison", str(tmp_path / "none.json")]
    assert readme_results.main(["--check", *args]) == 1
    assert readme_results.main(args) == 0
    text = readme.read_text()
    assert "stale" not in text and "text\n" in text
    lm_lines = text.split("<!-- results:lm -->")[1].split("<!-- /results:lm -->")[0].strip().splitlines()
    assert lm_lines[2].startswith("| Géron's reference") and "1.5477" in lm_lines[2]
    metrics = json.loads((lm_run / "metrics.json").read_text())
    assert f"{metrics['validation']['loss']:.4f}" in lm_lines[3]
    assert "BLEU beam 3" in text.split("<!-- results:translation -->")[1]
    assert readme_results.main(["--check", *args]) == 0
    readme.write_text(text.replace(f"{metrics['validation']['loss']:.4f}", "1.0000"), encoding="utf-8")
    assert readme_results.main(["--check", *args]) == 1  # a hand-edited figure is caught
    readme.write_text("<!-- results:classification:imdb -->\n<!-- /results:classification:imdb -->\n")
    with pytest.raises(SystemExit, match="classification:imdb"):
        readme_results.main(args)


def quick_bench_json(tmp_path, quick: bool) -> Path:
    from scripts import bench

    out = tmp_path / "bench.json"
    bench.main(["peak", "--quick", "--out", str(out)])
    written = json.loads(out.read_text())
    written["quick"] = quick
    out.write_text(json.dumps(written))
    return out


def test_performance_block_is_generated_from_the_bench_json(tmp_path, lm_report):
    bench_json = quick_bench_json(tmp_path, quick=False)
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n<!-- results:performance -->\nold\n<!-- /results:performance -->\n", encoding="utf-8")
    args = ["--pages", str(readme), "--report", str(lm_report), "--bench", str(bench_json)]
    assert readme_results.main(args) == 0
    block = readme.read_text().split("<!-- results:performance -->")[1]
    peak = json.loads(bench_json.read_text())["sections"]["peak"]
    assert "Hardware:" in block and "| matmul peak | bfloat16: " in block
    assert f"×{peak['bfloat16_vs_float32']:.2f}" in block
    assert readme_results.main(["--check", *args]) == 0


def test_a_quick_bench_json_is_refused_for_the_readme(tmp_path):
    bench_json = quick_bench_json(tmp_path, quick=True)
    readme = tmp_path / "README.md"
    readme.write_text("<!-- results:performance -->\n<!-- /results:performance -->\n", encoding="utf-8")
    report = REPO_ROOT / "reports" / "report.json"
    with pytest.raises(SystemExit, match="--quick"):
        readme_results.main(["--pages", str(readme), "--report", str(report), "--bench", str(bench_json)])


def test_crossval_block_is_generated_from_its_summary(tmp_path, lm_report):
    from hf_nlp.evaluation.cross_validation import summarize
    from tests.evaluation.test_cross_validation import fold

    crossval = tmp_path / "crossval"
    crossval.mkdir()
    (crossval / "toy.json").write_text(json.dumps(summarize([fold(4, 3, 2, 1.0), fold(4, 4, 3, 1.0)])))
    readme = tmp_path / "README.md"
    readme.write_text("<!-- results:crossval:toy -->\n<!-- /results:crossval:toy -->\n", encoding="utf-8")
    args = ["--pages", str(readme), "--report", str(lm_report), "--crossval", str(crossval)]
    assert readme_results.main(["--check", *args]) == 1
    assert readme_results.main(args) == 0
    lines = readme.read_text().splitlines()
    assert lines[1].startswith("| model | fold 1 | fold 2 | mean ± std | pooled (8 texts) |")
    assert lines[3].startswith("| GRU | 0.750 | 1.000 | 0.875 ± 0.177 | 0.875 |") and "+25.0 / +25.0 pts" in lines[3]
    assert readme_results.main(["--check", *args]) == 0
    readme.write_text("<!-- results:crossval:other -->\n<!-- /results:crossval:other -->\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="cross_validate.py"):
        readme_results.main(args)
