"""Checks of a user's data before the first step: problems found in seconds, not hours in.

What `load_splits` runs on every source, before any dataset is built:

* files (image folders): zero-byte files and files that are not an image (magic bytes, a PNG
  without its IEND trailer, a JPEG without its end marker) with `verify_images='header'`; every
  file decoded by TensorFlow's own decoder with 'full' (the default, 'auto', below
  FULL_DECODE_LIMIT files); hidden files (`.x`, macOS `._x.png` sidecars) are never read. Such
  files are skipped and counted (`DataSplits.skipped`), or refused with `strict`;
* classes: at least two, each with MIN_IMAGES_PER_CLASS training images, labels in range;
* split sizes: the splits trained on in whole batches hold at least one batch.
* near-copies (`near_copies.py`, an image folder without a `--holdout_groups` rule, unless
  `verify_images='none'`): a warning line when the val and test images drawn from `train/` are
  perceptual-hash near-copies of training images (frames of one track or drive).

Every refusal is a DatasetFormatError whose message names the file or split and what to do.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from ednas_tf.data.errors import DatasetFormatError

VERIFY_MODES = ("auto", "full", "header", "none")
FULL_DECODE_LIMIT = 100_000  # 'auto' decodes every file below this many, else reads headers
MIN_IMAGES_PER_CLASS = 2  # one image cannot be both trained on and held out
SHOWN = 3  # file names a message or note lists before "and N more"

_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpeg",
    b"GIF87a": "gif",
    b"GIF89a": "gif",
    b"BM": "bmp",
}
_PNG_END = b"IEND\xaeB`\x82"
_JPEG_END = b"\xff\xd9"
_TAIL = 1024  # bytes of a JPEG's end searched for its end marker (some writers pad after it)


@dataclasses.dataclass(frozen=True)
class DataChecks:
    """How hard to look. verify_images: one of VERIFY_MODES; strict: refuse unreadable or hidden
    files instead of skipping them; batch_size: the batch of the stage (None: not checked);
    drop_remainder_splits: the splits trained on in whole batches."""

    verify_images: str = "auto"
    strict: bool = False
    batch_size: int | None = None
    drop_remainder_splits: tuple[str, ...] = ("train",)

    def __post_init__(self):
        if self.verify_images not in VERIFY_MODES:
            raise ValueError(
                f"verify_images must be one of {', '.join(VERIFY_MODES)}, "
                f"got {self.verify_images!r}"
            )
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}")


@dataclasses.dataclass(frozen=True)
class Skipped:
    """A file left out of the data, and why."""

    path: str
    reason: str


def is_hidden(name: str) -> bool:
    """A dot file: '.DS_Store', a macOS '._x.png' resource-fork sidecar; never an image."""
    return name.startswith(".")


def header_problem(path: str) -> str | None:
    """Why `path` is no readable image judging by its size, first and last bytes; None: fine."""
    try:
        size = os.path.getsize(path)
        if size == 0:
            return "zero bytes"
        with open(path, "rb") as handle:
            head = handle.read(16)
            handle.seek(max(0, size - _TAIL))
            tail = handle.read()
    except OSError as err:
        return f"unreadable ({err.strerror or err})"
    kind = next((k for magic, k in _MAGIC.items() if head.startswith(magic)), None)
    if kind is None:
        return "not an image (unknown header)"
    if kind == "png" and not tail.endswith(_PNG_END):
        return "truncated png (no IEND chunk)"
    if kind == "jpeg" and _JPEG_END not in tail:
        return "truncated jpeg (no end marker)"
    return None


def decode_failures(paths: Sequence[str]) -> set[int]:
    """Positions of the files TensorFlow's image decoder (the pipeline's) cannot decode."""
    if not paths:
        return set()

    def decode(index: tf.Tensor, path: tf.Tensor) -> tf.Tensor:
        image = tf.io.decode_image(tf.io.read_file(path), expand_animations=False)
        return index + tf.cast(tf.reduce_min(tf.shape(image)) * 0, index.dtype)  # uses the image

    ds = tf.data.Dataset.from_tensor_slices((np.arange(len(paths)), np.asarray(paths, str)))
    ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
    ds = ds.ignore_errors().batch(4096)
    decoded = {int(i) for batch in ds.as_numpy_iterator() for i in batch}
    return set(range(len(paths))) - decoded


def resolve_mode(mode: str, num_files: int) -> str:
    """'auto' -> 'full' below FULL_DECODE_LIMIT files (of the whole dataset), else 'header'."""
    if mode != "auto":
        return mode
    return "full" if num_files < FULL_DECODE_LIMIT else "header"


def file_problems(paths: Sequence[str], mode: str) -> dict[int, str]:
    """{position: reason} of the unreadable files among `paths` (mode: one of VERIFY_MODES;
    'auto' counts `paths` alone: `resolve_mode` it first for a dataset of several parts)."""
    mode = resolve_mode(mode, len(paths))
    if mode == "none":
        return {}
    problems = {i: why for i, path in enumerate(paths) if (why := header_problem(path))}
    if mode == "full":
        rest = [i for i in range(len(paths)) if i not in problems]
        for j in decode_failures([paths[i] for i in rest]):
            problems[rest[j]] = "cannot be decoded"
    return problems


def name_list(items: Sequence[str]) -> str:
    """The first SHOWN of `items` and how many more."""
    shown = ", ".join(items[:SHOWN])
    return shown + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def describe_skipped(skipped: Sequence[Skipped]) -> str | None:
    """One line for the log: how many files were skipped, why, and the first few; None: none."""
    if not skipped:
        return None
    shown = name_list([f"{s.path} ({s.reason})" for s in skipped])
    return (
        f"data: skipped {len(skipped)} file(s) that are not readable images: {shown} "
        "(--strict_data refuses them)"
    )


def refuse_strict(skipped: Sequence[Skipped]) -> None:
    """The --strict_data refusal of files that would otherwise be skipped."""
    shown = name_list([f"{s.path} ({s.reason})" for s in skipped])
    raise DatasetFormatError(
        f"{len(skipped)} file(s) are not readable images: {shown}; delete or fix them, "
        "or drop --strict_data to skip them"
    )


def label_span(labels: np.ndarray) -> str:
    """A label set written compactly: '0-9, 999'."""
    values = sorted(int(v) for v in np.unique(labels))
    runs: list[list[int]] = []
    for value in values:
        if runs and value == runs[-1][1] + 1:
            runs[-1][1] = value
        else:
            runs.append([value, value])
    parts = [str(a) if a == b else f"{a}-{b}" for a, b in runs]
    return ", ".join(parts[:6]) + (", ..." if len(parts) > 6 else "")


def check_label_set(labels: np.ndarray, where: str) -> None:
    """Without class names the labels must be 0..K-1, every one used: a stray label would
    otherwise invent classes (label 999 -> a 1000-class network)."""
    present = np.unique(labels)
    if len(present) and (present[0] != 0 or present[-1] != len(present) - 1):
        raise DatasetFormatError(
            f"{where}: without class_names the labels must be 0..K-1 with every class used, "
            f"found {len(present)} distinct labels {label_span(present)}; renumber the labels "
            "or add a class_names array (one name per class)"
        )


def check_classes(class_names: Sequence[str], labels: np.ndarray | None, where: str) -> None:
    """At least two classes, each with MIN_IMAGES_PER_CLASS training images (when the labels
    are known), and no label outside [0, number of classes)."""
    if len(class_names) < 2:
        raise DatasetFormatError(
            f"{where}: only one class ({', '.join(class_names) or 'none'}); a classifier needs "
            "at least two (an image folder needs one sub-folder per class)"
        )
    if labels is None:
        return
    outside = labels[(labels < 0) | (labels >= len(class_names))]
    if len(outside):
        raise DatasetFormatError(
            f"{where}: labels {label_span(outside)} are outside [0, {len(class_names)}) "
            f"({len(class_names)} classes); fix the labels or the class names"
        )
    counts = np.bincount(labels, minlength=len(class_names))
    few = [f"{name!r} ({count})" for name, count in zip(class_names, counts)
           if count < MIN_IMAGES_PER_CLASS]
    if few:
        raise DatasetFormatError(
            f"{where}: class(es) {name_list(few)} have fewer than {MIN_IMAGES_PER_CLASS} "
            "training images; add images or remove the class"
        )


def check_split_sizes(sizes: dict[str, int], checks: DataChecks, limit: int | None) -> None:
    """For a stage (`checks.batch_size` given): the splits trained on in whole batches hold a
    batch and the test split is not empty."""
    if checks.batch_size is None:
        return
    hint = f" (raise --limit={limit})" if limit is not None else ""
    if sizes.get("test", 1) == 0:
        raise DatasetFormatError(f"the test split is empty{hint}; add test images")
    for split in checks.drop_remainder_splits:
        if sizes.get(split, 0) < checks.batch_size:
            raise DatasetFormatError(
                f"the {split} split has {sizes.get(split, 0)} examples, fewer than one batch "
                f"(--batch_size={checks.batch_size}); lower --batch_size or add data{hint}"
            )
