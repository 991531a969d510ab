"""The split plan: which records each split reads, chosen before any image is decoded.

Why: a split picked by filtering decoded images decodes every image once per split and epoch,
and a shuffle buffer of decoded 224-px float images takes gigabytes. Here a split is a list of
cheap records (a file name, a TFDS record's encoded bytes, a small uint8 array row) chosen by
index or by TFDS split slicing; the pipeline shuffles the records, reads and decodes each one once
per pass, keeps it uint8 through the per-example stage and converts the batch to float32 last.

`SplitInput` is one split as the pipeline reads it; `DecodeTally` counts decodes (diagnostics);
`index_runs` / `tfds_split_spec` / `choose_eval_split` are the pure split choices of TFDS.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from ednas_tf.data import file_cache
from ednas_tf.data.augment import DEFAULT_POLICY, Size, augment_batch, eval_view, train_view

AUTOTUNE = tf.data.AUTOTUNE
# Records are small (names, encoded bytes): shuffle whole splits up to this many.
MAX_SHUFFLE_BUFFER = 100_000
CACHE_MODES = ("none", "memory")  # or a folder: a file cache per split in it
_EXAMPLE_STREAM = 2  # folds the per-example seeds apart from the per-batch ones

Fn = Callable[[tf.Tensor], tf.Tensor]


def identity(value: tf.Tensor) -> tf.Tensor:
    """The fetch and decode of records that are images already (in-memory arrays)."""
    return value


@dataclasses.dataclass(frozen=True)
class InputOptions:
    """How the tf.data pipeline runs (`--data_threads`, `--data_cache`); not what it yields.

    threads: the pipeline's private thread pool (None: tf.data's default, one per core).
    cache: 'none'; 'memory' keeps every split's fetched records (file bytes, not decoded
    images) after the first pass; a folder keeps them in files there, one per split, filled
    when the split is first read and reused by later runs of the same split."""

    threads: int | None = None
    cache: str = "none"

    def __post_init__(self):
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"data threads must be >= 1, got {self.threads}")

    def apply(self, ds: tf.data.Dataset) -> tf.data.Dataset:
        options = tf.data.Options()
        options.deterministic = True  # the batch order is a function of the seed (resume)
        if self.threads is not None:
            options.threading.private_threadpool_size = self.threads
        return ds.with_options(options)


def check_cache(cache: str) -> str:
    """`cache` ('none', 'memory' or an existing writable folder), or a ValueError saying why."""
    if cache in CACHE_MODES:
        return cache
    folder = Path(cache).expanduser()
    if not folder.is_dir():
        raise ValueError(f"data cache {cache!r} is neither none, memory nor an existing folder")
    return str(folder)


class DecodeTally:
    """Counts decodes per encoded image (by a digest of its bytes): a diagnostic that proves each
    image is decoded once per pass. Costs a Python call per image: not for production runs."""

    def __init__(self):
        self.counts: collections.Counter[str] = collections.Counter()

    def _count(self, data: tf.Tensor) -> np.int64:
        self.counts[hashlib.sha1(data.numpy()).hexdigest()] += 1
        return np.int64(0)

    def wrap(self, decode: Fn) -> Fn:
        """`decode`, counting every call."""

        def counted(data: tf.Tensor) -> tf.Tensor:
            tick = tf.py_function(self._count, [data], tf.int64)
            with tf.control_dependencies([tick]):
                return decode(tf.identity(data))

        return counted

    def reset(self) -> None:
        self.counts.clear()

    def summary(self) -> dict[str, float]:
        """Decodes per distinct image (mean and max) and the images seen."""
        values = list(self.counts.values())
        if not values:
            return {"images": 0, "decodes": 0, "decodes_per_image": 0.0, "max_decodes": 0}
        return {
            "images": len(values),
            "decodes": int(sum(values)),
            "decodes_per_image": sum(values) / len(values),
            "max_decodes": int(max(values)),
        }


@dataclasses.dataclass(frozen=True)
class SplitInput:
    """One split as the pipeline reads it.

    records: unbatched (record, int32 label), the split's examples chosen before decoding;
    fetch: record -> what may be cached (a file's bytes; the record itself otherwise);
    decode: fetched -> image (uint8, or float in [0, 1] for float arrays) of any size;
    image_size: (height, width) every image comes out at; policy: the augmentation policy
    (`ednas_tf.data.augment`); cache_key names the split's file cache."""

    records: tf.data.Dataset
    size: int
    image_size: Size
    channels: int
    fetch: Fn = identity
    decode: Fn = identity
    policy: str = DEFAULT_POLICY
    options: InputOptions = InputOptions()
    cache_key: str = "split"
    tally: DecodeTally | None = None

    @classmethod
    def from_dataset(cls, ds: tf.data.Dataset, policy: str = DEFAULT_POLICY) -> SplitInput:
        """A split given as decoded (image, label) examples of one size (e.g. made in a test)."""
        height, width, channels = ds.element_spec[0].shape
        return cls(ds, _count(ds), (int(height), int(width)), int(channels), policy=policy)

    def restricted(self, positions: np.ndarray) -> SplitInput:
        """The examples at `positions` of this split, in that order (decoded once each)."""
        positions = np.asarray(positions, np.int64)
        keep = np.zeros(self.size, bool)
        keep[positions] = True
        mask = tf.constant(keep)
        stop = int(positions.max()) + 1 if len(positions) else 0
        records = self.records.take(stop).enumerate()
        records = records.filter(lambda i, example: tf.gather(mask, i)).map(lambda i, e: e)
        return dataclasses.replace(self, records=records, size=len(positions))

    @functools.cached_property
    def fetched(self) -> tf.data.Dataset:
        """The records fetched (files read), cached as `options.cache` asks; built once, so a
        cache is shared by every pass."""

        def fetch(record: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            return self.fetch(record), label

        ds = self.records
        if self.fetch is not identity:
            ds = ds.map(fetch, num_parallel_calls=AUTOTUNE)
        if self.options.cache == "memory":
            ds = ds.cache()
        elif self.options.cache != "none":
            path = Path(self.options.cache) / self.cache_key
            ds = ds.cache(str(path))
            # Filled now, in one pass: two iterators writing one cache file fail, and the
            # search reads the train split through two pipelines at once.
            file_cache.fill(ds, path, self.size)
        return ds

    def _decode(self) -> Fn:
        return self.tally.wrap(self.decode) if self.tally is not None else self.decode

    def _shape(self, image: tf.Tensor) -> tf.Tensor:
        return tf.ensure_shape(image, (*self.image_size, self.channels))

    def evaluation(self) -> tf.data.Dataset:
        """Every example once, in split order, decoded and in its evaluation view: unbatched
        (float32 image in [0, 1], int32 label)."""
        decode = self._decode()

        def view(data: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            image = eval_view(decode(data), self.image_size, self.policy)
            return to_float_image(self._shape(image)), tf.cast(label, tf.int32)

        return self.options.apply(self.fetched.map(view, num_parallel_calls=AUTOTUNE))

    def batches(
        self,
        batch_size: int,
        *,
        augment: bool,
        seed: int = 0,
        shuffle_seed: int | None = None,
        reshuffle: bool = False,
        skip_batches: int = 0,
        start_batch: int = 0,
        erase_probability: float = 0.0,
        drop_remainder: bool = False,
        repeat: bool = False,
    ) -> tf.data.Dataset:
        """Batches of (float32 images, int32 labels): records shuffled (with `shuffle_seed`;
        None: split order), `skip_batches` batches skipped before any is read, then each record
        decoded once and, with `augment`, augmented with the policy; otherwise the evaluation
        view. `start_batch`: the global index of the first batch given, which seeds the
        augmentation (of a batch, and of its examples), so a resumed stream repeats it."""
        ds = self.fetched
        if shuffle_seed is not None:
            buffer = max(1, min(self.size, MAX_SHUFFLE_BUFFER))
            ds = ds.shuffle(buffer, seed=shuffle_seed, reshuffle_each_iteration=reshuffle)
        if repeat:
            ds = ds.repeat()
        if skip_batches:
            ds = ds.skip(skip_batches * batch_size)
        base = tf.constant(seed, tf.int64)
        decode, policy, size = self._decode(), self.policy, self.image_size

        def example(index: tf.Tensor, record: tuple[tf.Tensor, tf.Tensor]):
            data, label = record
            image = decode(data)
            if augment:
                example_seed = tf.random.experimental.stateless_fold_in(
                    tf.stack([base, index]), _EXAMPLE_STREAM
                )
                image = train_view(image, size, policy, example_seed)
            else:
                image = eval_view(image, size, policy)
            return self._shape(image), tf.cast(label, tf.int32)

        ds = ds.enumerate(start=start_batch * batch_size)
        ds = ds.map(example, num_parallel_calls=AUTOTUNE)
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)  # still uint8 here

        def finish(step: tf.Tensor, batch: tuple[tf.Tensor, tf.Tensor]):
            images, labels = batch
            images = to_float_image(images)
            if augment:
                images = augment_batch(
                    images, tf.stack([base, step]), erase_probability, policy=policy
                )
            return images, labels

        ds = ds.enumerate(start=start_batch).map(finish, num_parallel_calls=AUTOTUNE)
        return self.options.apply(ds.prefetch(AUTOTUNE))


def to_float_image(image: tf.Tensor) -> tf.Tensor:
    """uint8 [0, 255] or float [0, 1] -> float32 [0, 1] (the one input convention of the models)."""
    return tf.image.convert_image_dtype(image, tf.float32)


def _count(ds: tf.data.Dataset) -> int:
    size = int(ds.cardinality())
    if size >= 0:
        return size
    return int(ds.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))


# --- TFDS: splits by slicing, never by filtering decoded images ---------------------------------


def index_runs(indices: np.ndarray) -> list[tuple[int, int]]:
    """Sorted `indices` as half-open runs [start, stop) of consecutive numbers."""
    values = np.unique(np.asarray(indices, np.int64))
    if not len(values):
        return []
    breaks = np.flatnonzero(np.diff(values) != 1) + 1
    starts = np.concatenate([[0], breaks])
    stops = np.concatenate([breaks, [len(values)]])
    return [(int(values[a]), int(values[b - 1]) + 1) for a, b in zip(starts, stops, strict=True)]


def tfds_split_spec(split: str, indices: np.ndarray) -> str | None:
    """TFDS split-slicing text reading exactly the records at `indices` of `split` (in record
    order), e.g. 'train[100:900]+train[0:50]'; None for no indices."""
    runs = index_runs(indices)
    return "+".join(f"{split}[{start}:{stop}]" for start, stop in runs) or None


def choose_eval_split(
    available: Sequence[str], has_labels: Callable[[str], bool], preferred: Sequence[str]
) -> str | None:
    """The first of `preferred` that the dataset has and whose labels are present (ImageNet's
    `test` has none: its labels are -1, so `validation` is the labelled evaluation split);
    None when no such split exists (the caller holds part of the training split out)."""
    for split in preferred:
        if split in available and has_labels(split):
            return split
    return None
