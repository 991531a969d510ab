"""Endless streams of training batches whose order is a function of (seed, position).

A resumed run must see the batches the uninterrupted one would have seen from the step it stopped
at. A `BatchStream` regenerates them from a batch count alone, however large the data: pass `p`
over the split is shuffled with its own seed (`seed`, `p`) and no reshuffling, so starting at
batch `k` is building pass `k // per_pass` and skipping `k % per_pass` batches' records of it
(neither read nor decoded) — never the passes before. Augmentation is stateless, seeded by the
batch's global index (and, per example, by the example's), as in `ednas_tf.data.batched`. A
checkpoint then only needs the step count.
"""

from __future__ import annotations

from collections.abc import Iterator

import tensorflow as tf

from ednas_tf.data.plan import SplitInput

_PASS_SEED_STRIDE = 1_000_003  # seeds of passes of different stream seeds never meet


class BatchStream:
    """Batches of a split (its `SplitInput`, or an unbatched (image, label) dataset of one image
    size), drop_remainder, shuffled per pass before decoding, optionally augmented with the
    split's policy (else its evaluation view) and distributed by `strategy`;
    `batches(position)` starts at any batch."""

    def __init__(
        self,
        ds: tf.data.Dataset | SplitInput,
        batch_size: int,
        seed: int = 0,
        augment: bool = True,
        erase_probability: float = 0.0,
        strategy: tf.distribute.Strategy | None = None,
    ):
        self.input = ds if isinstance(ds, SplitInput) else SplitInput.from_dataset(ds)
        self.batch_size, self.seed = batch_size, seed
        self.augment, self.erase_probability, self.strategy = augment, erase_probability, strategy
        self.size = self.input.size
        self.per_pass = self.size // batch_size
        if self.per_pass < 1:
            raise ValueError(
                f"a split of {self.size} examples holds no full batch of {batch_size}; use a "
                "smaller --batch_size or more data"
            )

    def _pass(self, index: int, skip: int) -> tf.data.Dataset:
        ds = self.input.batches(
            self.batch_size,
            augment=self.augment,
            seed=self.seed,
            shuffle_seed=self.seed * _PASS_SEED_STRIDE + index,
            skip_batches=skip,
            start_batch=index * self.per_pass + skip,
            erase_probability=self.erase_probability,
            drop_remainder=True,
        )
        return self.strategy.experimental_distribute_dataset(ds) if self.strategy else ds

    def batches(self, position: int = 0) -> Iterator:
        """Every batch from the `position`-th on (0: the first), forever."""
        index, skip = divmod(position, self.per_pass)
        while True:
            yield from self._pass(index, skip)
            index, skip = index + 1, 0


class DatasetStream:
    """A batched dataset used as a stream: its repetition, started at a batch by skipping (exact
    for a seeded dataset, but reads every batch before the position; fine for small data)."""

    def __init__(self, ds: tf.data.Dataset, strategy: tf.distribute.Strategy | None = None):
        self.ds, self.strategy = ds, strategy

    def batches(self, position: int = 0) -> Iterator:
        ds = self.ds.repeat().skip(position)
        return iter(self.strategy.experimental_distribute_dataset(ds) if self.strategy else ds)


def as_stream(data, strategy: tf.distribute.Strategy | None = None):
    """`data` if it is a stream, else a DatasetStream of it."""
    return data if hasattr(data, "batches") else DatasetStream(data, strategy)
