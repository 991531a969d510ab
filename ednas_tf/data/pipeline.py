"""Splitting and batching shared by every source.

Why here and not per source: the split rule (val / arch / train / test, seeded) and the training
pipeline (shuffle, augment, batch, prefetch) must be identical whatever the data came from, so that
search results are comparable across datasets. A split's records are read by `plan.SplitInput`;
the augmentation policies are `augment.py` (`augment_batch` is re-exported here).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from ednas_tf.data.augment import augment_batch
from ednas_tf.data.plan import SplitInput

AUTOTUNE = tf.data.AUTOTUNE

SPLIT_NAMES = ("train", "arch", "val", "test")
_MAX_SHUFFLE_BUFFER = 10_000
_TEST_STREAM = 1  # seeds a separate random stream for picking a limited test subset
_VAL_STREAM = 2  # ... and one for a limited subset of a source's own validation split
_GROUP_STREAM = 3  # ... and one for the order of hold-out groups


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")


def _take_fraction(
    pool: np.ndarray, fraction: float, groups: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Split `pool` into (first `fraction` of it, rest); a positive fraction takes at least one.

    `groups` (the group of every training example; a group's examples adjacent in `pool`): the
    cut falls between groups, at the group boundary nearest the fraction; a positive fraction
    takes at least one group and leaves one when the pool holds two or more."""
    count = round(len(pool) * fraction)
    if groups is not None:
        starts = np.flatnonzero(np.diff(groups[pool]) != 0) + 1
        cuts = starts if fraction > 0 and len(starts) else np.array([0, len(pool)])
        count = int(cuts[np.argmin(np.abs(cuts - count))])
    elif fraction > 0 and len(pool) > 1:
        count = max(1, count)
    return pool[:count], pool[count:]


def _grouped_order(pool: np.ndarray, groups: np.ndarray, seed: int) -> np.ndarray:
    """`pool` reordered so each group's examples are adjacent, the groups in a seeded order
    (within a group, the pool's order is kept)."""
    count = int(groups.max(initial=-1)) + 1
    rank = np.random.default_rng([seed, _GROUP_STREAM]).permutation(count)
    return pool[np.argsort(rank[groups[pool]], kind="stable")]


def split_indices(
    num_train: int,
    num_test: int | None,
    *,
    arch_fraction: float,
    val_fraction: float,
    test_fraction: float,
    limit: int | None,
    seed: int,
    num_val: int | None = None,
    contiguous: bool = False,
    groups: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Seeded index sets for the four splits.

    train/arch/val (and test when `num_test` is None, val when `num_val` is None) index the
    source's training examples and are disjoint slices of one permutation; otherwise test (val)
    indexes the source's test (validation) examples. `limit` caps the training examples used
    (before splitting), the test and the validation examples. `contiguous`: instead of a
    permutation, a rotation by a seeded offset, so every split is at most two runs of
    consecutive records (what TFDS split slicing reads without touching the others).
    `groups`: the hold-out group of every training example (`ednas_tf.data.groups`): every
    split drawn from the training examples takes whole groups, as near its fraction as the
    group sizes allow.
    """
    for name, value in (
        ("arch_fraction", arch_fraction),
        ("val_fraction", val_fraction),
        ("test_fraction", test_fraction),
    ):
        _check_fraction(name, value)
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of examples, got {limit}")
    if groups is not None and (contiguous or len(groups) != num_train):
        raise ValueError("hold-out groups need one group per training example, not contiguous")

    def order(count: int, stream: list[int]) -> np.ndarray:
        rng = np.random.default_rng(stream)
        if contiguous:
            return (int(rng.integers(max(count, 1))) + np.arange(count)) % max(count, 1)
        return rng.permutation(count)

    def own(count: int, stream: int) -> np.ndarray:
        """The indices of a source's own test or validation split, limited."""
        return np.arange(count) if limit is None else np.sort(order(count, [seed, stream])[:limit])

    pool = order(num_train, [seed])[:limit]
    if groups is not None:
        pool = _grouped_order(pool, groups, seed)
    if num_test is None:
        test, pool = _take_fraction(pool, test_fraction, groups)
    else:
        test = own(num_test, _TEST_STREAM)
    if num_val is None:
        val, pool = _take_fraction(pool, val_fraction, groups)
    else:
        val = own(num_val, _VAL_STREAM)
    arch, train = _take_fraction(pool, arch_fraction, groups)
    if len(train) == 0:
        raise ValueError(
            f"no training examples left: {num_train} examples (limit={limit}) are too few for "
            f"val_fraction={val_fraction}, arch_fraction={arch_fraction}"
        )
    return {"train": train, "arch": arch, "val": val, "test": test}


def batched(
    ds: tf.data.Dataset | SplitInput,
    batch_size: int,
    *,
    training: bool,
    seed: int = 0,
    augment: bool | None = None,
    erase_probability: float = 0.0,
    repeat: bool = False,
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """Batch an unbatched (image, label) split, or a split's `SplitInput`, for training or
    evaluation.

    training: shuffle (seeded, reshuffled every epoch) and, unless augment=False, augment
    (a SplitInput: with its policy, records shuffled before decoding; a dataset of decoded
    images: flip, crop and, with erase_probability > 0, random erasing).
    repeat: repeat forever (the search loop counts steps, not epochs). Deterministic for a seed.
    """
    augment = training if augment is None else augment
    if isinstance(ds, SplitInput):
        return ds.batches(
            batch_size,
            augment=augment,
            seed=seed,
            shuffle_seed=seed if training else None,
            reshuffle=True,
            erase_probability=erase_probability,
            drop_remainder=drop_remainder,
            repeat=repeat,
        )
    if training:
        size = int(ds.cardinality())
        buffer = _MAX_SHUFFLE_BUFFER if size < 0 else max(1, min(size, _MAX_SHUFFLE_BUFFER))
        ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if augment:
        base = tf.constant(seed, tf.int64)

        def augment_step(step: tf.Tensor, batch: tuple[tf.Tensor, tf.Tensor]):
            images, labels = batch
            return augment_batch(images, tf.stack([base, step]), erase_probability), labels

        ds = ds.enumerate().map(augment_step, num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)
