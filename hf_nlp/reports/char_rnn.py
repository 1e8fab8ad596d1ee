"""The char-RNN run's report: results per split, data, training, samples."""

from __future__ import annotations

from pathlib import Path

from hf_nlp.reports.writing import environment_info, markdown_table, plot_loss_curve, write_report


def write_char_rnn_report(run_dir: Path, config: dict, metrics: dict, history: list, num_processes: int) -> None:
    """`report.md`, `metrics.json` and the loss curve of a char-RNN run, from its structured `metrics`
    (with `samples` by temperature) and its saved `config`."""
    data_cfg = config["data"]
    plot_loss_curve(history, run_dir / "loss_curve.png")
    rows = [
        {"split": split, "loss (nats/char)": m["loss"], "bits/char": m["bits_per_char"],
         "perplexity": m["perplexity"], "accuracy": m["accuracy"], "chars": m["chars"]}
        for split, m in ((s, metrics[s]) for s in ("validation", "test", "validation_stateless") if s in metrics)
    ]
    mode = "stateful (state carried across batches)" if data_cfg["stateful"] else "stateless (random windows)"
    data = (
        f"Source `{data_cfg['source']}`, lowercased: {data_cfg['lowercase']}. {metrics['corpus_chars']:,} characters, "
        f"{metrics['distinct_chars']} distinct. Splits (chars): "
        + ", ".join(f"{k} {v:,}" for k, v in metrics["split_chars"].items())
        + f". Windows of {data_cfg['window']}, {mode}."
    )
    training = (
        f"{metrics['train_steps']} optimizer steps ({metrics['stop_reason']}), best at step {metrics['best_step']}; "
        f"{metrics['parameters']:,} parameters; training {metrics['train_minutes']:.1f} min, "
        f"wall {metrics['wall_minutes']:.1f} min on {num_processes} process(es).\n\n![loss curve](loss_curve.png)"
    )
    sample_md = "\n\n".join(f"**temperature {t}**\n\n```\n{text}\n```" for t, text in metrics["samples"].items())
    write_report(
        run_dir,
        "Char-RNN on Shakespeare",
        {"Results": markdown_table(rows), "Data": data, "Training": training, "Samples": sample_md},
        metrics,
        config,
        environment_info(num_processes),
    )


__all__ = ["write_char_rnn_report"]
