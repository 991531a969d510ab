"""TensorFlow Datasets as a source ('tfds:<name>', e.g. 'tfds:cifar10'); optional and read-only.

tensorflow-datasets is not a project requirement, so it is imported only when used. We never
download (reproducible, offline runs): the dataset must already be prepared in data_dir (or TFDS'
default folder), e.g. with `tfds build <name> --data_dir=...` on a machine with internet.
"""

from __future__ import annotations

import os
from types import ModuleType

import tensorflow as tf

from ednas_tf.data.errors import DatasetFormatError, DatasetNotFoundError
from ednas_tf.data.registry import register
from ednas_tf.data.source import (
    AUTOTUNE,
    DEFAULT_IMAGE_SIZE,
    Examples,
    Source,
    stream_examples,
    to_float_image,
)

TRAIN_SPLIT, TEST_SPLIT = "train", "test"


def import_tfds() -> ModuleType:
    """The tensorflow_datasets module, or an ImportError saying how to install it."""
    try:  # optional, heavy dependency: imported only for a tfds:<name> dataset
        import tensorflow_datasets
    except ImportError as err:
        raise ImportError(
            "the 'tfds:<name>' datasets need TensorFlow Datasets: pip install tensorflow-datasets"
        ) from err
    return tensorflow_datasets


def _image_shape(info, image_size: int | None) -> tuple[tuple[int, int, int], bool]:
    """(output shape, whether to resize) from the builder's image feature."""
    height, width, channels = info.features["image"].shape
    if channels is None:
        raise DatasetFormatError(f"{info.name}: image feature has an unknown number of channels")
    if image_size is None and height is not None and width is not None:
        return (height, width, channels), False
    size = image_size or DEFAULT_IMAGE_SIZE
    return (size, size, channels), True


def _examples(builder, split: str, shape: tuple[int, int, int], resize: bool) -> Examples:
    def convert(image: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        image = to_float_image(image)
        if resize:
            image = tf.clip_by_value(tf.image.resize(image, shape[:2], method="bilinear"), 0.0, 1.0)
        return tf.ensure_shape(image, shape), tf.cast(label, tf.int32)

    stream = builder.as_dataset(split=split, as_supervised=True, shuffle_files=False)
    stream = stream.map(convert, num_parallel_calls=AUTOTUNE)
    return stream_examples(stream, int(builder.info.splits[split].num_examples))


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
    shape, resize = _image_shape(info, image_size)
    test = _examples(builder, TEST_SPLIT, shape, resize) if TEST_SPLIT in info.splits else None
    return Source(
        class_names=list(info.features["label"].names),
        image_shape=shape,
        train=_examples(builder, TRAIN_SPLIT, shape, resize),
        test=test,
    )
