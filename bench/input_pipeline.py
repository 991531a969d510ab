"""Is the input pipeline fast enough at ImageNet scale, and does it decode each image once?

Generates an image folder of `--num_images` JPEGs of mixed sizes (train/, val/, test/, in a
temporary folder), loads it at `--image_size` with the `--augment` policy, and measures in one
process:
  * pipeline_images_per_s: the training stream alone (`BatchStream` over the train split:
    records shuffled, each read, decoded and augmented once), its second pass timed;
  * step_images_per_s: the weight step of the `--preset` supernet (forward, backward, SGD) on
    batches of the same size;
  * pipeline_over_step: their ratio (target >= 3: the input never starves a step);
  * peak_rss_mb: the process's peak resident memory (pipeline_peak_rss_mb: before the model);
  * decodes_per_image: with a counting decoder (`DecodeTally`), one pass of every split (train and
    arch as the search streams them, val and test evaluated), decodes per distinct image (must be
    1.0; max_decodes the most any image got).

  python -m bench.input_pipeline [--num_images=2000 --image_size=224 --augment=inception]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf
from absl import flags
from PIL import Image

from bench import cli
from bench.common import emit
from bench.supernet_cost import make_train_step, time_steps
from ednas_tf.data import DataSplits, batched, load_splits
from ednas_tf.data.augment import POLICIES
from ednas_tf.data.plan import DecodeTally, InputOptions
from ednas_tf.model import build
from ednas_tf.presets import PRESET_STAGES, preset_space
from ednas_tf.streams import BatchStream

FV = cli.new_flags()
flags.DEFINE_integer("num_images", 2000, "JPEGs generated.", lower_bound=40, flag_values=FV)
flags.DEFINE_integer("num_classes", 10, "Classes (sub-folders).", lower_bound=2, flag_values=FV)
flags.DEFINE_integer(
    "min_side", 160, "Smallest generated image side in pixels.", lower_bound=8, flag_values=FV
)
flags.DEFINE_integer(
    "max_side", 500, "Largest generated image side in pixels.", lower_bound=8, flag_values=FV
)
flags.DEFINE_integer("image_size", 224, "Input side of the network.", lower_bound=8, flag_values=FV)
flags.DEFINE_enum("augment", "inception", list(POLICIES), "Augmentation policy.", flag_values=FV)
flags.DEFINE_integer("batch_size", 32, "Images per batch.", lower_bound=1, flag_values=FV)
flags.DEFINE_integer(
    "data_threads",
    None,
    "Threads of the pipeline (default: one per core).",
    lower_bound=1,
    flag_values=FV,
)
flags.DEFINE_enum(
    "preset", "imagenet", sorted(PRESET_STAGES), "Search space of the supernet.", flag_values=FV
)
flags.DEFINE_integer("step_repeats", 5, "Timed supernet steps.", lower_bound=1, flag_values=FV)
cli.define_results_name(FV, "input_pipeline")

SPLIT_SHARES = {"val": 0.1, "test": 0.1}  # of the images; the rest is train/


def _progress(done: int, total: int, what: str) -> None:
    if done % max(1, total // 20) == 0 or done == total:
        print(f"\r{what}: {done}/{total}", end="\n" if done == total else "", flush=True)


def write_folder(root: Path, args: argparse.Namespace) -> dict[str, int]:
    """`num_images` JPEGs of random sizes (smooth random content, so they compress like photos),
    spread over the classes and the train/, val/ and test/ folders; images per folder."""
    rng = np.random.default_rng(0)
    counts = dict.fromkeys(("train", *SPLIT_SHARES), 0)
    for i in range(args.num_images):
        share = i / args.num_images
        folder = "val" if share < SPLIT_SHARES["val"] else "train"
        if SPLIT_SHARES["val"] <= share < SPLIT_SHARES["val"] + SPLIT_SHARES["test"]:
            folder = "test"
        width, height = rng.integers(args.min_side, args.max_side + 1, 2)
        coarse = rng.integers(0, 256, (height // 16 + 1, width // 16 + 1, 3), dtype=np.uint8)
        image = Image.fromarray(coarse).resize((int(width), int(height)), Image.BILINEAR)
        target = root / folder / f"class{i % args.num_classes}"
        target.mkdir(parents=True, exist_ok=True)
        image.save(target / f"img{i}.jpg", quality=90)
        counts[folder] += 1
        _progress(i + 1, args.num_images, "writing JPEGs")
    return counts


def _splits(root: Path, args: argparse.Namespace, tally: DecodeTally | None) -> DataSplits:
    return load_splits(
        "image_folder",
        data_dir=str(root),
        image_size=args.image_size,
        arch_fraction=0.2,
        augment=args.augment,
        options=InputOptions(threads=args.data_threads),
        tally=tally,
    )


def pipeline_rate(splits: DataSplits, args: argparse.Namespace) -> dict:
    """Images per second of the training stream: the first pass (warm-up) and the second."""
    stream = BatchStream(splits.source("train"), args.batch_size, seed=0)
    batches = stream.batches(0)
    seconds = []
    for _ in range(2):
        start = time.perf_counter()
        for _ in range(stream.per_pass):
            images, _ = next(batches)
        seconds.append(time.perf_counter() - start)
    assert images.dtype == tf.float32 and images.shape[1] == args.image_size
    per_pass = stream.per_pass * args.batch_size
    return {
        "pipeline_images_per_s": per_pass / seconds[1],
        "pipeline_first_pass_images_per_s": per_pass / seconds[0],
        "train_images_per_pass": per_pass,
    }


def decode_counts(root: Path, args: argparse.Namespace) -> dict:
    """One pass of every split with a counting decoder: decodes per distinct image."""
    tally = DecodeTally()
    splits = _splits(root, args, tally)
    for split, augment in (("train", True), ("arch", False)):  # as the search streams them
        stream = BatchStream(splits.source(split), args.batch_size, seed=0, augment=augment)
        for _, _ in zip(range(stream.per_pass), stream.batches(0), strict=False):
            pass
    for split in ("val", "test"):
        for _ in batched(getattr(splits, split), args.batch_size * 2, training=False):
            pass
    summary = tally.summary()
    return {
        "decodes_per_image": summary["decodes_per_image"],
        "max_decodes": summary["max_decodes"],
        "images_decoded": summary["images"],
        "split_sizes": splits.sizes,
    }


def step_rate(splits: DataSplits, args: argparse.Namespace) -> float:
    """Images per second of the supernet's weight step on a batch of the pipeline."""
    space = preset_space(
        args.preset,
        input_shape=splits.input_shape,
        num_classes=splits.num_classes,
        profile="tda2x",
    )
    step = make_train_step(build(space, seed=0))
    images, labels = next(iter(batched(splits.source("train"), args.batch_size, training=True)))
    seconds = time_steps({"supernet": step}, images, labels, args.step_repeats)["supernet"]
    return args.batch_size / seconds


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def main(argv: Sequence[str] | None = None) -> dict:
    args = cli.parse_args(FV, argv, __doc__)
    if args.min_side > args.max_side:
        cli.error(f"--min_side={args.min_side} exceeds --max_side={args.max_side}")
    with tempfile.TemporaryDirectory(prefix="input-pipeline-") as folder:
        root = Path(folder)
        counts = write_folder(root, args)
        splits = _splits(root, args, None)
        print(f"data: {splits.sizes}, {splits.input_shape}, augment {args.augment}", flush=True)
        figures = pipeline_rate(splits, args)
        figures["pipeline_peak_rss_mb"] = peak_rss_mb()
        figures.update(decode_counts(root, args))
        print(f"pipeline: {figures['pipeline_images_per_s']:.0f} images/s", flush=True)
        step = step_rate(splits, args)
    figures.update(
        {
            "step_images_per_s": step,
            "pipeline_over_step": figures["pipeline_images_per_s"] / step,
            "peak_rss_mb": peak_rss_mb(),
            "folders": counts,
            "cpu_count": os.cpu_count(),
            "config": vars(args),
        }
    )
    return emit(args.results_name, figures)


if __name__ == "__main__":
    main()
