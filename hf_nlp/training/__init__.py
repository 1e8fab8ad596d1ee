"""The generic accelerate training loop (`loop.py`), the one extension point it calls per batch
(`batch_step.py`), scoring without training (`scoring.py`), the shared Accelerator, its config,
crash-safe checkpoints and CPU thread placement."""

from hf_nlp.lazy import lazy_exports

_EXPORTS = {
    "Trainer": "loop",
    "TrainResult": "loop",
    "BEST_MODEL_DIR": "loop",
    "METRICS_LOG": "loop",
    "BatchStep": "batch_step",
    "StatelessStep": "batch_step",
    "ExampleStats": "batch_step",
    "ModelForward": "batch_step",
    "Scorer": "scoring",
    "reduce_example_stats": "scoring",
    "shared_accelerator": "accelerator",
    "reset_shared_accelerator": "accelerator",
    "TrainingConfig": "config",
    "use_cpu_threads": "cpu_threads",
    "cpu_threads_per_process": "cpu_threads",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
