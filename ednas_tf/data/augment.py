"""Augmentation policies (`--augment`): what a training image goes through, and the matching
evaluation view of every image.

Why two stages: a per-example stage works on the decoded image at its own size (resize, or the
Inception random-resized crop, which must see the whole image), and a per-batch stage works on
the fixed-size batch (flip, pad-and-crop, erasing), vectorised so the CPU input pipeline stays
cheap. Both draw stateless randomness from seeds given by the caller (the position of the example
or batch in the stream), so a resumed run sees the same augmented images.

Policies:
  none       resize only.
  crop       resize, then zero-pad by 1/8 of the size and crop back at a random offset.
  flip_crop  crop plus a random left-right flip: the small-image recipe (the default).
  inception  random-resized crop (8-100 % of the area, aspect 3/4-4/3) plus a flip, the ImageNet
             standard; evaluation then takes the central 87.5 % square before resizing (>= 128 px).
"""

from __future__ import annotations

import math

import tensorflow as tf

POLICIES = ("none", "crop", "flip_crop", "inception")
DEFAULT_POLICY = "flip_crop"

# Evaluation view of the inception policy: the central square of 0.875 of the shorter side,
# resized to the input size (the conventional ImageNet ratio: 224 of 256), at 128 px and above.
CENTRE_CROP_RATIO = 0.875
CENTRE_CROP_MIN_SIZE = 128
# Inception random-resized crop (Szegedy et al., 2015; TF-slim inception_preprocessing).
RRC_AREA = (0.08, 1.0)
RRC_ASPECT = (3 / 4, 4 / 3)
RRC_MIN_COVERED = 0.1
RRC_ATTEMPTS = 10
# Random erasing (Zhong et al., 2017): share of the image area and aspect-ratio range of the box.
ERASE_AREA = (0.02, 0.4)
ERASE_ASPECT = (0.3, 1 / 0.3)

Size = tuple[int, int]


def check_policy(policy: str) -> str:
    """`policy`, or a ValueError listing the policies."""
    if policy not in POLICIES:
        raise ValueError(f"unknown augmentation policy {policy!r}; one of {', '.join(POLICIES)}")
    return policy


def resize(image: tf.Tensor, size: Size) -> tf.Tensor:
    """Bilinear resize to `size`, keeping the dtype (uint8 rounded, float clipped to [0, 1]);
    an image already of that (static) size is returned as it is."""
    if tuple(image.shape[:2]) == tuple(size):
        return image
    resized = tf.image.resize(tf.cast(image, tf.float32), size, method="bilinear")
    if image.dtype == tf.uint8:
        return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)
    return tf.cast(tf.clip_by_value(resized, 0.0, 1.0), image.dtype)


def centre_crops(policy: str, size: Size) -> bool:
    """Whether the evaluation view of `policy` at `size` takes the central crop."""
    return policy == "inception" and min(size) >= CENTRE_CROP_MIN_SIZE


def eval_view(image: tf.Tensor, size: Size, policy: str) -> tf.Tensor:
    """The deterministic view of one decoded image (any size) at `size`, dtype kept."""
    if centre_crops(policy, size):
        shape = tf.shape(image)
        side = tf.cast(
            tf.round(CENTRE_CROP_RATIO * tf.cast(tf.minimum(shape[0], shape[1]), tf.float32)),
            tf.int32,
        )
        side = tf.maximum(side, 1)
        image = tf.slice(
            image, [(shape[0] - side) // 2, (shape[1] - side) // 2, 0], [side, side, -1]
        )
    return resize(image, size)


def random_resized_crop(image: tf.Tensor, size: Size, seed: tf.Tensor) -> tf.Tensor:
    """Inception crop of one image: a random box of 8-100 % of the area and aspect 3/4-4/3
    (the whole image when no box fits in ten attempts), resized to `size`."""
    begin, extent, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(image),
        bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
        seed=seed,
        min_object_covered=RRC_MIN_COVERED,
        aspect_ratio_range=RRC_ASPECT,
        area_range=RRC_AREA,
        max_attempts=RRC_ATTEMPTS,
        use_image_if_no_bounding_boxes=True,
    )
    return resize(tf.slice(image, begin, extent), size)


def train_view(image: tf.Tensor, size: Size, policy: str, seed: tf.Tensor) -> tf.Tensor:
    """The per-example stage of a training image: the random-resized crop for `inception`, the
    evaluation view otherwise (their random part is per batch: `augment_batch`)."""
    if policy == "inception":
        return random_resized_crop(image, size, seed)
    return eval_view(image, size, policy)


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


def augment_batch(
    images: tf.Tensor,
    seed: tf.Tensor,
    erase_probability: float = 0.0,
    policy: str = DEFAULT_POLICY,
) -> tf.Tensor:
    """The per-batch stage of `policy` on float images in [0, 1]: flip (flip_crop, inception),
    padded random crop (crop, flip_crop) and, with `erase_probability` > 0, random erasing.

    Stateless ops with a per-batch seed make it reproducible; per-batch (vectorised) instead of
    per-example keeps the CPU input pipeline cheap.
    """
    flip_seed, crop_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
    if policy in ("flip_crop", "inception"):
        images = _random_flip(images, flip_seed)
    if policy in ("crop", "flip_crop"):
        images = _random_crop(images, crop_seed)
    if erase_probability > 0:
        # a seed of its own, so flip and crop stay those of runs without erasing
        erase_seed = tf.random.experimental.stateless_fold_in(seed, 1)
        images = _random_erase(images, erase_seed, erase_probability)
    return images
