"""The hf-nlp demo Space (a Hugging Face Space with `sdk: gradio`, `app_file: app.py`).

Locally: `hf-nlp space` or `python space/app.py`. Models come from `space/models.yaml` (or the
file in HF_NLP_SPACE_MODELS); see hf_nlp/space.py. On a Space, copy the `hf_nlp/` package next to
this file (or install it from requirements.txt) and list run folders or Hub ids in models.yaml.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # hf_nlp copied beside app.py, or the repository's

from hf_nlp.space import build_demo, load_space_config  # noqa: E402

demo = build_demo(load_space_config(os.environ.get("HF_NLP_SPACE_MODELS") or HERE / "models.yaml"))

if __name__ == "__main__":
    demo.launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
