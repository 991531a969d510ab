"""Synthetic multi-scale dataset, generated in code: tests and demos need no files.

Each class combines a fine-scale texture (stripe orientation, seen by a 3x3 receptive field) with a
coarse-scale layout (whether two textured blobs sit side by side or one above the other, and for
more than 4 classes how far apart they are: seen only by a receptive field spanning a good part of
the image), under random phase, position, contrast and noise. So neither small nor large kernels
alone solve it, which is what the kernel-size search space needs to be exercised on. Every class is
invariant under a horizontal flip, so flip augmentation never changes a label.
"""

from __future__ import annotations

import numpy as np

from ednas_tf.data.registry import register
from ednas_tf.data.source import Source, array_examples

_TEXTURES = 2  # horizontal / vertical stripes
_ORIENTATIONS = 2  # blob pair side by side / one above the other
_HALF_GAP = (
    0.18,
    0.3,
)  # range of half the blob distance, in image sizes, cut into gap levels
_DEFAULT_SIZE = 32
_CHUNK = 2048  # examples rendered at once (bounds the float64 working memory)
_TRAIN_STREAM, _TEST_STREAM = 0, 1  # independent random streams of one data_seed


def _blob(grid_y: np.ndarray, grid_x: np.ndarray, cy, cx, sigma) -> np.ndarray:
    """Gaussian blobs centred at (cy, cx) per example, shape (N, H, W)."""
    dist2 = (grid_y[None] - cy[:, None, None]) ** 2 + (grid_x[None] - cx[:, None, None]) ** 2
    return np.exp(-dist2 / (2.0 * sigma[:, None, None] ** 2))


def generate(
    num_examples: int,
    *,
    num_classes: int,
    image_size: int,
    channels: int,
    seed: list[int],
) -> tuple[np.ndarray, np.ndarray]:
    """Generate (uint8 images (N, S, S, C), int32 labels (N,)).

    class = texture + 2 * layout, layout = orientation + 2 * gap level. Rendered in chunks so that
    large datasets do not need several float64 copies of everything at once.
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, num_examples)
    num_gaps = -(-num_classes // (_TEXTURES * _ORIENTATIONS))
    chunks = [
        _render(rng, labels[start : start + _CHUNK], num_gaps, image_size, channels)
        for start in range(0, num_examples, _CHUNK)
    ]
    images = np.concatenate(chunks) if chunks else np.zeros((0, image_size, image_size, channels))
    return images.astype(np.uint8), labels.astype(np.int32)


def _render(
    rng: np.random.Generator, labels: np.ndarray, num_gaps: int, size: int, channels: int
) -> np.ndarray:
    """uint8 images (N, size, size, channels) of the given classes."""
    n = len(labels)
    texture, layout = labels % _TEXTURES, labels // _TEXTURES
    orientation, gap_level = layout % _ORIENTATIONS, layout // _ORIENTATIONS
    grid_y, grid_x = np.mgrid[0:size, 0:size].astype(np.float32)

    # Fine scale: stripes with a period of ~size/10 pixels, random phase, slightly jittered angle.
    theta = texture * (np.pi / 2) + rng.uniform(-0.2, 0.2, n)
    period = size / 10 * rng.uniform(0.85, 1.15, n)
    phase = rng.uniform(0, 2 * np.pi, n)
    along = (
        grid_x[None] * np.cos(theta)[:, None, None] + grid_y[None] * np.sin(theta)[:, None, None]
    )
    stripes = 0.5 + 0.5 * np.sin(2 * np.pi * along / period[:, None, None] + phase[:, None, None])

    # Coarse scale: two blobs side by side or one above the other, at one of num_gaps distances
    # (a gap range cut in equal bins, 10% margins between them), anywhere inside the image.
    alpha = orientation * (np.pi / 2) + rng.uniform(-0.15, 0.15, n)
    bin_width = (_HALF_GAP[1] - _HALF_GAP[0]) / num_gaps
    low = _HALF_GAP[0] + bin_width * (gap_level + 0.1)
    half_gap = size * (low + bin_width * 0.8 * rng.uniform(0.0, 1.0, n))
    dy, dx = half_gap * np.sin(alpha), half_gap * np.cos(alpha)
    sigma = size * rng.uniform(0.1, 0.13, n)
    margin = 1.2 * sigma
    cy = rng.uniform(margin + np.abs(dy), size - 1 - margin - np.abs(dy))
    cx = rng.uniform(margin + np.abs(dx), size - 1 - margin - np.abs(dx))
    mask = np.maximum(
        _blob(grid_y, grid_x, cy + dy, cx + dx, sigma),
        _blob(grid_y, grid_x, cy - dy, cx - dx, sigma),
    )

    background = rng.uniform(0.0, 0.3, n)[:, None, None]
    contrast = rng.uniform(0.6, 1.0, n)[:, None, None]
    image = background + contrast * mask * stripes * (1 - background)
    image = np.clip(image + rng.normal(0.0, 0.05, image.shape), 0.0, 1.0)
    gains = rng.uniform(0.6, 1.0, (n, 1, 1, channels))  # per-channel tint, same pattern
    return np.round(image[..., None] * gains * 255).astype(np.uint8)


def _class_name(label: int) -> str:
    texture, layout = label % _TEXTURES, label // _TEXTURES
    orientation, gap = layout % _ORIENTATIONS, layout // _ORIENTATIONS
    return f"{('v', 'h')[texture]}-stripes/{('side-by-side', 'stacked')[orientation]}/gap{gap}"


@register("synthetic")
def load_synthetic(
    *,
    data_dir: str | None = None,
    image_size: int | None = None,
    num_classes: int = 4,
    num_examples: int = 2048,
    num_test_examples: int | None = None,
    channels: int = 1,
    data_seed: int = 0,
) -> Source:
    """Generate the dataset at image_size (default 32); data_seed fixes the data, the split seed
    only the split. num_test_examples defaults to num_examples // 4."""
    del data_dir  # generated, nothing to read
    if num_classes < 2:
        raise ValueError(f"synthetic needs num_classes >= 2, got {num_classes}")
    if num_examples < 1 or channels < 1:
        raise ValueError(
            f"num_examples and channels must be positive, got {num_examples}, {channels}"
        )
    size = image_size or _DEFAULT_SIZE
    num_test = num_examples // 4 if num_test_examples is None else num_test_examples
    options = {"num_classes": num_classes, "image_size": size, "channels": channels}
    train = generate(num_examples, seed=[data_seed, _TRAIN_STREAM], **options)
    test = generate(num_test, seed=[data_seed, _TEST_STREAM], **options)
    names = [_class_name(label) for label in range(num_classes)]
    return Source(
        class_names=names,
        image_shape=(size, size, channels),
        train=array_examples(*train),
        test=array_examples(*test) if num_test > 0 else None,
    )
