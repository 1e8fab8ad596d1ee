"""Decoding on top of `model.generate()`: sampling, batched translation, the CTranslate2 backend."""

from hf_nlp.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, """
sampling: sampling_config generate_text encode_prompt
translate: Translations translate_texts UnkPenaltyLogitsProcessor
ctranslate2_backend: ctranslate2_available load_translator translate_texts_ctranslate2
""")
