"""Translation quality: BLEU and chrF by sacrebleu on a shared normalisation, and attention heatmaps.

Word-level models emit lowercased words without punctuation (the reference's TextVectorization
standardisation), so every system's output and the references are compared after the same
standardisation — lowercase, ASCII punctuation removed, whitespace collapsed — which keeps the
scores of word-level RNNs, subword transformers and rule-based systems comparable. chrF is
reported on a 0–1 scale, as Opus-MT's published figures are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import sacrebleu

from hf_nlp.atomic import write_text_atomic
from hf_nlp.generation.translate import translate_texts
from hf_nlp.text.vectorize import STRIP_PUNCTUATION

_PUNCTUATION = re.compile(STRIP_PUNCTUATION)
_SPACES = re.compile(r"\s+")


def standardize_for_scoring(text: str) -> str:
    return _SPACES.sub(" ", _PUNCTUATION.sub("", text.lower())).strip()


def translation_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Corpus BLEU (0–100) and chrF (0–1) of `hypotheses` against one reference each."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    hypotheses = [standardize_for_scoring(h) for h in hypotheses]
    references = [standardize_for_scoring(r) for r in references]
    return {
        "bleu": sacrebleu.corpus_bleu(hypotheses, [references]).score,
        "chrf": sacrebleu.corpus_chrf(hypotheses, [references]).score / 100,
        "sentences": len(hypotheses),
    }


def decoded_scores(model, tokenizer, sources: Sequence[str], references: Sequence[str], num_beams: int = 1,
                   batch_size: int = 64, max_new_tokens: int = 60) -> dict[str, float]:
    """BLEU and chrF of `model`'s translations of `sources` (batched `generate()`, as `translate_texts`):
    what a translation run is selected by when `--train.metric_for_best` is `bleu` or `chrf`."""
    translations = translate_texts(model, tokenizer, sources, batch_size=batch_size, num_beams=num_beams,
                                   max_new_tokens=max_new_tokens, progress=False)
    scores = translation_scores(translations.texts, references)
    return {"bleu": scores["bleu"], "chrf": scores["chrf"]}


def paired_bootstrap(systems: dict[str, Sequence[str]], references: Sequence[str], baseline: str,
                     resamples: int = 1000) -> dict:
    """sacrebleu's paired bootstrap resampling (Koehn 2004; `sacrebleu --paired-bs`) of every system in
    `systems` (name -> hypotheses, one per reference) against `baseline`, for BLEU and chrF, after the
    same standardisation as `translation_scores`.

    Per system and metric: `score` on the whole test set, `mean` and `ci` (the half-width of the 95 %
    interval of the score over the resampled test sets), and `p_value` (none for the baseline; 1 for a
    system whose output is the baseline's): the chance of a difference at least this large were the
    two systems equally good. Also each metric's
    sacrebleu signature (with the resample count and seed, sacrebleu's fixed 12345 unless
    SACREBLEU_SEED says otherwise), so the figures can be reproduced. chrF is on a 0-1 scale."""
    from sacrebleu.metrics import BLEU, CHRF
    from sacrebleu.significance import PairedTest

    if baseline not in systems:
        raise ValueError(f"baseline {baseline!r} is not one of the systems {list(systems)}")
    names = [baseline, *(name for name in systems if name != baseline)]
    standardized = [[standardize_for_scoring(r) for r in references]]
    named = [(name, [standardize_for_scoring(h) for h in systems[name]]) for name in names]
    metrics = {"bleu": BLEU(), "chrf": CHRF()}
    signatures, scores = PairedTest(named, metrics, standardized, test_type="bs", n_samples=resamples)()
    # `scores` holds the system names, then one column per metric, named by sacrebleu (`BLEU`, `chrF2`),
    # in the order of `metrics`.
    columns = [column for column in scores if column != "System"]
    scale = {"bleu": 1.0, "chrf": 0.01}
    # sacrebleu counts only resampled differences strictly above the real one, so a system whose output
    # is the baseline's, word for word, gets its smallest p (1/1001): "significant" with no difference at
    # all. Such a system gets p = 1 here.
    same_output = {name for name, hypotheses in named[1:] if hypotheses == named[0][1]}
    results = {name: {} for name in names}
    for key, column in zip(metrics, columns, strict=True):
        for name, result in zip(names, scores[column], strict=True):
            p_value = 1.0 if name in same_output else result.p_value
            # (sacrebleu's resampled figures are numpy floats: as plain floats they go to JSON)
            results[name][key] = {"score": float(result.score) * scale[key], "mean": float(result.mean) * scale[key],
                                  "ci": float(result.ci) * scale[key],
                                  "p_value": None if p_value is None else float(p_value)}
    return {"baseline": baseline, "resamples": resamples, "sentences": len(references),
            "signatures": {key: str(signatures[column]) for key, column in zip(metrics, columns, strict=True)},
            "systems": results}


def plot_attention(weights, source_tokens: list[str], target_tokens: list[str], path: Path, title: str = "") -> Path:
    """weights `(T, S)`: one row per generated token, one column per source token."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(0.5 * len(source_tokens) + 2.5, 0.45 * len(target_tokens) + 1.8))
    ax.imshow(weights, cmap="viridis", aspect="auto", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(source_tokens)), source_tokens, rotation=45, ha="right")
    ax.set_yticks(range(len(target_tokens)), target_tokens)
    ax.set_xlabel("source")
    ax.set_ylabel("generated")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def attention_heatmap(model, tokenizer, text: str, translation: str, path: Path) -> Path | None:
    """Plot where `model` attends while producing `translation` of `text` (teacher-forced on it):
    its last layer's cross-attention, heads averaged. None when the model has no attention."""
    import torch

    if getattr(model.config, "attention", "multi-head") == "none":
        return None
    if getattr(model.config, "model_type", "") != "hf_nlp_seq2seq_rnn":
        model.set_attn_implementation("eager")  # SDPA kernels return no attention weights
    source = tokenizer(text, return_tensors="pt").to(model.device)
    target = tokenizer(text_target=translation)["input_ids"]  # the words generated, then [EOS]
    decoder_input_ids = torch.tensor([[model.config.decoder_start_token_id, *target[:-1]]], device=model.device)
    with torch.no_grad():
        output = model(**source, decoder_input_ids=decoder_input_ids, output_attentions=True)
    weights = output.cross_attentions[-1][0].float().mean(0)  # last layer, heads averaged: (T, S)
    return plot_attention(weights.cpu().numpy(), tokenizer.convert_ids_to_tokens(source["input_ids"][0]),
                          tokenizer.convert_ids_to_tokens(target), Path(path), title=text)


TEST_TRANSLATIONS = "test_translations.jsonl"
"""A translation run's test set as decoded: one JSON line per sentence (`en`, `reference`, then each decoding's
output), so that `hf-nlp report` can test runs against each other sentence by sentence."""


def score_test_translations(model, tokenizer, test, cfg, save_to: Path | None = None) -> tuple[dict, list[dict]]:
    """BLEU / chrF / sentences per second of greedy and beam-search translations of the test set (`en` / `es`
    columns), decoded as `cfg` (a translation recipe's `decode:` section) says; and the first 8 as samples.
    `save_to`: a run folder, where every sentence and its translations go to `TEST_TRANSLATIONS`."""
    count = len(test) if cfg.max_test_sentences is None else min(cfg.max_test_sentences, len(test))
    sources, references = list(test["en"][:count]), list(test["es"][:count])
    decoding, outputs = {}, {}
    for name, beams in (("greedy", 1), (f"beam {cfg.num_beams}", cfg.num_beams)):
        translations = translate_texts(model, tokenizer, sources, batch_size=cfg.batch_size, num_beams=beams,
                                       max_new_tokens=cfg.max_new_tokens, length_penalty=cfg.length_penalty,
                                       unk_penalty=cfg.unk_penalty)
        decoding[name] = {**translation_scores(translations.texts, references),
                          "sentences_per_s": translations.sentences_per_second}
        outputs[name] = translations.texts
    samples = [{"English": sources[i], "reference": references[i], **{k: v[i] for k, v in outputs.items()}}
               for i in range(min(8, count))]
    if save_to is not None:
        lines = (json.dumps({"en": sources[i], "reference": references[i], **{k: v[i] for k, v in outputs.items()}},
                            ensure_ascii=False) for i in range(count))
        write_text_atomic(save_to / TEST_TRANSLATIONS, "".join(line + "\n" for line in lines))
    return decoding, samples


def read_test_translations(run_dir: Path) -> dict[str, list[str]] | None:
    """A run's `TEST_TRANSLATIONS` as columns (`en`, `reference`, one per decoding), or None without the file."""
    path = run_dir / TEST_TRANSLATIONS
    if not path.is_file():
        return None
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return {key: [row[key] for row in rows] for key in (rows[0] if rows else {})}


def example_translations(model, tokenizer, cfg, run_dir: Path) -> list[dict]:
    """Beam translations of `cfg.examples`, with an attention heatmap each when the model attends."""
    translations = translate_texts(model, tokenizer, cfg.examples, num_beams=cfg.num_beams,
                                   max_new_tokens=cfg.max_new_tokens, progress=False).texts
    rows = []
    for index, (text, translation) in enumerate(zip(cfg.examples, translations, strict=True)):
        row = {"English": text, "translation": translation}
        if attention_heatmap(model, tokenizer, text, translation, run_dir / f"attention_{index + 1}.png"):
            row["heatmap"] = f"attention_{index + 1}.png"
        rows.append(row)
    return rows
