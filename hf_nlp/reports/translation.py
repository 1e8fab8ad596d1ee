"""The translation run's report: token accuracy, BLEU and chrF per decoding, test translations, attention."""

from __future__ import annotations

import json
from pathlib import Path

from hf_nlp.atomic import write_text_atomic
from hf_nlp.reports.writing import (
    environment_info,
    markdown_table,
    plot_eval_metric,
    plot_loss_curve,
    write_report,
)


def describe_model(model: dict) -> str:
    """One line naming a translation model from its saved `model:` settings."""
    if model['architecture'] == "pretrained":
        lora = model.get("lora") or {}
        how = f"LoRA (r {lora['r']}, alpha {lora['alpha']:g})" if lora.get("r") else "all weights"
        return f"`{model['pretrained']}` fine-tuned ({how})"
    if model['architecture'] == "marian":
        layers = model['transformer_layers']
        return (f"Marian transformer ({layers}+{layers} layers, d_model {model['hidden_size']}, "
                f"{model['transformer_heads']} heads, FFN {model['transformer_ffn_size']})")
    encoder = f"bidirectional encoder ({model['bidirectional_states']} states), " if model['bidirectional'] else ""
    score = f" ({model['luong_score']})" if model['attention'] == "luong" else ""
    return f"LSTM({model['hidden_size']}) encoder–decoder, {encoder}attention: {model['attention']}{score}"


def write_translation_report(run_dir: Path, config: dict, metrics: dict, samples: list[dict], history: list,
                             num_processes: int) -> None:
    """`report.md`, `metrics.json` and the curves of a translation run, from its structured `metrics`,
    its test-translation `samples` and its saved `config`."""
    data_cfg = config["data"]
    plot_loss_curve(history, run_dir / "loss_curve.png", metric="accuracy")
    accuracy_rows = [{"split": split, "token accuracy": metrics[split]["token_accuracy"],
                      "loss (nats/token)": metrics[split]["loss"], "target tokens": metrics[split]["tokens"]}
                     for split in ("validation", "test")]
    decoding_rows = [{"decoding": name, "BLEU": m["bleu"], "chrF": m["chrf"], "sentences/s": m["sentences_per_s"],
                      "sentences": m["sentences"]} for name, m in metrics["decoding"].items()]
    variant = describe_model(config["model"])
    sizes = metrics["split_sizes"]
    data = (f"Source `{data_cfg['source']}`: {sizes['train']:,} / {sizes['validation']:,} / {sizes['test']:,} pairs "
            f"(train / validation / test; at most {data_cfg['max_words']} words a side). " + (
                f"The pretrained model's own tokenizer, {metrics['vocabulary']['tokens']:,} tokens."
                if metrics["vocabulary"]["kind"] == "pretrained" else
                f"One BPE vocabulary of {metrics['vocabulary']['tokens']:,} subwords shared by both languages."
                if data_cfg["tokenizer"] == "bpe" else
                f"One word-level tokenizer, {metrics['vocabulary']['tokens']:,} tokens, of which the decoder predicts "
                f"the first {metrics['vocabulary']['target']:,} (Spanish words + specials).")
            + " BLEU and chrF (sacrebleu) on lowercased "
            "text without punctuation, for every system alike.")
    trained = metrics.get("trainable_parameters", metrics["parameters"])
    trained_note = f" ({trained:,} of them trained)" if trained != metrics["parameters"] else ""
    training = (f"{variant}; {metrics['parameters']:,} parameters{trained_note}. {metrics['train_steps']} optimizer steps "
                f"({metrics['stop_reason']}), best at step {metrics['best_step']}; training "
                f"{metrics['train_minutes']:.1f} min ({metrics['train_pairs_per_s']:.0f} pairs/s), wall "
                f"{metrics['wall_minutes']:.1f} min on {num_processes} process(es).\n\n![curves](loss_curve.png)")
    if any("eval_bleu" in entry for entry in history):  # translations decoded at each evaluation
        plot_eval_metric(history, "bleu", run_dir / "validation_bleu.png", "validation BLEU")
        training += (f" Validation BLEU of {config['decode']['validation_sentences']:,} decoded pairs at each evaluation "
                     f"(best model by `{config['train']['metric_for_best']}`):\n\n![validation BLEU](validation_bleu.png)")
    examples = markdown_table([{k: v for k, v in row.items() if k != "heatmap"} for row in metrics["examples"]])
    examples += "".join(f"\n\n![{row['English']}]({row['heatmap']})" for row in metrics["examples"] if "heatmap" in row)
    write_report(
        run_dir, f"English→Spanish: {variant}",
        {"Results": markdown_table(accuracy_rows) + "\n\n" + markdown_table(decoding_rows)
         + "\n\nReference (Géron, Tatoeba/Anki pairs, validation token accuracy): LSTM 0.683, bidirectional 0.7025, "
           "attention 0.711.",
         "Test translations": markdown_table(samples), "Examples": examples, "Data": data, "Training": training},
        metrics, config, environment_info(num_processes),
    )


def side_by_side(sentences: list[str], references: list[str], outputs: dict[str, list[str]], indices: list[int]) -> list[dict]:
    """Rows of English, reference and every system's output for the sentences at `indices`."""
    return [{"English": sentences[i], "reference": references[i], **{name: texts[i] for name, texts in outputs.items()}}
            for i in indices]


def significance_lines(significance: dict | None) -> list[str]:
    if significance is None:
        return []
    return [
        f"Paired bootstrap against `{significance['baseline']}` (sacrebleu, {significance['resamples']:,} resampled "
        "test sets, `sacrebleu --paired-bs`): ± is the half-width of the 95 % interval of the system's score; p is the "
        "chance of a difference at least this large between two equally good systems (below 0.05: the difference "
        "is unlikely to be the luck of the test sentences). Signatures: BLEU "
        f"`{significance['signatures']['bleu']}`, chrF `{significance['signatures']['chrf']}`.", ""]


def write_mt_comparison(output_dir: Path, report: dict) -> Path:
    """`comparison.json` and `comparison.md` of the `compare_mt` recipe, from its structured `report` (rows,
    notes, examples, and the `config` it ran with)."""
    cfg = report["config"]
    output_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(output_dir / "comparison.json", json.dumps(report, indent=2, ensure_ascii=False))
    examples = "\n\n".join(
        f"**{row['English']}**" + (f" — reference: {row['reference']}" if row["reference"] else "") + "\n\n"
        + "\n".join(f"- {name}: {text}" for name, text in row.items() if name not in ("English", "reference"))
        for row in report["examples"])
    parts = [
        "# English→Spanish: our models against production MT", "",
        f"Test set: the first {report['test_sentences']:,} pairs of the `{cfg['data']['source']}` test split (no model tuned "
        "on them). BLEU and chrF by sacrebleu after the same standardisation for every system (lowercase, ASCII "
        "punctuation removed); chrF on a 0–1 scale. Token accuracy is the reference's teacher-forced measure, "
        "reported by the models trained here. sentences/s and target tokens/s: this machine, batch of "
        f"{cfg['batch_size']}, {cfg['num_beams']} beams for beam rows; backend `ctranslate2 int8` is the Marian model "
        "converted by CTranslate2 with int8 weights (`hf-nlp translate --backend ctranslate2`).", "",
        markdown_table(report["rows"]), "",
        *significance_lines(report.get("significance")),
        *(f"- {note}" for note in report["notes"]), "",
        "## Example translations", "", examples, "",
        f"Wall time {report['wall_minutes']:.1f} min.", "",
    ]
    path = output_dir / "comparison.md"
    write_text_atomic(path, "\n".join(parts))
    return path


__all__ = ["describe_model", "side_by_side", "write_mt_comparison", "write_translation_report"]
