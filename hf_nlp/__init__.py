"""hf-nlp: classic NLP models trained from scratch on the Hugging Face stack.

Importing the package registers our models with the transformers Auto classes, so
`AutoModelForCausalLM.from_pretrained(run_dir)` works on any saved run.
"""

from hf_nlp import models as _models  # noqa: F401  (registers the Auto classes)

__version__ = "0.1.0"
