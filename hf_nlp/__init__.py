"""hf-nlp: classic NLP models trained from scratch on the Hugging Face stack.

Importing the package registers our models with the transformers Auto classes, so
`AutoModelForCausalLM.from_pretrained(run_dir)` works on any saved run; and it bounds every Hub
request's time (`hf_nlp.hub_client`).
"""

from hf_nlp import models as _models  # noqa: F401  (registers the Auto classes)
from hf_nlp.hub_client import install_hub_timeouts

install_hub_timeouts()  # no Hub request (push, model or dataset download) can hang: see hub_client

__version__ = "0.1.0"
