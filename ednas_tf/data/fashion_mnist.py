"""Fashion-MNIST from local IDX gz files; never downloads (tools/get_fashion_mnist.sh fetches it).

Why several places: the same files may come from the project cache, Debian's dataset-fashion-mnist
package, or an earlier Keras download; reusing any of them keeps runs offline.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ednas_tf.data.cache import data_cache_dir
from ednas_tf.data.errors import DatasetNotFoundError
from ednas_tf.data.idx import read_idx_gz
from ednas_tf.data.registry import register
from ednas_tf.data.source import Source, source_from_arrays

CLASS_NAMES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
_FETCH_HINT = "run tools/get_fashion_mnist.sh, or pass data_dir= a folder holding the files"


def search_dirs(data_dir: str | None) -> list[Path]:
    """Folders looked at, in order: data_dir, project cache, Debian package, Keras cache."""
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser()
    candidates = [
        data_cache_dir() / "fashion-mnist",
        SYSTEM_DIR,
        keras_home / "datasets" / "fashion-mnist",
    ]
    return ([Path(data_dir).expanduser()] if data_dir else []) + candidates


def _has_files(folder: Path) -> bool:
    return all((folder / name).is_file() for pair in FILES.values() for name in pair)


def find_dir(data_dir: str | None) -> Path:
    """First folder holding the four files, else an error listing every place looked at."""
    looked = search_dirs(data_dir)
    for folder in looked:
        if _has_files(folder):
            return folder
    wanted = ", ".join(name for pair in FILES.values() for name in pair)
    places = "\n  ".join(str(folder) for folder in looked)
    raise DatasetNotFoundError(
        f"Fashion-MNIST files ({wanted}) not found in any of:\n  {places}\n{_FETCH_HINT}"
    )


def _read_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    image_file, label_file = FILES[split]
    return (
        read_idx_gz(folder / image_file, expected_ndim=3),
        read_idx_gz(folder / label_file, expected_ndim=1),
    )


@register("fashion_mnist")
def load_fashion_mnist(*, data_dir: str | None = None, image_size: int | None = None) -> Source:
    """28x28x1 uint8 images, 60k train / 10k test; resizing, if asked, happens in the pipeline."""
    del image_size
    folder = find_dir(data_dir)
    return source_from_arrays(
        _read_split(folder, "train"),
        _read_split(folder, "test"),
        class_names=list(CLASS_NAMES),
        where=f"Fashion-MNIST in {folder}",
    )
