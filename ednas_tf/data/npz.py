"""Arrays in a .npz file: the simplest way to bring your own (already small) dataset.

Keys: x_train, y_train, optional x_test + y_test, optional class_names. Images uint8 0-255 or float
in [0, 1], shaped (N, H, W) or (N, H, W, C).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ednas_tf.data.errors import DatasetFormatError, DatasetNotFoundError
from ednas_tf.data.registry import register
from ednas_tf.data.source import ArrayPair, Source, source_from_arrays

_TRAIN_KEYS = ("x_train", "y_train")
_TEST_KEYS = ("x_test", "y_test")


def _pair(arrays: dict[str, np.ndarray], keys: tuple[str, str]) -> ArrayPair:
    return arrays[keys[0]], arrays[keys[1]]


def read_npz(path: Path) -> Source:
    """Validate the keys of `path` and build a Source from its arrays."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError) as err:
        raise DatasetFormatError(f"{path}: cannot read as .npz ({err})") from err

    missing = [key for key in _TRAIN_KEYS if key not in arrays]
    test_present = [key for key in _TEST_KEYS if key in arrays]
    if len(test_present) == 1:
        missing += [key for key in _TEST_KEYS if key not in arrays]
    if missing:
        raise DatasetFormatError(
            f"{path}: missing key(s) {', '.join(missing)}; "
            f"found {', '.join(sorted(arrays)) or 'none'} "
            f"(expected x_train, y_train and optionally x_test, y_test, class_names)"
        )
    names = arrays.get("class_names")
    return source_from_arrays(
        _pair(arrays, _TRAIN_KEYS),
        _pair(arrays, _TEST_KEYS) if test_present else None,
        class_names=None if names is None else [str(name) for name in names.tolist()],
        where=str(path),
    )


@register("npz")
def load_npz(
    *,
    data_dir: str | None = None,
    image_size: int | None = None,
    path: str | None = None,
) -> Source:
    """`data_dir` (or `path=`) is the .npz file; resizing, if asked, happens in the pipeline."""
    del image_size
    location = path or data_dir
    if location is None:
        raise DatasetNotFoundError("npz dataset needs the .npz file: pass data_dir= or path=")
    file = Path(location).expanduser()
    if not file.is_file():
        raise DatasetNotFoundError(f"npz dataset file not found: {file}")
    return read_npz(file)
