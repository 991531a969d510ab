"""Near-copies across a hold-out: hold-out images whose perceptual hash a training image shares.

Why: a folder of camera tracks names no tracks, and a hold-out drawn image by image then holds
frames whose neighbours are trained on; the validation accuracy that picks the best epoch rises
above what a new track gets. The split is made on file names, so this check is how a user learns
that the names hide tracks, and which flag keeps them whole (`ednas_tf.data.groups`).

The hash is a 64-bit difference hash (dHash): the image in grayscale, shrunk to 8 rows of 9 by
area averaging, one bit per horizontal pair of neighbours (is the right one brighter). A small
shift, noise or a change of brightness moves a few bits; another photograph about half of them.
A hold-out image is a near-copy when a training image's hash is within MAX_DISTANCE bits of its
own. The cost is bounded: at most MAX_HOLDOUT hold-out and MAX_TRAINING training images are decoded
(seeded samples beyond that), and the comparison is a vectorised XOR and popcount in blocks.
A thumbnail whose brightness spans fewer than FLAT_RANGE levels has no structure to hash (any two
such look alike) and is left out on both sides.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from ednas_tf.data.source import Examples

HASH_SHAPE = (8, 9)  # rows, columns of the thumbnail: 8 x 8 neighbour pairs, 64 bits
MAX_DISTANCE = 8  # bits of 64: a near-copy (another photograph differs by about 32)
MAX_HOLDOUT = 2_000
MAX_TRAINING = 50_000
FLAT_RANGE = 8.0  # brightness levels (of 255) a thumbnail must span to be hashed
WARN_SHARE = 0.01  # the warning's threshold: a share of the hold-out images checked
_BLOCK = 256  # hold-out hashes compared at once (a block x training matrix of uint64)
_BIT_WEIGHTS = np.left_shift(np.uint64(1), np.arange(64, dtype=np.uint64))

Fn = Callable[[tf.Tensor], tf.Tensor]


def thumbnails(records: tf.data.Dataset, fetch: Fn, decode: Fn) -> tuple[np.ndarray, np.ndarray]:
    """(positions, thumbnails): every record of `records` (record, label) fetched, decoded,
    made grayscale and shrunk to HASH_SHAPE (float32, 0-255); a record that fails to decode is
    left out (positions say which were kept)."""

    def shrink(index: tf.Tensor, example: tuple[tf.Tensor, tf.Tensor]):
        image = decode(fetch(example[0]))
        scale = 255.0 if image.dtype.is_floating else 1.0  # float images lie in [0, 1]
        image = tf.cast(image, tf.float32) * scale
        if image.shape[-1] == 3:
            image = tf.image.rgb_to_grayscale(image)
        return index, tf.image.resize(image, HASH_SHAPE, method="area")[..., 0]

    ds = records.enumerate().map(shrink, num_parallel_calls=tf.data.AUTOTUNE)
    positions, images = [], []
    for index, thumbs in ds.ignore_errors().batch(1024).as_numpy_iterator():
        positions.append(index)
        images.append(thumbs)
    if not positions:
        return np.zeros(0, np.int64), np.zeros((0, *HASH_SHAPE), np.float32)
    return np.concatenate(positions), np.concatenate(images)


def hashes_of(examples: Examples, indices: np.ndarray) -> np.ndarray:
    """The dHashes of the hashable images among `examples` at `indices` (decoded here)."""
    _, thumbs = thumbnails(examples.select(indices), examples.fetch, examples.decode)
    hashes, hashable = dhash(thumbs)
    return hashes[hashable]


def dhash(thumbs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hashes as uint64, hashable): one bit per horizontal neighbour pair of each thumbnail;
    `hashable` is False for flat thumbnails (less than FLAT_RANGE levels)."""
    bits = (thumbs[:, :, 1:] > thumbs[:, :, :-1]).reshape(len(thumbs), -1).astype(np.uint64)
    hashes = (bits * _BIT_WEIGHTS).sum(axis=1, dtype=np.uint64)
    hashable = np.ptp(thumbs.reshape(len(thumbs), -1), axis=1) >= FLAT_RANGE
    return hashes, hashable


def near_copies(holdout: np.ndarray, training: np.ndarray, max_distance: int) -> np.ndarray:
    """For each hold-out hash, whether a training hash lies within `max_distance` bits."""
    found = np.zeros(len(holdout), bool)
    if not len(training):
        return found
    for start in range(0, len(holdout), _BLOCK):
        block = holdout[start : start + _BLOCK, None] ^ training[None, :]
        found[start : start + _BLOCK] = (np.bitwise_count(block) <= max_distance).any(axis=1)
    return found


def sample(indices: np.ndarray, most: int, seed: int) -> np.ndarray:
    """`indices`, or a seeded sample of `most` of them (in their order)."""
    if len(indices) <= most:
        return indices
    keep = np.sort(np.random.default_rng([seed, len(indices)]).choice(len(indices), most, False))
    return indices[keep]


def leak_warning(checked: int, copies: int, sampled_from: int | None = None) -> str | None:
    """The log's warning line when at least WARN_SHARE of the checked hold-out images are
    near-copies; None otherwise. `sampled_from`: the hold-out's size when a sample was checked."""
    if not checked or copies < max(1, WARN_SHARE * checked):
        return None
    of = f"{checked:,}" + (f" (a sample of {sampled_from:,})" if sampled_from else "")
    return (
        f"warning: {copies:,} of {of} hold-out images ({100 * copies / checked:.0f} %) are "
        "near-copies of training images (perceptual hash); frames of one track or drive leak "
        "into validation — set --holdout_groups=folder or --holdout_groups='<regex>'"
    )


def check_holdout(
    examples: Examples, holdout: np.ndarray, training: np.ndarray, seed: int
) -> str | None:
    """The warning line when the hold-out images of `examples` at `holdout` are near-copies of
    those at `training` (both bounded by seeded samples); None when they are not."""
    checked = sample(holdout, MAX_HOLDOUT, seed)
    held = hashes_of(examples, checked)
    trained = hashes_of(examples, sample(training, MAX_TRAINING, seed))
    copies = int(near_copies(held, trained, MAX_DISTANCE).sum())
    sampled_from = len(holdout) if len(checked) < len(holdout) else None
    return leak_warning(len(held), copies, sampled_from)
