"""Translate with CTranslate2: a Marian model converted once (int8 by default) and cached.

CTranslate2 is a C++ inference engine for transformer translation models; with int8 weights it
decodes several times faster than `transformers` on CPU. `converted_marian` converts any Marian
model (`MarianMTModel`: Opus-MT, or the Marian transformer trained by
`recipes/translate_seq2seq.py`) with CTranslate2's own converter and caches it: beside a local
model folder (`ctranslate2-int8/`), or for a Hub id under `$HF_HOME/hf-nlp/ctranslate2/`, keyed by
the commit it was converted from. A local cache older than the weights is converted again.

Opus-MT's vocabulary ends with the `<pad>` token its decoder starts from, and CTranslate2's Marian
loader relies on that. Ours keep the project's layout (specials 0-3, decoder starting from [BOS],
a target vocabulary that is the first `decoder_vocab_size` source ids), which `_OurMarianLoader`
converts as it is.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from hf_nlp.errors import UserError
from hf_nlp.generation.translate import Translations, translate_in_batches
from hf_nlp.hub import load_config_and_tokenizer, load_model_and_tokenizer, resolve_model_dir

QUANTIZATIONS = ("int8", "float32")
CT2_INSTALL = 'pip install ".[fast-mt]"  (ctranslate2)'


def ctranslate2_available() -> bool:
    return importlib.util.find_spec("ctranslate2") is not None


def _ctranslate2():
    try:
        import ctranslate2
    except ImportError:
        raise UserError(f"`--backend ctranslate2` needs CTranslate2: {CT2_INSTALL}.") from None
    return ctranslate2


def is_opus_mt_layout(config) -> bool:
    """Opus-MT's convention: `<pad>` is the last token and the decoder starts from it."""
    return config.pad_token_id == config.decoder_start_token_id == config.vocab_size - 1


def _our_marian_loader():
    from ctranslate2.converters.transformers import BartLoader, MarianMTLoader

    class _OurMarianLoader(MarianMTLoader):
        """Marian weights in our vocabulary layout: no `<pad>` to strip, decoding starts from [BOS],
        and a target vocabulary of the first `decoder_vocab_size` tokens (the LM head's size)."""

        def get_model_spec(self, model):
            model.config.normalize_before = False
            model.config.normalize_embedding = False
            return BartLoader.get_model_spec(self, model)

        def set_decoder(self, spec, decoder):
            BartLoader.set_decoder(self, spec, decoder)

        def get_vocabulary(self, model, tokenizer):
            return [tokenizer.convert_ids_to_tokens(i) for i in range(len(tokenizer))]

        def set_vocabulary(self, spec, tokens):
            spec.register_source_vocabulary(tokens)
            spec.register_target_vocabulary(tokens[: self.target_size])

        def set_config(self, config, model, tokenizer):
            BartLoader.set_config(self, config, model, tokenizer)

        def __call__(self, model, tokenizer):
            self.target_size = model.config.decoder_vocab_size or model.config.vocab_size
            return super().__call__(model, tokenizer)

    return _OurMarianLoader()


def _converter(model, tokenizer):
    """A CTranslate2 converter over an already loaded `MarianMTModel` (local folder or Hub id alike)."""
    ctranslate2 = _ctranslate2()
    from ctranslate2.converters.transformers import MarianMTLoader

    loader = MarianMTLoader() if is_opus_mt_layout(model.config) else _our_marian_loader()

    class LoadedModelConverter(ctranslate2.converters.Converter):
        def _load(self):
            return loader(model, tokenizer)

    return LoadedModelConverter()


def source_folder(source: str) -> tuple[Path, str | None]:
    """The folder holding the files of `source` (a local folder, or a Hub id as `resolve_model_dir`
    passes it through) and, for a Hub id, the commit they are from (its snapshot folder's name)."""
    if Path(source).is_dir():
        return Path(source), None
    from huggingface_hub import hf_hub_download

    snapshot = Path(hf_hub_download(source, "config.json")).parent  # cached when the config was loaded
    return snapshot, snapshot.name


def cache_dir(model_id: str, folder: Path, commit: str | None, quantization: str) -> Path:
    """Where the converted model lives: beside a local model folder, or under $HF_HOME for a Hub id."""
    if commit is None:
        return folder / f"ctranslate2-{quantization}"
    from huggingface_hub import constants

    return Path(constants.HF_HOME) / "hf-nlp" / "ctranslate2" / model_id.replace("/", "--") / f"{commit}-{quantization}"


def _is_stale(converted: Path, folder: Path) -> bool:
    """No conversion yet, or weights newer than it (the run saved again)."""
    model_bin = converted / "model.bin"
    if not model_bin.is_file():
        return True
    weights = [p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin")]
    return any(w.stat().st_mtime > model_bin.stat().st_mtime for w in weights)


def converted_marian(model_id: str, quantization: str = "int8") -> tuple[Path, object]:
    """The CTranslate2 folder for Marian `model_id` (run folder, model folder or Hub id), converting
    it on first use, and its tokenizer."""
    if quantization not in QUANTIZATIONS:
        raise UserError(f"unknown quantization `{quantization}`; use one of {', '.join(QUANTIZATIONS)}.")
    _ctranslate2()
    config, tokenizer = load_config_and_tokenizer(model_id)
    if config.model_type != "marian":
        raise UserError(f"`--backend ctranslate2` converts Marian models; `{model_id}` is a "
                        f"`{config.model_type}` model: use the default `--backend transformers`.")
    folder, commit = source_folder(resolve_model_dir(model_id))
    target = cache_dir(model_id, folder, commit, quantization)
    if _is_stale(target, folder):  # the weights are loaded only to convert them
        model, _ = load_model_and_tokenizer(model_id, "AutoModelForSeq2SeqLM")
        _converter(model, tokenizer).convert(str(target), quantization=None if quantization == "float32"
                                             else quantization, force=True)
    return target, tokenizer


def load_translator(model_id: str, quantization: str = "int8", threads: int = 1):
    """A `ctranslate2.Translator` on CPU for `model_id` (converted and cached as needed), and its tokenizer.

    `threads` workers of one thread each, decoding different batches at once: on the 2-core
    machines here one worker per core gave 35,000 target tokens/s (int8, greedy, batches of 16)
    where one worker with 2 intra-op threads gave 1,900; at these model sizes a decoding step is
    too small to split across cores."""
    import torch

    converted, tokenizer = converted_marian(model_id, quantization)
    torch_threads = torch.get_num_threads()
    translator = _ctranslate2().Translator(str(converted), device="cpu", compute_type="default",
                                           inter_threads=max(threads, 1), intra_threads=1)
    # CTranslate2 sets OpenMP's thread count for the calling thread too, which torch shares: without
    # this, every torch op after loading a translator would run on one core.
    torch.set_num_threads(torch_threads)
    return translator, tokenizer


def translate_texts_ctranslate2(
    translator,
    tokenizer,
    texts: Sequence[str],
    batch_size: int = 64,
    num_beams: int = 1,
    max_new_tokens: int = 60,
    length_penalty: float = 1.0,
    unk_penalty: float = 0.0,
    num_return_sequences: int = 1,
    progress: bool = True,
) -> Translations:
    """Translations of `texts` by a CTranslate2 `translator`, with the same batching and output as
    `translate_texts` (CTranslate2 can forbid [UNK] but not penalise it by a finite amount)."""
    if unk_penalty not in (0.0, float("inf")):
        raise UserError("the ctranslate2 backend can forbid [UNK] (`--unk-penalty inf`) but not penalise it by a "
                        "finite amount; use `--backend transformers` for that.")

    def translate_batches(chunk: list[str]) -> list[list[int]]:
        sources = [tokenizer.convert_ids_to_tokens(ids) for ids in tokenizer(chunk)["input_ids"]]
        results = translator.translate_batch(  # split into batches of `batch_size`, one per worker at a time
            sources, beam_size=num_beams, length_penalty=length_penalty, max_decoding_length=max_new_tokens,
            num_hypotheses=num_return_sequences, disable_unk=unk_penalty == float("inf"), max_batch_size=batch_size)
        return [tokenizer.convert_tokens_to_ids(hypothesis) for result in results for hypothesis in
                result.hypotheses[:num_return_sequences]]

    chunk_size = batch_size * translator.num_translators  # a batch for every worker
    return translate_in_batches(tokenizer, texts, translate_batches, chunk_size, num_return_sequences,
                                f"translate ctranslate2 (beams {num_beams})", progress)
