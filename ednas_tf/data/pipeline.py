"""Splitting and tf.data helpers shared by every source.

Why here and not per source: the split rule (val / arch / train / test, seeded) and the training
pipeline (shuffle, augment, batch, prefetch) must be identical whatever the data came from, so that
search results are comparable across datasets.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE

SPLIT_NAMES = ("train", "arch", "val", "test")
_MAX_SHUFFLE_BUFFER = 10_000
_TEST_STREAM = 1  # seeds a separate random stream for picking a limited test subset


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")


def _take_fraction(pool: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Split `pool` into (first `fraction` of it, rest); a positive fraction takes at least one."""
    count = round(len(pool) * fraction)
    if fraction > 0 and len(pool) > 1:
        count = max(1, count)
    return pool[:count], pool[count:]


def split_indices(
    num_train: int,
    num_test: int | None,
    *,
    arch_fraction: float,
    val_fraction: float,
    test_fraction: float,
    limit: int | None,
    seed: int,
) -> dict[str, np.ndarray]:
    """Seeded index sets for the four splits.

    train/arch/val (and test when `num_test` is None) index the source's training examples and are
    disjoint slices of one permutation; otherwise test indexes the source's test examples. `limit`
    caps the training examples used (before splitting) and the test examples.
    """
    for name, value in (
        ("arch_fraction", arch_fraction),
        ("val_fraction", val_fraction),
        ("test_fraction", test_fraction),
    ):
        _check_fraction(name, value)
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of examples, got {limit}")

    pool = np.random.default_rng(seed).permutation(num_train)[:limit]
    if num_test is None:
        test, pool = _take_fraction(pool, test_fraction)
    elif limit is None:
        test = np.arange(num_test)
    else:
        test = np.random.default_rng([seed, _TEST_STREAM]).permutation(num_test)[:limit]
    val, pool = _take_fraction(pool, val_fraction)
    arch, train = _take_fraction(pool, arch_fraction)
    if len(train) == 0:
        raise ValueError(
            f"no training examples left: {num_train} examples (limit={limit}) are too few for "
            f"val_fraction={val_fraction}, arch_fraction={arch_fraction}"
        )
    return {"train": train, "arch": arch, "val": val, "test": test}


def resize_images(ds: tf.data.Dataset, image_size: int) -> tf.data.Dataset:
    """Bilinear resize to image_size x image_size, keeping the channel count and [0, 1] range."""

    def resize(image: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        resized = tf.image.resize(image, (image_size, image_size), method="bilinear")
        return tf.clip_by_value(resized, 0.0, 1.0), label

    return ds.map(resize, num_parallel_calls=AUTOTUNE)


def _random_flip(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Flip each image of the batch left-right with probability 1/2."""
    flip = tf.random.stateless_uniform(tf.shape(images)[:1], seed) < 0.5
    return tf.where(flip[:, None, None, None], tf.reverse(images, axis=[2]), images)


def _random_crop(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Zero-pad by ~1/8 of the size and crop back at a random offset per image (shift by <= pad)."""
    height, width = images.shape[1], images.shape[2]
    pad = max(1, min(height, width) // 8)
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    offsets = tf.random.stateless_uniform(
        [tf.shape(images)[0], 2], seed, minval=0, maxval=2 * pad + 1, dtype=tf.int32
    )
    rows = offsets[:, :1] + tf.range(height)[None, :]
    cols = offsets[:, 1:] + tf.range(width)[None, :]
    cropped = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(cropped, cols, axis=2, batch_dims=1)


# Random erasing (Zhong et al., 2017): share of the image area and aspect-ratio range of the box.
ERASE_AREA = (0.02, 0.4)
ERASE_ASPECT = (0.3, 1 / 0.3)


def _random_erase(images: tf.Tensor, seed: tf.Tensor, probability: float) -> tf.Tensor:
    """With `probability` per image, replace one random box by uniform noise in [0, 1].

    Why: occluding part of the object makes the network use features spread over the whole
    image; Zhong et al. report about 1 pt on Fashion-MNIST over schedules of hundreds of epochs.
    In 30 epochs it bought nothing measurable here (docs/results/10-fmnist-94.5-target.md).
    """
    height, width = images.shape[1], images.shape[2]
    batch = tf.shape(images)[0]
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, num=5))
    area = tf.random.stateless_uniform([batch], seeds[0], *ERASE_AREA) * (height * width)
    log_aspect = tf.random.stateless_uniform(
        [batch], seeds[1], math.log(ERASE_ASPECT[0]), math.log(ERASE_ASPECT[1])
    )
    aspect = tf.exp(log_aspect)
    box_h = tf.clip_by_value(tf.round(tf.sqrt(area * aspect)), 1.0, float(height))
    box_w = tf.clip_by_value(tf.round(tf.sqrt(area / aspect)), 1.0, float(width))
    corner = tf.random.stateless_uniform([batch, 2], seeds[2])
    top = tf.floor(corner[:, 0] * (height - box_h + 1.0))
    left = tf.floor(corner[:, 1] * (width - box_w + 1.0))
    rows = tf.range(height, dtype=tf.float32)[None, :]
    cols = tf.range(width, dtype=tf.float32)[None, :]
    in_rows = (rows >= top[:, None]) & (rows < (top + box_h)[:, None])
    in_cols = (cols >= left[:, None]) & (cols < (left + box_w)[:, None])
    erase = tf.random.stateless_uniform([batch], seeds[3]) < probability
    box = in_rows[:, :, None] & in_cols[:, None, :] & erase[:, None, None]
    noise = tf.random.stateless_uniform(tf.shape(images), seeds[4], dtype=images.dtype)
    return tf.where(box[..., None], noise, images)


def augment_batch(images: tf.Tensor, seed: tf.Tensor, erase_probability: float = 0.0) -> tf.Tensor:
    """Augmentation of a batch: random horizontal flip + padded random crop, and with
    `erase_probability` > 0 random erasing.

    Stateless ops with a per-batch seed make it reproducible; per-batch (vectorised) instead of
    per-example keeps the CPU input pipeline cheap.
    """
    flip_seed, crop_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
    images = _random_crop(_random_flip(images, flip_seed), crop_seed)
    if erase_probability > 0:
        # a seed of its own, so flip and crop stay those of runs without erasing
        erase_seed = tf.random.experimental.stateless_fold_in(seed, 1)
        images = _random_erase(images, erase_seed, erase_probability)
    return images


def batched(
    ds: tf.data.Dataset,
    batch_size: int,
    *,
    training: bool,
    seed: int = 0,
    augment: bool | None = None,
    erase_probability: float = 0.0,
    repeat: bool = False,
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """Batch an unbatched (image, label) split for training or evaluation.

    training: shuffle (seeded, reshuffled every epoch) and, unless augment=False, augment
    (flip, crop and, with erase_probability > 0, random erasing).
    repeat: repeat forever (the search loop counts steps, not epochs). Deterministic for a seed.
    """
    augment = training if augment is None else augment
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
