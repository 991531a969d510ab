"""What a dataset source hands to the splitter: indexable example sets, not materialised datasets.

Why: splitting by index (a seeded permutation, or a seeded run of consecutive records for streamed
TFDS records) keeps train/arch/val/test disjoint by construction, works the same for in-memory
arrays, image files and TFDS records, picks every split's records before any image is decoded, and
lets `limit` pick a random subset without reading everything.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from ednas_tf.data.checks import check_label_set
from ednas_tf.data.errors import DatasetFormatError
from ednas_tf.data.plan import identity

# Images of sources without a native size (image folders, variable-size TFDS) are resized to this
# when the caller gives no image_size: small inputs suit the embedded search space.
DEFAULT_IMAGE_SIZE = 32


@dataclasses.dataclass(frozen=True)
class Examples:
    """A finite collection of labelled images.

    `select(indices)` returns the undecoded records of the examples at `indices`: an unbatched
    dataset of (record, int32 label) that `fetch` reads and `decode` turns into an image (uint8,
    or float in [0, 1]) of any size (`ednas_tf.data.plan.SplitInput`). `labels` (when known
    without reading the images) lets the checks count classes and the samplers stratify; `paths`
    (image files) lets the checks verify the files before any is decoded in the pipeline;
    `relative` (image folders) is each file's path inside its class folder, what a hold-out
    group rule reads (`ednas_tf.data.groups`).
    """

    size: int
    select: Callable[[np.ndarray], tf.data.Dataset]
    labels: np.ndarray | None = None
    paths: np.ndarray | None = None
    relative: np.ndarray | None = None
    fetch: Callable[[tf.Tensor], tf.Tensor] = identity
    decode: Callable[[tf.Tensor], tf.Tensor] = identity


@dataclasses.dataclass(frozen=True)
class Source:
    """A loaded dataset before splitting; `test` is None when the source has no test split,
    `val` None when it has no validation split of its own (then one is held out of `train`).
    `ignored`: files left out while listing (hidden files), for the checks to count.
    `contiguous`: records are read in order (streamed TFDS records), so splits should be runs
    of consecutive indices, which the source reads by slicing."""

    class_names: list[str]
    image_shape: tuple[int, int, int]
    train: Examples
    test: Examples | None = None
    ignored: tuple[str, ...] = ()
    val: Examples | None = None
    contiguous: bool = False


def array_examples(images: np.ndarray, labels: np.ndarray) -> Examples:
    """Examples over in-memory NHWC arrays; the records are the rows (uint8 stays uint8)."""

    def select(indices: np.ndarray) -> tf.data.Dataset:
        return tf.data.Dataset.from_tensor_slices((images[indices], labels[indices]))

    return Examples(size=len(labels), select=select, labels=np.asarray(labels, np.int64))


def file_examples(
    paths: Sequence[str],
    labels: Sequence[int],
    decode: Callable[[tf.Tensor], tf.Tensor],
    relative: Sequence[str] | None = None,
) -> Examples:
    """Examples over image files: the records are the file names, read and decoded lazily
    inside the tf.data pipeline, after the shuffle. `relative`: each file's path inside its
    class folder."""
    paths_arr = np.asarray(paths, dtype=object)
    labels_arr = np.asarray(labels, dtype=np.int32)

    def select(indices: np.ndarray) -> tf.data.Dataset:
        return tf.data.Dataset.from_tensor_slices(
            (paths_arr[indices].astype(str), labels_arr[indices])
        )

    return Examples(
        size=len(labels_arr),
        select=select,
        labels=labels_arr,
        paths=paths_arr,
        relative=None if relative is None else np.asarray(relative, dtype=object),
        fetch=tf.io.read_file,
        decode=decode,
    )


def as_nhwc(images: np.ndarray, labels: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate arrays of images (NHW or NHWC, uint8 or float in [0, 1]) and integer labels.

    Returns NHWC images (dtype kept: uint8 stays compact) and int32 labels, or raises a
    DatasetFormatError naming `where` and what is wrong.
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim == 3:
        images = images[..., np.newaxis]
    if images.ndim != 4 or min(images.shape, default=0) == 0:
        raise DatasetFormatError(
            f"{where}: images must have shape (N, H, W) or (N, H, W, C) with no empty dimension, "
            f"got {images.shape}"
        )
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1 or len(labels) != len(images):
        raise DatasetFormatError(
            f"{where}: labels must have shape (N,) with N={len(images)} (one per image), "
            f"got {labels.shape}"
        )
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise DatasetFormatError(
            f"{where}: labels must be non-negative integers, got dtype {labels.dtype}"
        )
    if images.dtype != np.uint8:
        if not np.issubdtype(images.dtype, np.floating):
            raise DatasetFormatError(
                f"{where}: images must be uint8 (0-255) or float (0-1), got dtype {images.dtype}"
            )
        finite = np.isfinite(images).reshape(len(images), -1).all(axis=1)
        if not finite.all():
            bad = np.flatnonzero(~finite)
            raise DatasetFormatError(
                f"{where}: {len(bad)} image(s) hold NaN or Inf pixels (first: image {bad[0]}); "
                "replace them (e.g. np.nan_to_num) or drop those images"
            )
        low, high = float(images.min()), float(images.max())
        if low < 0.0 or high > 1.0:
            raise DatasetFormatError(
                f"{where}: float images must lie in [0, 1], got values in [{low:g}, {high:g}]"
            )
        images = images.astype(np.float32, copy=False)
    return images, labels.astype(np.int32)


ArrayPair = tuple[np.ndarray, np.ndarray]


def source_from_arrays(
    train: ArrayPair,
    test: ArrayPair | None,
    *,
    class_names: list[str] | None,
    where: str,
) -> Source:
    """Validate in-memory train/test arrays and wrap them as a Source.

    class_names=None names the classes by their label numbers ('0', '1', ...), as many as the
    largest label needs.
    """
    x_train, y_train = as_nhwc(*train, where=f"{where} (train)")
    pairs = [(x_train, y_train)]
    if test is not None:
        x_test, y_test = as_nhwc(*test, where=f"{where} (test)")
        if x_test.shape[1:] != x_train.shape[1:]:
            raise DatasetFormatError(
                f"{where}: test images have shape {x_test.shape[1:]} but train images "
                f"{x_train.shape[1:]} (H, W, C must match)"
            )
        pairs.append((x_test, y_test))
    if class_names is None:
        check_label_set(np.concatenate([labels for _, labels in pairs]), where)
    top_label = max(int(labels.max()) for _, labels in pairs)
    names = class_names if class_names is not None else [str(i) for i in range(top_label + 1)]
    if top_label >= len(names):
        raise DatasetFormatError(
            f"{where}: label {top_label} out of range for {len(names)} classes"
        )
    examples = [array_examples(images, labels) for images, labels in pairs]
    return Source(
        class_names=list(names),
        image_shape=tuple(int(d) for d in x_train.shape[1:]),
        train=examples[0],
        test=examples[1] if len(examples) > 1 else None,
    )
