"""Images in class sub-folders (`<root>/<class>/*.png|jpg`), decoded lazily by tf.data.

Layouts: `data_dir/<class>/...`, or `data_dir/train/<class>/...` with optional
`data_dir/val/<class>/...` and `data_dir/test/<class>/...`. A `val/` folder is the validation
split (model selection) instead of a seeded hold-out of `train/`; without a `test/` folder the
splitter holds out a seeded part of `train/` as test; a hold-out group rule
(`ednas_tf.data.groups`) reads each file's path inside its class folder to keep the frames of one
track on one side of it. Images may have any size and be grayscale,
RGB or RGBA: each is decoded to the requested channels (grayscale repeated, alpha dropped) and
resized in the pipeline, never all held in memory.
"""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from ednas_tf.data.checks import is_hidden
from ednas_tf.data.errors import DatasetFormatError, DatasetNotFoundError
from ednas_tf.data.registry import register
from ednas_tf.data.source import DEFAULT_IMAGE_SIZE, Examples, Source, file_examples

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})


def class_folders(root: Path) -> list[Path]:
    """Sorted class sub-folders of `root` (sorted so label numbers are stable across machines)."""
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DatasetFormatError(f"{root}: no class sub-folders (expected {root}/<class>/<image>)")
    return folders


def _image_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """(image files, hidden image-named files) under `folder`, recursively, sorted. Hidden files
    and folders (`.x`, macOS `._x.png` sidecars) are never images: listed apart, never read."""
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    hidden = [p for p in files if any(is_hidden(part) for part in p.relative_to(folder).parts)]
    return [p for p in files if p not in set(hidden)], hidden


def list_images(
    root: Path, class_names: list[str], hidden: list[str] | None = None
) -> tuple[list[str], list[int], list[str]]:
    """Image paths under root/<class>/ (recursively) with their label numbers and their paths
    inside the class folder (what a hold-out group rule reads); hidden files are appended to
    `hidden` (when given) instead."""
    paths: list[str] = []
    labels: list[int] = []
    relative: list[str] = []
    for label, name in enumerate(class_names):
        files, dot_files = _image_files(root / name)
        paths += [str(p) for p in files]
        labels += [label] * len(files)
        relative += [p.relative_to(root / name).as_posix() for p in files]
        if hidden is not None:
            hidden += [str(p) for p in dot_files]
    if not paths:
        raise DatasetFormatError(
            f"{root}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in the class folders "
            f"{', '.join(class_names)}"
        )
    return paths, labels, relative


def make_decoder(channels: int):
    """File bytes (PNG, JPEG) -> uint8 (height, width, channels) at the file's own size:
    grayscale is repeated to RGB, RGB averaged to grayscale, alpha dropped."""

    def decode(data: tf.Tensor) -> tf.Tensor:
        image = tf.io.decode_image(data, channels=channels, dtype=tf.uint8, expand_animations=False)
        return tf.ensure_shape(image, (None, None, channels))

    return decode


@register("image_folder")
def load_image_folder(
    *, data_dir: str | None = None, image_size: int | None = None, channels: int = 3
) -> Source:
    """Classes are the sub-folder names of the training root; val and test folders may hold a
    subset of them."""
    if data_dir is None:
        raise DatasetNotFoundError("image_folder needs data_dir= (a folder of class sub-folders)")
    if channels not in (1, 3):
        raise ValueError(f"image_folder channels must be 1 or 3, got {channels}")
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise DatasetNotFoundError(f"image folder not found: {root}")
    train_root = root / "train"
    if not train_root.is_dir():
        train_root = root
    class_names = [folder.name for folder in class_folders(train_root)]
    size = image_size or DEFAULT_IMAGE_SIZE
    decode = make_decoder(channels)

    hidden: list[str] = []

    def examples(folder: Path) -> Examples:
        paths, labels, relative = list_images(folder, class_names, hidden)
        return file_examples(paths, labels, decode, relative)

    def held_apart(name: str) -> Examples | None:
        """The examples of root/<name>/ (val, test) when the layout has train/ and it."""
        folder = root / name
        if train_root == root or not folder.is_dir():
            return None
        unknown = sorted({p.name for p in class_folders(folder)} - set(class_names))
        if unknown:
            raise DatasetFormatError(
                f"{folder}: class folders {', '.join(unknown)} do not exist in {train_root}"
            )
        return examples(folder)

    test, val = held_apart("test"), held_apart("val")
    train = examples(train_root)
    return Source(
        class_names=class_names,
        image_shape=(size, size, channels),
        train=train,
        test=test,
        val=val,
        ignored=tuple(hidden),
    )
