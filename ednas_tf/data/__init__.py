"""Datasets for the search: registered sources, seeded splits, and tf.data pipelines.

Use `load_splits(name, ...)` to get a `DataSplits` (train / arch / val / test) and `batched(...)`
to feed a split to a model; `POLICIES` are the augmentation policies (`augment.py`), `plan.py`
the pipeline that reads a split. `available()` lists the dataset names.
"""

# Importing the source modules registers them.
from ednas_tf.data import fashion_mnist, image_folder, npz, synthetic, tfds  # noqa: F401
from ednas_tf.data.augment import DEFAULT_POLICY, POLICIES
from ednas_tf.data.checks import DataChecks
from ednas_tf.data.errors import (
    DatasetError,
    DatasetFormatError,
    DatasetNotFoundError,
    UnknownDatasetError,
)
from ednas_tf.data.pipeline import augment_batch, batched
from ednas_tf.data.plan import DecodeTally, InputOptions, SplitInput
from ednas_tf.data.registry import DataSplits, available, load_splits, register

__all__ = [
    "DEFAULT_POLICY",
    "POLICIES",
    "DataChecks",
    "DataSplits",
    "DatasetError",
    "DatasetFormatError",
    "DatasetNotFoundError",
    "DecodeTally",
    "InputOptions",
    "SplitInput",
    "UnknownDatasetError",
    "augment_batch",
    "available",
    "batched",
    "load_splits",
    "register",
]
