"""The Marian section measures transformers, CTranslate2 float32 and int8 on the same sentences
(its speed ratios only mean something on a quiet machine; its BLEU figures always do)."""

from scripts import bench_marian


def test_marian_benchmark_reports_tokens_per_second_and_bleu_for_each_backend(marian_run):
    run_dir, _ = marian_run
    results = bench_marian.main(["--model", str(run_dir), "--source", str(run_dir.parent / "copy.tsv"), "--test-size", "100",
                                 "--validation-size", "100",
                                 "--sentences", "30", "--max-new-tokens", "12", "--batch-size", "8", "--repeats", "1"])
    backends = results["backends"]
    assert set(backends) == {"transformers_fp32", "ctranslate2_float32", "ctranslate2_int8"}
    assert backends["transformers_fp32"]["bleu"] > 80  # the copy task, learnt
    assert abs(backends["ctranslate2_float32"]["bleu"] - backends["transformers_fp32"]["bleu"]) < 0.5
    assert all(row["tokens_per_s"] > 0 and row["vs_transformers"] > 0 for row in backends.values())
    (table,) = results["tables"]
    assert table["baseline"] == "transformers generate(), fp32" and table["ours"] == "CTranslate2 int8"
    assert "BLEU" in table["rows"][2]["note"]
