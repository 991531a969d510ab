"""Datasets for the search: registered sources, seeded splits, and tf.data pipelines.

Use `load_splits(name, ...)` to get a `DataSplits` (train / arch / val / test) and `batched(...)`
to feed a split to a model. `available()` lists the dataset names.
"""

# Importing the source modules registers them.
from ednas_tf.data import fashion_mnist, image_folder, npz, synthetic, tfds  # noqa: F401
from ednas_tf.data.checks import DataChecks
from ednas_tf.data.errors import (
    DatasetError,
    DatasetFormatError,
    DatasetNotFoundError,
    UnknownDatasetError,
)
from ednas_tf.data.pipeline import augment_batch, batched
from ednas_tf.data.registry import DataSplits, available, load_splits, register

__all__ = [
    "DataChecks",
    "DataSplits",
    "DatasetError",
    "DatasetFormatError",
    "DatasetNotFoundError",
    "UnknownDatasetError",
    "augment_batch",
    "available",
    "batched",
    "load_splits",
    "register",
]
