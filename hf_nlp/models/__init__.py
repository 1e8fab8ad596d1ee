"""Our from-scratch models, registered with the transformers Auto classes in one place.

`MODEL_REGISTRY` maps each `model_type` to its config and head classes; tests check it stays in
sync with the modules in this package.
"""

from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoModelForSequenceClassification,
)

from hf_nlp.models.char_rnn import CharRNNConfig, CharRNNForCausalLM
from hf_nlp.models.embedding_classifier import EmbeddingClassifier, EmbeddingClassifierConfig
from hf_nlp.models.pooled_encoder_classifier import PooledEncoderClassifier, PooledEncoderClassifierConfig
from hf_nlp.models.rnn_classifier import RNNClassifierConfig, RNNForSequenceClassification
from hf_nlp.models.seq2seq_rnn import RNNForSeq2SeqLM, Seq2SeqRNNConfig

MODEL_REGISTRY = {
    CharRNNConfig.model_type: (CharRNNConfig, AutoModelForCausalLM, CharRNNForCausalLM),
    RNNClassifierConfig.model_type: (RNNClassifierConfig, AutoModelForSequenceClassification,
                                     RNNForSequenceClassification),
    EmbeddingClassifierConfig.model_type: (EmbeddingClassifierConfig, AutoModelForSequenceClassification,
                                           EmbeddingClassifier),
    PooledEncoderClassifierConfig.model_type: (PooledEncoderClassifierConfig, AutoModelForSequenceClassification,
                                               PooledEncoderClassifier),
    Seq2SeqRNNConfig.model_type: (Seq2SeqRNNConfig, AutoModelForSeq2SeqLM, RNNForSeq2SeqLM),
}

for _model_type, (_config_class, _auto_class, _model_class) in MODEL_REGISTRY.items():
    AutoConfig.register(_model_type, _config_class, exist_ok=True)
    _auto_class.register(_config_class, _model_class, exist_ok=True)

__all__ = ["MODEL_REGISTRY", "CharRNNConfig", "CharRNNForCausalLM", "EmbeddingClassifier",
           "EmbeddingClassifierConfig", "PooledEncoderClassifier",
           "PooledEncoderClassifierConfig", "RNNClassifierConfig", "RNNForSeq2SeqLM",
           "RNNForSequenceClassification", "Seq2SeqRNNConfig"]
