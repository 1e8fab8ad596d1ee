"""The one accelerate training loop (`loop.py`), its dataclass configs (`config.py`), crash-safe
checkpoints (`checkpoint.py`) and CPU thread placement (`cpu_threads.py`)."""
