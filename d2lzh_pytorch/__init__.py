"""Helpers shared by the chapters of the batch-normalisation book.

The names the seeds' notebooks used keep working: ``try_gpu``,
``load_data_fashion_mnist``, ``FlattenLayer``, ``evaluate_accuracy``,
``train_ch5`` and the from-scratch ``BatchNorm``.
"""

from .config import building_book, pick, quick_mode
from .data import (
    FASHION_MNIST_LABELS,
    DataIntegrityError,
    TensorBatches,
    default_data_root,
    get_fashion_mnist_labels,
    load_arrays,
    load_data,
    load_data_fashion_mnist,
    load_data_mnist,
)
from .device import try_all_gpus, try_gpu
from .experiments import (
    Run,
    Table,
    compare_bn,
    fmt_mean_std,
    gap_sentence,
    mean_std,
    results_table,
    run_seeds,
    summarize,
)
from .layers import BatchNorm, FlattenLayer, batch_norm
from .plotting import plot_history, plot_mean_std, plot_runs, show_images
from .training import EpochStats, History, TrainingDiverged, evaluate_accuracy, train_ch5
from .utils import set_seed

__version__ = "0.1.0"

__all__ = [
    "BatchNorm", "DataIntegrityError", "EpochStats", "FASHION_MNIST_LABELS", "FlattenLayer",
    "History", "Run", "Table", "TensorBatches", "TrainingDiverged", "batch_norm",
    "building_book", "compare_bn", "default_data_root", "evaluate_accuracy", "fmt_mean_std",
    "gap_sentence", "get_fashion_mnist_labels", "load_arrays", "load_data", "load_data_fashion_mnist",
    "load_data_mnist", "mean_std", "pick", "plot_history", "plot_mean_std", "plot_runs",
    "quick_mode", "results_table", "run_seeds", "set_seed", "show_images", "summarize", "train_ch5",
    "try_all_gpus", "try_gpu",
]
