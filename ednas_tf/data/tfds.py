"""TensorFlow Datasets as a source ('tfds:<name>', e.g. 'tfds:cifar10'); optional and read-only.

tensorflow-datasets is not a project requirement, so it is imported only when used. We never
download (reproducible, offline runs): the dataset must already be prepared in data_dir (or TFDS'
default folder), e.g. with `tfds build <name> --data_dir=...` on a machine with internet.

Splits are read by TFDS split slicing ('train[0:5000]') with the images left encoded
(`SkipDecoding`): each split reads only its own records, and the pipeline decodes each image once,
after the shuffle. The evaluation split is the first labelled one of `test`, `validation`
(ImageNet's `test` has no labels: every label is -1); without one, part of `train` is held out.
"""

from __future__ import annotations

import os
from types import ModuleType

import numpy as np
import tensorflow as tf

from ednas_tf.data.errors import DatasetFormatError, DatasetNotFoundError
from ednas_tf.data.plan import choose_eval_split, tfds_split_spec
from ednas_tf.data.registry import register
from ednas_tf.data.source import DEFAULT_IMAGE_SIZE, Examples, Source

TRAIN_SPLIT = "train"
EVAL_SPLITS = ("test", "validation")  # in order of preference, the first labelled one is test
_LABEL_PROBE = 16  # records read (labels only) to tell whether a split is labelled


def import_tfds() -> ModuleType:
    """The tensorflow_datasets module, or an ImportError saying how to install it."""
    try:  # optional, heavy dependency: imported only for a tfds:<name> dataset
        import tensorflow_datasets
    except ImportError as err:
        raise ImportError(
            "the 'tfds:<name>' datasets need TensorFlow Datasets: pip install tensorflow-datasets"
        ) from err
    return tensorflow_datasets


def _image_shape(info, image_size: int | None) -> tuple[int, int, int]:
    """The output shape from the builder's image feature (its own size when fixed)."""
    height, width, channels = info.features["image"].shape
    if channels is None:
        raise DatasetFormatError(f"{info.name}: image feature has an unknown number of channels")
    if image_size is None and height is not None and width is not None:
        return (height, width, channels)
    size = image_size or DEFAULT_IMAGE_SIZE
    return (size, size, channels)


class _Reader:
    """Reads slices of one prepared builder's splits, images left encoded."""

    def __init__(self, tfds: ModuleType, builder):
        self.tfds, self.builder = tfds, builder

    def records(self, spec: str) -> tf.data.Dataset:
        """(encoded image, label) of the records `spec` names, in record order."""
        return self.builder.as_dataset(
            split=spec,
            as_supervised=True,
            shuffle_files=False,
            decoders={"image": self.tfds.decode.SkipDecoding()},
            read_config=self.tfds.ReadConfig(
                interleave_cycle_length=16,
                num_parallel_calls_for_interleave_files=tf.data.AUTOTUNE,
            ),
        )

    def has_labels(self, split: str) -> bool:
        """Whether the first records of `split` carry labels (unlabelled TFDS splits use -1)."""
        count = min(_LABEL_PROBE, int(self.builder.info.splits[split].num_examples))
        labels = [int(label) for _, label in self.records(f"{split}[:{count}]").as_numpy_iterator()]
        return bool(labels) and min(labels) >= 0

    def examples(self, split: str) -> Examples:
        """The records of `split`, selected by slicing (runs of consecutive indices)."""
        num = int(self.builder.info.splits[split].num_examples)
        feature = self.builder.info.features["image"]

        def select(indices: np.ndarray) -> tf.data.Dataset:
            spec = tfds_split_spec(split, indices)
            if spec is None:
                empty = self.records(f"{split}[:1]").take(0)
                return empty.map(lambda image, label: (image, tf.cast(label, tf.int32)))
            return self.records(spec).map(lambda image, label: (image, tf.cast(label, tf.int32)))

        return Examples(size=num, select=select, decode=feature.decode_example)


@register("tfds", parametric=True)
def load_tfds(
    *, variant: str, data_dir: str | None = None, image_size: int | None = None
) -> Source:
    """Read an already prepared TFDS image-classification dataset (features 'image', 'label')."""
    tfds = import_tfds()
    try:
        builder = tfds.builder(variant, data_dir=data_dir, try_gcs=False)
    except Exception as err:  # TFDS raises its own DatasetNotFoundError and friends
        raise DatasetNotFoundError(f"tfds:{variant}: no such TFDS dataset ({err})") from err
    if not tf.io.gfile.exists(os.path.join(builder.data_dir, "dataset_info.json")):
        raise DatasetNotFoundError(
            f"tfds:{variant} is not prepared in {builder.data_dir} and we never download; prepare "
            f"it first (e.g. `tfds build {variant} --data_dir=DIR`) and pass data_dir=DIR"
        )
    info = builder.info
    if TRAIN_SPLIT not in info.splits:
        raise DatasetFormatError(
            f"tfds:{variant} has no '{TRAIN_SPLIT}' split (has {list(info.splits)})"
        )
    reader = _Reader(tfds, builder)
    if not reader.has_labels(TRAIN_SPLIT):
        raise DatasetFormatError(
            f"tfds:{variant}: the '{TRAIN_SPLIT}' split has no labels (label -1); it cannot train"
        )
    evaluation = choose_eval_split(list(info.splits), reader.has_labels, EVAL_SPLITS)
    if evaluation is None:
        unlabelled = [split for split in EVAL_SPLITS if split in info.splits]
        if unlabelled:
            print(
                f"note: tfds:{variant}: split(s) {', '.join(unlabelled)} have no labels (-1); "
                f"part of '{TRAIN_SPLIT}' is held out as the test split",
                flush=True,
            )
    # With `validation` as the test split, no split is left for validation: held out of train.
    return Source(
        class_names=list(info.features["label"].names),
        image_shape=_image_shape(info, image_size),
        train=reader.examples(TRAIN_SPLIT),
        test=None if evaluation is None else reader.examples(evaluation),
        contiguous=True,
    )
