"""An image folder of camera "tracks": what leaks through a hold-out drawn image by image.

Writes `--output_dir`/train/<class>/<track>_<frame>.png and a test/ folder of other tracks (class
folders only, track numbers restart in every class, as in GTSRB). Every track is one base image
seen `--frames` times, each frame shifted by up to `--shift` pixels, its brightness scaled by up
to 10 % and noise added. A base image is its class's pattern (a smooth random colour layout,
placed at a random offset with a random contrast) blended into a background of its own, the
class pattern weighing `--class_weight`: the class is learnable, and a track is easy to recognise
without it. Prints, and writes to bench/results/<name>.json, the images per folder and how far
apart the perceptual hashes of the check (`ednas_tf.data.near_copies`) lie: a frame's nearest
other frame of its track against its nearest frame of another track.

  python -m bench.tracks_folder --output_dir=/tmp/tracks [--classes=10 --tracks=20 --frames=15]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf
from absl import flags
from PIL import Image

from bench import cli
from bench.common import emit
from ednas_tf.data.image_folder import make_decoder
from ednas_tf.data.near_copies import MAX_DISTANCE, dhash, thumbnails

FV = cli.new_flags()
flags.DEFINE_string("output_dir", None, "Folder to write (train/, test/).", flag_values=FV)
flags.DEFINE_integer("classes", 10, "Classes.", lower_bound=2, flag_values=FV)
flags.DEFINE_integer("tracks", 20, "Tracks per class in train/.", lower_bound=2, flag_values=FV)
flags.DEFINE_integer("test_tracks", 6, "Tracks per class in test/.", lower_bound=1, flag_values=FV)
flags.DEFINE_integer("frames", 15, "Frames per track.", lower_bound=1, flag_values=FV)
flags.DEFINE_integer("image_size", 32, "Image side in pixels.", lower_bound=8, flag_values=FV)
flags.DEFINE_integer(
    "shift", 2, "Largest shift of a frame, in pixels.", lower_bound=0, flag_values=FV
)
flags.DEFINE_float("noise", 8.0, "Pixel noise (sd, of 255).", lower_bound=0.0, flag_values=FV)
flags.DEFINE_float(
    "class_weight",
    0.35,
    "Weight of the class pattern in a track's base image (the rest: the track's background).",
    lower_bound=0.0,
    upper_bound=1.0,
    flag_values=FV,
)
flags.DEFINE_integer("seed", 0, "Seed of every image.", lower_bound=0, flag_values=FV)
cli.define_results_name(FV, "tracks_folder")

_GRID = 4  # cells per side of a class pattern and of a background before smoothing


def smooth(rng: np.random.Generator, cells: int, size: int) -> np.ndarray:
    """A random colour layout of cells x cells, resized smoothly to size x size (float, 0-255)."""
    coarse = rng.integers(0, 256, (cells, cells, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((size, size), Image.BILINEAR), np.float32)


def base_image(pattern: np.ndarray, rng: np.random.Generator, args: argparse.Namespace):
    """One track's base image: its class pattern, moved and contrasted at random, blended into
    a background of the track's own."""
    size = args.image_size
    moved = np.roll(pattern, tuple(rng.integers(-size // 8, size // 8 + 1, 2)), axis=(0, 1))
    contrast = rng.uniform(0.7, 1.3)
    moved = np.clip(128 + contrast * (moved - 128), 0, 255)
    background = smooth(rng, 2 * _GRID, size)
    return args.class_weight * moved + (1 - args.class_weight) * background


def frame(base: np.ndarray, rng: np.random.Generator, args: argparse.Namespace) -> np.ndarray:
    """A frame of a track: the base shifted (edges repeated), brightness scaled, noise added."""
    pad = args.shift
    dy, dx = rng.integers(-pad, pad + 1, 2)
    padded = np.pad(base, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    size = args.image_size
    crop = padded[pad + dy : pad + dy + size, pad + dx : pad + dx + size]
    image = crop * rng.uniform(0.9, 1.1) + rng.normal(0, args.noise, crop.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def write_folder(root: Path, args: argparse.Namespace) -> dict[str, list]:
    """Every image, and per folder its paths and track keys (class, track)."""
    rng = np.random.default_rng(args.seed)
    written: dict[str, list] = {"train": [], "test": []}
    for label in range(args.classes):
        pattern = smooth(rng, _GRID, args.image_size)
        total = args.tracks + args.test_tracks
        for split, numbers in (("train", range(args.tracks)), ("test", range(args.tracks, total))):
            folder = root / split / f"c{label:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            for track in numbers:
                base = base_image(pattern, rng, args)
                for index in range(args.frames):
                    path = folder / f"{track:05d}_{index:05d}.png"
                    Image.fromarray(frame(base, rng, args)).save(path)
                    written[split].append((str(path), (label, track)))
    return written


def nearest_distances(paths: Sequence[str], tracks: Sequence[tuple]) -> dict:
    """The median, over frames, of the dHash distance to the nearest other frame of the same
    track and to the nearest frame of another track, and the share of frames whose nearest
    frame of another track is within the check's MAX_DISTANCE (what the check would miscount)."""
    records = tf.data.Dataset.from_tensor_slices((list(paths), np.zeros(len(paths), np.int32)))
    _, thumbs = thumbnails(records, tf.io.read_file, make_decoder(3))
    hashes, _ = dhash(thumbs)
    distance = np.bitwise_count(hashes[:, None] ^ hashes[None, :]).astype(np.int64)
    keys = np.asarray([label * 1_000_000 + track for label, track in tracks])
    same = keys[:, None] == keys[None, :]
    np.fill_diagonal(same, False)
    other = keys[:, None] != keys[None, :]
    within = np.where(same, distance, 64).min(axis=1)
    across = np.where(other, distance, 64).min(axis=1)
    return {
        "within_track_median": float(np.median(within)),
        "other_track_median": float(np.median(across)),
        "within_track_at_most_max_distance": round(float(np.mean(within <= MAX_DISTANCE)), 4),
        "other_track_at_most_max_distance": round(float(np.mean(across <= MAX_DISTANCE)), 4),
        "max_distance": MAX_DISTANCE,
    }


def main(argv: Sequence[str] | None = None) -> dict:
    args = cli.parse_args(FV, argv, __doc__)
    if not args.output_dir:
        cli.error("give --output_dir (the folder to write)")
    root = Path(args.output_dir).expanduser()
    if root.exists() and any(root.iterdir()):
        cli.error(f"--output_dir={root} is not empty")
    written = write_folder(root, args)
    paths, tracks = zip(*written["train"], strict=True)
    figures = {
        "config": {k: v for k, v in vars(args).items() if k != "results_name"},
        "images": {split: len(items) for split, items in written.items()},
        "tracks": {"train": args.classes * args.tracks, "test": args.classes * args.test_tracks},
        "train_hash_distances": nearest_distances(paths, tracks),
    }
    return emit(args.results_name, figures)


if __name__ == "__main__":
    main()
