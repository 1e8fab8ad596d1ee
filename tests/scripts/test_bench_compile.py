"""The compile section times eager and compiled training on the same batches (its rates mean something
only on a quiet machine; this checks what it measures and reports)."""

import torch

from scripts import bench_compile


def test_eager_and_compiled_runs_are_compared_with_the_compilation_separate():
    tiny = bench_compile.char_rnn(batch_size=4, window=8, hidden_size=8)
    result = bench_compile.compare(tiny, torch.device("cpu"), steps=2, warmup=2)
    assert set(result["rates"]) == {"eager", "compiled"} and min(result["rates"].values()) > 0
    assert result["compile_seconds"] > 0  # inductor ran: the compiled first step is the slower one
    table = result["table"]
    assert (table["baseline"], table["ours"], table["unit"]) == ("eager", "compiled", "chars/s")
    compiled = next(row for row in table["rows"] if row["name"] == "compiled")
    assert compiled["ratio"] == result["rates"]["compiled"] / result["rates"]["eager"]

