"""Decoding on top of `model.generate()`: sampling, batched translation, the CTranslate2 backend."""

from hf_nlp.lazy import lazy_exports

_EXPORTS = {
    "sampling_config": "sampling",
    "generate_text": "sampling",
    "encode_prompt": "sampling",
    "Translations": "translate",
    "translate_texts": "translate",
    "UnkPenaltyLogitsProcessor": "translate",
    "ctranslate2_available": "ctranslate2_backend",
    "load_translator": "ctranslate2_backend",
    "translate_texts_ctranslate2": "ctranslate2_backend",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
