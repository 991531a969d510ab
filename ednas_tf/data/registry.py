"""Name -> dataset source registry and `load_splits`, the one entry point the search loop uses.

Why a registry: new sources plug in with a decorator, and the search/CLI code never branches on
dataset names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Protocol

import tensorflow as tf

from ednas_tf.data.errors import UnknownDatasetError
from ednas_tf.data.pipeline import SPLIT_NAMES, resize_images, split_indices
from ednas_tf.data.source import Source


class SourceFactory(Protocol):
    """Builds a Source. `image_size` is a hint (a source may produce that size natively);
    `variant` is the part after ':' in parametric names such as 'tfds:cifar10'."""

    def __call__(self, *, data_dir: str | None, image_size: int | None, **kwargs) -> Source: ...


@dataclasses.dataclass(frozen=True)
class _Entry:
    factory: SourceFactory
    parametric: bool


_REGISTRY: dict[str, _Entry] = {}


@dataclasses.dataclass
class DataSplits:
    """The four splits of a dataset, unbatched: (float32 image in [0, 1], int32 scalar label).

    train updates the weights, arch the architecture parameters (FBNet's 80/20 split of the
    training data), val is held out from training for model selection, test is the official test
    split (or a held-out part of the training data when the source has none).
    """

    name: str
    input_shape: tuple[int, int, int]
    num_classes: int
    class_names: list[str]
    train: tf.data.Dataset
    arch: tf.data.Dataset
    val: tf.data.Dataset
    test: tf.data.Dataset
    sizes: dict[str, int]


def register(name: str, *, parametric: bool = False) -> Callable[[SourceFactory], SourceFactory]:
    """Decorator registering a source factory under `name`.

    parametric=True: the source is addressed as '<name>:<variant>' and gets `variant=` (e.g. TFDS).
    """
    if ":" in name:
        raise ValueError(f"dataset source names cannot contain ':', got {name!r}")

    def decorate(factory: SourceFactory) -> SourceFactory:
        if name in _REGISTRY:
            raise ValueError(f"dataset source {name!r} is already registered")
        _REGISTRY[name] = _Entry(factory, parametric)
        return factory

    return decorate


def available() -> list[str]:
    """Registered dataset names, parametric ones shown as '<name>:<variant>' patterns."""
    return sorted(f"{key}:<name>" if entry.parametric else key for key, entry in _REGISTRY.items())


def _resolve(name: str) -> tuple[_Entry, dict[str, str]]:
    """Look `name` up; returns the entry and the extra factory kwargs (the variant, if any)."""
    key, sep, variant = name.partition(":")
    entry = _REGISTRY.get(key)
    if entry is None:
        raise UnknownDatasetError(f"unknown dataset {name!r}; available: {', '.join(available())}")
    if entry.parametric != bool(sep):
        form = f"'{key}:<name>'" if entry.parametric else f"'{key}' (no ':' part)"
        raise UnknownDatasetError(f"dataset {name!r} must be written as {form}")
    if entry.parametric and not variant:
        raise UnknownDatasetError(f"dataset {name!r} needs a name after ':', e.g. '{key}:cifar10'")
    return entry, ({"variant": variant} if entry.parametric else {})


def load_splits(
    name: str,
    *,
    data_dir: str | None = None,
    image_size: int | None = None,
    arch_fraction: float = 0.2,
    val_fraction: float = 0.1,
    limit: int | None = None,
    seed: int = 0,
    test_fraction: float = 0.2,
    **source_kwargs,
) -> DataSplits:
    """Load dataset `name` and split it into train / arch / val / test.

    val_fraction of the training examples is held out for validation; of the rest, arch_fraction
    goes to `arch`. When the source has no test split, test_fraction of the training examples is
    held out first as `test`. `limit` caps the training examples used (before splitting) and the
    test examples, for quick runs. Images are resized (bilinear) to image_size x image_size when
    given. Deterministic for a seed. Extra keyword arguments go to the source.
    """
    if image_size is not None and image_size < 1:
        raise ValueError(f"image_size must be positive, got {image_size}")
    entry, extra = _resolve(name)
    source = entry.factory(data_dir=data_dir, image_size=image_size, **extra, **source_kwargs)
    indices = split_indices(
        source.train.size,
        None if source.test is None else source.test.size,
        arch_fraction=arch_fraction,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        limit=limit,
        seed=seed,
    )
    pools = {split: source.train for split in SPLIT_NAMES}
    if source.test is not None:
        pools["test"] = source.test

    native_height, native_width, channels = source.image_shape
    height, width = (image_size, image_size) if image_size else (native_height, native_width)
    needs_resize = (height, width) != (native_height, native_width)

    def build(split: str) -> tf.data.Dataset:
        ds = pools[split].select(indices[split])
        return resize_images(ds, height) if needs_resize else ds

    datasets = {split: build(split) for split in SPLIT_NAMES}
    return DataSplits(
        name=name,
        input_shape=(height, width, channels),
        num_classes=len(source.class_names),
        class_names=list(source.class_names),
        sizes={split: len(idx) for split, idx in indices.items()},
        **datasets,
    )
