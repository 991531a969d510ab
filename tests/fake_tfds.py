"""A stand-in for tensorflow_datasets (not a project dependency): one prepared builder whose
splits are PNG-encoded records, read by TFDS split slicing ('train[2:5]+train[7:9]') with
`SkipDecoding`, as `ednas_tf.data.tfds` reads the real package."""

from __future__ import annotations

import re
import types
from pathlib import Path

import numpy as np
import tensorflow as tf

_SLICE = re.compile(r"^(\w+)(?:\[(-?\d*):(-?\d*)\])?$")


def _encoded(images: np.ndarray) -> np.ndarray:
    return np.array([tf.io.encode_png(image).numpy() for image in images], dtype=object)


def fake_tfds(
    tmp_path: Path,
    prepared: bool = True,
    splits: dict[str, int] | None = None,
    unlabelled: tuple[str, ...] = (),
    image_shape: tuple = (None, None, 3),
) -> types.ModuleType:
    """The module with one dataset 'fake': `splits` (name -> size; default 10 train, 4 test) of
    6x6 RGB images labelled `index % 2`, except the `unlabelled` splits (every label -1).
    `reads` (a list on the module) records every split text read."""
    rng = np.random.default_rng(0)
    splits = splits or {"train": 10, "test": 4}
    arrays = {}
    for name, size in splits.items():
        images = rng.integers(0, 256, (size, 6, 6, 3), dtype=np.uint8)
        labels = np.full(size, -1) if name in unlabelled else np.arange(size) % 2
        arrays[name] = (images, labels.astype(np.int64))
    if prepared:
        (tmp_path / "dataset_info.json").write_text("{}")
    reads: list[str] = []
    info = types.SimpleNamespace(
        name="fake",
        features={
            "image": types.SimpleNamespace(
                shape=image_shape, decode_example=lambda data: tf.io.decode_png(data, channels=3)
            ),
            "label": types.SimpleNamespace(names=["even", "odd"]),
        },
        splits={k: types.SimpleNamespace(num_examples=n) for k, n in splits.items()},
    )

    def read(part: str) -> tuple[np.ndarray, np.ndarray]:
        name, start, stop = _SLICE.match(part).groups()
        images, labels = arrays[name]
        window = slice(int(start) if start else None, int(stop) if stop else None)
        return _encoded(images[window]), labels[window]

    def as_dataset(split, as_supervised, shuffle_files, decoders=None, read_config=None):
        assert as_supervised and not shuffle_files
        assert decoders is not None and read_config is not None  # images stay encoded
        reads.append(split)
        parts = [read(part) for part in split.split("+")]
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
        return tf.data.Dataset.from_tensor_slices((images.astype(bytes), labels))

    def builder(name, data_dir, try_gcs):
        assert name == "fake" and not try_gcs
        return types.SimpleNamespace(data_dir=str(data_dir), info=info, as_dataset=as_dataset)

    return types.SimpleNamespace(
        builder=builder,
        decode=types.SimpleNamespace(SkipDecoding=lambda: "skip"),
        ReadConfig=lambda **kwargs: kwargs,
        reads=reads,
    )
