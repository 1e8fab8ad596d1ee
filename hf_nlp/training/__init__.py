"""The generic accelerate training loop (`loop.py`), the one extension point it calls per batch
(`batch_step.py`), scoring without training (`scoring.py`), the shared Accelerator, its config,
crash-safe checkpoints and CPU thread placement."""

from hf_nlp.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, """
loop: Trainer TrainResult BEST_MODEL_DIR METRICS_LOG
batch_step: BatchStep StatelessStep ExampleStats ModelForward
scoring: Scorer reduce_example_stats
accelerator: shared_accelerator reset_shared_accelerator
config: TrainingConfig
cpu_threads: use_cpu_threads cpu_threads_per_process
lazy_shuffle: LazyPermutationSampler FeistelPermutation
length_grouping: LengthGroupedSampler length_grouped_indices
""")
