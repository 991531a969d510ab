"""Samples of a split for figures: seeded, class-stratified, and saying what they are.

Why: a figure computed on "the first N test images" of an image folder (sorted by class) is a
figure on a few classes; two figures on different subsets contradict each other. A sample is the
whole split, or a seeded sample with each class in proportion (labels known), or a seeded uniform
sample (labels only known by reading the images, e.g. streamed TFDS records); `Sample.describe`
says which, for the reports.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from ednas_tf.data.registry import DataSplits

SPLIT_WORDS = {"train": "training", "arch": "architecture", "val": "validation", "test": "test"}


@dataclasses.dataclass(frozen=True)
class Sample:
    """count of total examples of a split; how: 'all', 'class-stratified sample' or 'random
    sample'; seed: the sample's seed (None for 'all')."""

    split: str
    count: int
    total: int
    how: str
    seed: int | None

    def describe(self) -> str:
        """'all 500 test images' or '100 of 500 test images, class-stratified sample (seed 0)'."""
        words = f"{SPLIT_WORDS.get(self.split, self.split)} images"
        if self.how == "all":
            return f"all {self.total} {words}"
        return f"{self.count} of {self.total} {words}, {self.how} (seed {self.seed})"

    def as_dict(self) -> dict:
        return {**dataclasses.asdict(self), "text": self.describe()}


def stratified_positions(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """`count` positions of `labels`, each class in proportion to its share (largest remainder;
    every class present once `count` allows), chosen at random within a class; sorted."""
    labels = np.asarray(labels)
    count = min(count, len(labels))
    rng = np.random.default_rng(seed)
    classes, sizes = np.unique(labels, return_counts=True)
    quota = count * sizes / len(labels)
    take = np.floor(quota).astype(int)
    order = np.lexsort((rng.random(len(classes)), -(quota - take)))
    take[order[: count - take.sum()]] += 1
    for empty in np.flatnonzero((take == 0) & (sizes > 0)):
        donor = int(np.argmax(take))
        if take[donor] <= 1:
            break
        take[donor] -= 1
        take[empty] = 1
    chosen = [
        rng.permutation(np.flatnonzero(labels == label))[:n] for label, n in zip(classes, take)
    ]
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, int)


def sample_split(
    splits: DataSplits, split: str, count: int | None, seed: int
) -> tuple[tf.data.Dataset, Sample]:
    """At most `count` examples of `split` (None or >= its size: all of it) and what they are."""
    total = splits.sizes[split]
    if count is not None and count < 1:
        raise ValueError(f"a sample of the {split} split needs a positive count, got {count}")
    if count is None or count >= total or splits.select is None:
        return getattr(splits, split), Sample(split, total, total, "all", None)
    labels = splits.labels.get(split)
    if labels is not None and len(labels) == total:
        positions = stratified_positions(labels, count, seed)
        how = "class-stratified sample"
    else:
        positions = np.sort(np.random.default_rng(seed).permutation(total)[:count])
        how = "random sample"
    return splits.select(split, positions), Sample(split, len(positions), total, how, seed)
