"""Name -> dataset source registry and `load_splits`, the one entry point the search loop uses.

Why a registry: new sources plug in with a decorator, and the search/CLI code never branches on
dataset names.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from typing import Protocol

import numpy as np
import tensorflow as tf

from ednas_tf.data.augment import DEFAULT_POLICY, check_policy
from ednas_tf.data.checks import (
    DataChecks,
    Skipped,
    check_classes,
    check_split_sizes,
    file_problems,
    refuse_strict,
    resolve_mode,
)
from ednas_tf.data.errors import DatasetFormatError, UnknownDatasetError
from ednas_tf.data.groups import NO_RULE, Grouping, GroupRule, group_examples, parse_rule
from ednas_tf.data.near_copies import check_holdout
from ednas_tf.data.pipeline import SPLIT_NAMES, split_indices
from ednas_tf.data.plan import DecodeTally, InputOptions, SplitInput
from ednas_tf.data.source import Examples, Source


class SourceFactory(Protocol):
    """Builds a Source. `image_size` is a hint (a source may produce that size natively);
    `variant` is the part after ':' in parametric names such as 'tfds:cifar10'."""

    def __call__(self, *, data_dir: str | None, image_size: int | None, **kwargs) -> Source: ...


@dataclasses.dataclass(frozen=True)
class _Entry:
    factory: SourceFactory
    parametric: bool


_REGISTRY: dict[str, _Entry] = {}


@dataclasses.dataclass
class DataSplits:
    """The four splits of a dataset, unbatched: (float32 image in [0, 1], int32 scalar label).

    train updates the weights, arch the architecture parameters (FBNet's 80/20 split of the
    training data), val is held out from training for model selection (or the source's own
    validation split), test is the official labelled evaluation split (or a held-out part of the
    training data when the source has none). Each is the evaluation view (no augmentation);
    `inputs[split]` is what training streams read instead: records shuffled before decoding and
    augmented with `augment`, the policy (`ednas_tf.data.augment`).
    """

    name: str
    input_shape: tuple[int, int, int]
    num_classes: int
    class_names: list[str]
    train: tf.data.Dataset
    arch: tf.data.Dataset
    val: tf.data.Dataset
    test: tf.data.Dataset
    sizes: dict[str, int]
    # What the checks left out (hidden or unreadable files) and each split's labels in order
    # (None where the source only streams); `select(split, positions)`: the examples at those
    # positions of a split, as the split gives them (for samples: `ednas_tf.data.sampling`).
    skipped: list[Skipped] = dataclasses.field(default_factory=list)
    labels: dict[str, np.ndarray | None] = dataclasses.field(default_factory=dict)
    select: Callable[[str, np.ndarray], tf.data.Dataset] | None = None
    inputs: dict[str, SplitInput] = dataclasses.field(default_factory=dict)
    augment: str = DEFAULT_POLICY
    # Lines for the log: how the hold-out groups came out, a warning of near-copies across
    # a hold-out (`ednas_tf.data.groups`, `ednas_tf.data.near_copies`).
    notes: list[str] = dataclasses.field(default_factory=list)
    holdout_groups: str = NO_RULE

    def group_fact(self) -> dict[str, str]:
        """The hold-out group rule for a resume fingerprint, named only when one is set: a
        checkpoint written before rules existed still matches, a changed rule does not."""
        return {} if self.holdout_groups == NO_RULE else {"holdout_groups": self.holdout_groups}

    def fingerprint(self) -> dict:
        """What a resumed training must read the same: the dataset, the split sizes, the policy
        and the hold-out group rule."""
        return {"dataset": self.name, "sizes": self.sizes, "augment": self.augment,
                **self.group_fact()}  # fmt: skip

    def source(self, split: str) -> SplitInput | tf.data.Dataset:
        """What a training stream of `split` reads: its SplitInput (records shuffled before
        decoding, the policy's augmentation), or the split itself for splits made by hand."""
        return self.inputs.get(split, getattr(self, split))


def register(name: str, *, parametric: bool = False) -> Callable[[SourceFactory], SourceFactory]:
    """Decorator registering a source factory under `name`.

    parametric=True: the source is addressed as '<name>:<variant>' and gets `variant=` (e.g. TFDS).
    """
    if ":" in name:
        raise ValueError(f"dataset source names cannot contain ':', got {name!r}")

    def decorate(factory: SourceFactory) -> SourceFactory:
        if name in _REGISTRY:
            raise ValueError(f"dataset source {name!r} is already registered")
        _REGISTRY[name] = _Entry(factory, parametric)
        return factory

    return decorate


def available() -> list[str]:
    """Registered dataset names, parametric ones shown as '<name>:<variant>' patterns."""
    return sorted(f"{key}:<name>" if entry.parametric else key for key, entry in _REGISTRY.items())


def _resolve(name: str) -> tuple[_Entry, dict[str, str]]:
    """Look `name` up; returns the entry and the extra factory kwargs (the variant, if any)."""
    key, sep, variant = name.partition(":")
    entry = _REGISTRY.get(key)
    if entry is None:
        raise UnknownDatasetError(f"unknown dataset {name!r}; available: {', '.join(available())}")
    if entry.parametric != bool(sep):
        form = f"'{key}:<name>'" if entry.parametric else f"'{key}' (no ':' part)"
        raise UnknownDatasetError(f"dataset {name!r} must be written as {form}")
    if entry.parametric and not variant:
        raise UnknownDatasetError(f"dataset {name!r} needs a name after ':', e.g. '{key}:cifar10'")
    return entry, ({"variant": variant} if entry.parametric else {})


def _verify_files(
    pools: dict[str, Examples],
    indices: dict[str, np.ndarray],
    ignored: tuple[str, ...],
    checks: DataChecks,
) -> tuple[dict[str, np.ndarray], list[Skipped]]:
    """Check the files the splits will read; returns the indices without the unreadable ones
    and what was left out (hidden files included), or refuses them all with `checks.strict`."""
    skipped = [Skipped(path, "hidden file") for path in ignored]
    kept = dict(indices)
    used = [s for s in SPLIT_NAMES if pools[s].paths is not None and len(indices[s])]
    mode = resolve_mode(checks.verify_images, sum(len(indices[s]) for s in used))
    for split in used:
        paths = pools[split].paths
        problems = file_problems(list(paths[indices[split]]), mode)
        skipped += [Skipped(str(paths[indices[split][i]]), why) for i, why in problems.items()]
        keep = np.ones(len(indices[split]), bool)
        keep[list(problems)] = False
        kept[split] = indices[split][keep]
    if skipped and checks.strict:
        refuse_strict(skipped)
    return kept, skipped


def _check_source(source: Source, name: str, skipped: list[Skipped]) -> None:
    """Classes and labels of the training examples, the skipped files not counted."""
    labels, paths = source.train.labels, source.train.paths
    if labels is not None and paths is not None and skipped:
        labels = labels[~np.isin(paths, [s.path for s in skipped])]
    check_classes(source.class_names, labels, f"dataset {name}")


def _grouping(source: Source, name: str, rule: GroupRule | None) -> tuple[Grouping | None, str]:
    """The hold-out groups of the training examples under `rule` (None: no rule), and the log
    line saying how they came out."""
    if rule is None:
        return None, ""
    if source.train.relative is None:
        raise DatasetFormatError(
            f"--holdout_groups={rule.text}: dataset {name} has no file names to group by; the "
            "rule applies to image folders"
        )
    grouping = group_examples(rule, source.train.relative, source.train.labels)
    return grouping, grouping.describe(rule)


def _leak_note(
    source: Source, indices: dict[str, np.ndarray], checks: DataChecks, seed: int
) -> str | None:
    """The near-copy warning of the hold-outs drawn from an image folder's training images,
    when no group rule binds two images (the caller's test) and the checks read files. A `val/` or
    `test/` folder is the user's own split, which no rule changes: not checked."""
    drawn = [s for s, own in (("val", source.val), ("test", source.test)) if own is None]
    holdout = np.concatenate([indices[s] for s in drawn] + [np.zeros(0, np.int64)])
    if source.train.relative is None or checks.verify_images == "none" or not len(holdout):
        return None
    training = np.concatenate([indices["train"], indices["arch"]])
    return check_holdout(source.train, holdout, training, seed)


def load_splits(
    name: str,
    *,
    data_dir: str | None = None,
    image_size: int | None = None,
    arch_fraction: float = 0.2,
    val_fraction: float = 0.1,
    limit: int | None = None,
    seed: int = 0,
    test_fraction: float = 0.2,
    checks: DataChecks | None = None,
    augment: str = DEFAULT_POLICY,
    options: InputOptions | None = None,
    tally: DecodeTally | None = None,
    holdout_groups: str | None = None,
    **source_kwargs,
) -> DataSplits:
    """Load dataset `name`, check it (`ednas_tf.data.checks`) and split it into train / arch /
    val / test.

    val_fraction of the training examples is held out for validation; of the rest, arch_fraction
    goes to `arch`. When the source has no test split, test_fraction of the training examples is
    held out first as `test`; a source's own validation split is `val`. `limit` caps the training
    examples used (before splitting), the test and the validation examples, for quick runs.
    Images are resized (bilinear) to image_size x image_size when given. Deterministic for a
    seed. Every split's records are chosen here, before any image is decoded. `checks`: how hard
    to check (default: DataChecks()); files it skips are left out of the splits and listed in
    `DataSplits.skipped`. `augment`: the policy training streams use; `options`: threads and
    cache of the tf.data pipeline; `tally`: counts decodes (diagnostics). `holdout_groups`: 'none'
    (or None), 'folder' or a regular expression (`ednas_tf.data.groups`): every hold-out drawn
    from the training examples takes whole groups; without one, an image folder's drawn val and
    test hold-outs are checked for near-copies of the training images (`DataSplits.notes`).
    Extra keyword arguments go to the source.
    """
    if image_size is not None and image_size < 1:
        raise ValueError(f"image_size must be positive, got {image_size}")
    check_policy(augment)
    checks = checks or DataChecks()
    options = options or InputOptions()
    entry, extra = _resolve(name)
    rule = parse_rule(holdout_groups)  # a bad pattern before the data is listed
    source = entry.factory(data_dir=data_dir, image_size=image_size, **extra, **source_kwargs)
    grouping, group_note = _grouping(source, name, rule)
    indices = split_indices(
        source.train.size,
        None if source.test is None else source.test.size,
        arch_fraction=arch_fraction,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        limit=limit,
        seed=seed,
        num_val=None if source.val is None else source.val.size,
        contiguous=source.contiguous,
        groups=None if grouping is None else grouping.ids,
    )
    check_classes(source.class_names, None, f"dataset {name}")  # one class: before the files
    pools = {split: source.train for split in SPLIT_NAMES}
    if source.test is not None:
        pools["test"] = source.test
    if source.val is not None:
        pools["val"] = source.val
    indices, skipped = _verify_files(pools, indices, source.ignored, checks)
    _check_source(source, name, skipped)
    sizes = {split: len(idx) for split, idx in indices.items()}
    check_split_sizes(sizes, checks, limit)
    bound = grouping is not None and grouping.binds  # a rule that groups nothing is none
    leak = None if bound else _leak_note(source, indices, checks, seed)
    notes = [note for note in (group_note, leak) if note]

    native_height, native_width, channels = source.image_shape
    height, width = (image_size, image_size) if image_size else (native_height, native_width)

    def split_input(split: str) -> SplitInput:
        pool, chosen = pools[split], indices[split]
        key = hashlib.sha1(repr((name, data_dir, seed, split, height, width)).encode())
        key.update(np.asarray(chosen, np.int64).tobytes())
        return SplitInput(
            records=pool.select(chosen),
            size=len(chosen),
            image_size=(height, width),
            channels=channels,
            fetch=pool.fetch,
            decode=pool.decode,
            policy=augment,
            options=options,
            cache_key=f"{split}-{key.hexdigest()[:16]}",
            tally=tally,
        )

    inputs = {split: split_input(split) for split in SPLIT_NAMES}

    def select(split: str, positions: np.ndarray) -> tf.data.Dataset:
        return inputs[split].restricted(positions).evaluation()

    def labels(split: str) -> np.ndarray | None:
        pool = pools[split].labels
        return None if pool is None else pool[indices[split]]

    return DataSplits(
        name=name,
        input_shape=(height, width, channels),
        num_classes=len(source.class_names),
        class_names=list(source.class_names),
        sizes=sizes,
        skipped=skipped,
        labels={split: labels(split) for split in SPLIT_NAMES},
        select=select,
        inputs=inputs,
        augment=augment,
        notes=notes,
        holdout_groups=NO_RULE if rule is None else rule.text,
        **{split: inputs[split].evaluation() for split in SPLIT_NAMES},
    )
