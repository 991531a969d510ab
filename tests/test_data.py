"""Tests of ednas_tf.data: splits, determinism, resizing, pipelines and every source's loader."""



import gzip
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from ednas_tf import data
from ednas_tf.data import fashion_mnist
from ednas_tf.data.pipeline import augment_batch, split_indices
from tests.fake_tfds import fake_tfds

SMALL = {"num_examples": 200, "num_test_examples": 40}


def to_numpy(ds: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """All (images, labels) of an unbatched split, in order."""
    images, labels = zip(*ds.as_numpy_iterator(), strict=True)
    return np.stack(images), np.array(labels)


def check_split(ds: tf.data.Dataset, shape: tuple[int, int, int], size: int) -> None:
    images, labels = to_numpy(ds)
    assert images.shape == (size, *shape)
    assert images.dtype == np.float32 and labels.dtype == np.int32
    assert images.min() >= 0.0 and images.max() <= 1.0


# --- registry -----------------------------------------------------------------------------------


def test_available_lists_every_source():
    assert data.available() == ["fashion_mnist", "image_folder", "npz", "synthetic", "tfds:<name>"]


def test_unknown_name_lists_available():
    with pytest.raises(data.UnknownDatasetError) as err:
        data.load_splits("imagenet-tiny")
    for name in data.available():
        assert name in str(err.value)


@pytest.mark.parametrize("name", ["tfds", "tfds:", "synthetic:big"])
def test_malformed_parametric_names(name):
    with pytest.raises(data.UnknownDatasetError):
        data.load_splits(name)


# --- splits -------------------------------------------------------------------------------------


@pytest.mark.parametrize("num_test", [None, 30])
def test_split_indices_disjoint_and_complete(num_test):
    kwargs = {"arch_fraction": 0.2, "val_fraction": 0.1, "test_fraction": 0.25, "seed": 3}
    splits = split_indices(100, num_test, limit=None, **kwargs)
    from_train = ["train", "arch", "val"] + (["test"] if num_test is None else [])
    used = np.concatenate([splits[name] for name in from_train])
    assert sorted(used) == list(range(100))  # disjoint and nothing lost
    if num_test is None:
        assert len(splits["test"]) == 25 and len(splits["val"]) == round(75 * 0.1)
    else:
        assert sorted(splits["test"]) == list(range(30)) and len(splits["val"]) == 10

    limited = split_indices(100, num_test, limit=40, **kwargs)
    assert sum(len(limited[name]) for name in from_train) == 40
    assert len(limited["test"]) <= 40


def test_split_indices_rejects_bad_arguments():
    with pytest.raises(ValueError, match="arch_fraction"):
        split_indices(
            10, None, arch_fraction=1.0, val_fraction=0.1, test_fraction=0.2, limit=None, seed=0
        )
    with pytest.raises(ValueError, match="no training examples"):
        split_indices(
            2, None, arch_fraction=0.2, val_fraction=0.9, test_fraction=0.0, limit=None, seed=0
        )


def test_load_splits_sizes_and_specs():
    splits = data.load_splits("synthetic", limit=100, arch_fraction=0.2, val_fraction=0.1, **SMALL)
    assert splits.sizes == {"train": 72, "arch": 18, "val": 10, "test": 40}
    assert splits.input_shape == (32, 32, 1)
    assert splits.num_classes == len(splits.class_names) == 4
    for name, size in splits.sizes.items():
        check_split(getattr(splits, name), splits.input_shape, size)
    image_spec, label_spec = splits.train.element_spec
    assert image_spec.shape == (32, 32, 1) and label_spec.shape == ()


def test_splits_are_disjoint_examples():
    splits = data.load_splits("synthetic", **SMALL)
    images = {name: to_numpy(getattr(splits, name))[0] for name in ("train", "arch", "val")}
    keys = [{img.tobytes() for img in imgs} for imgs in images.values()]
    assert sum(len(k) for k in keys) == len(set().union(*keys)) == 200


def test_deterministic_for_a_seed():
    first = data.load_splits("synthetic", seed=5, limit=80, **SMALL)
    second = data.load_splits("synthetic", seed=5, limit=80, **SMALL)
    other = data.load_splits("synthetic", seed=6, limit=80, **SMALL)
    for name in ("train", "arch", "val", "test"):
        a, b = to_numpy(getattr(first, name)), to_numpy(getattr(second, name))
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(to_numpy(first.train)[0], to_numpy(other.train)[0])


def test_resize_keeps_channels_and_range(tmp_path):
    path = tmp_path / "rgb.npz"
    rng = np.random.default_rng(0)
    np.savez(
        path,
        x_train=rng.integers(0, 256, (20, 12, 10, 3), dtype=np.uint8),
        y_train=rng.integers(0, 2, 20),
    )
    splits = data.load_splits("npz", data_dir=str(path), image_size=16)
    assert splits.input_shape == (16, 16, 3)
    check_split(splits.train, (16, 16, 3), splits.sizes["train"])


# --- batched ------------------------------------------------------------------------------------


def test_batched_shapes():
    splits = data.load_splits("synthetic", **SMALL)
    train = data.batched(splits.train, 16, training=True, drop_remainder=True)
    shapes = [images.shape for images, _ in train]
    assert shapes == [(16, 32, 32, 1)] * (splits.sizes["train"] // 16)
    test = list(data.batched(splits.test, 16, training=False))
    assert sum(len(labels) for _, labels in test) == splits.sizes["test"]
    images, labels = next(iter(data.batched(splits.train, 8, training=True, repeat=True)))
    assert images.shape == (8, 32, 32, 1) and labels.shape == (8,) and labels.dtype == tf.int32


def test_batched_eval_keeps_order_and_values():
    splits = data.load_splits("synthetic", **SMALL)
    batches = list(data.batched(splits.test, 7, training=False).as_numpy_iterator())
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), to_numpy(splits.test)[0])


def test_batched_training_is_deterministic_and_augmentation_keeps_range():
    splits = data.load_splits("synthetic", **SMALL)

    def first_batches(seed: int, augment: bool | None = None) -> np.ndarray:
        ds = data.batched(splits.train, 32, training=True, seed=seed, augment=augment, repeat=True)
        return np.stack([images for images, _ in ds.take(3).as_numpy_iterator()])

    a, b = first_batches(1), first_batches(1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, first_batches(2))
    assert a.shape == (3, 32, 32, 32, 1) and a.min() >= 0.0 and a.max() <= 1.0
    plain = first_batches(1, augment=False)  # same shuffle, no augmentation
    assert not np.array_equal(a, plain)
    originals = {img.tobytes() for img in to_numpy(splits.train)[0]}
    assert all(img.tobytes() in originals for img in plain.reshape(-1, 32, 32, 1))


def test_augment_batch_flips_and_shifts_content():
    images = tf.random.stateless_uniform([64, 16, 16, 2], seed=[0, 1])
    out = augment_batch(images, tf.constant([4, 2], tf.int64)).numpy()
    assert out.shape == images.shape
    base = images.numpy()
    pad = 16 // 8
    for src, dst in zip(base, out, strict=True):
        # Every output is the input, maybe flipped, shifted by at most `pad` with zero fill.
        candidates = [src, src[:, ::-1]]
        found = False
        for cand in candidates:
            padded = np.pad(cand, [(pad, pad), (pad, pad), (0, 0)])
            for dy in range(2 * pad + 1):
                for dx in range(2 * pad + 1):
                    found |= np.array_equal(padded[dy : dy + 16, dx : dx + 16], dst)
        assert found
    assert not np.array_equal(out, base)


def test_random_erasing_replaces_one_box_and_keeps_flip_and_crop():
    images = tf.zeros([256, 16, 16, 1])  # zeros: any erased pixel is noise > 0
    seed = tf.constant([4, 2], tf.int64)
    plain = augment_batch(images, seed).numpy()
    never = augment_batch(images, seed, erase_probability=0.0).numpy()
    np.testing.assert_array_equal(plain, never)
    erased = augment_batch(images, seed, erase_probability=0.5).numpy()
    assert erased.min() >= 0.0 and erased.max() <= 1.0
    touched = erased[..., 0] > 0
    counts = touched.reshape(256, -1).sum(axis=1)
    share_erased = float((counts > 0).mean())
    assert 0.35 < share_erased < 0.65  # ~ the probability
    for mask in touched[counts > 0]:
        rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
        # one solid box (noise is > 0 almost surely), within the area range
        box = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        assert box.all() and box.sum() == mask.sum()
        assert 1 <= box.sum() <= 0.4 * 256 * 1.5  # rounding of the sides
    # flip and crop draw the same seeds with or without erasing
    content = tf.random.stateless_uniform([8, 16, 16, 1], seed=[0, 1]) + 2.0  # > 1: not noise
    with_erase = augment_batch(content, seed, erase_probability=1.0).numpy()
    without = augment_batch(content, seed).numpy()
    kept = with_erase > 1.0
    np.testing.assert_array_equal(with_erase[kept], without[kept])
    assert (~kept).any()


def test_batched_passes_erase_probability():
    splits = data.load_splits("synthetic", **SMALL)

    def first(erase: float) -> np.ndarray:
        ds = data.batched(splits.train, 32, training=True, seed=1, erase_probability=erase)
        return next(ds.as_numpy_iterator())[0]

    assert not np.array_equal(first(0.0), first(1.0))
    np.testing.assert_array_equal(first(0.0), first(0.0))


# --- fashion_mnist ------------------------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def write_fake_fashion_mnist(folder: Path, n_train: int = 30, n_test: int = 10) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, array in arrays.items():
        (folder / name).write_bytes(gzip.compress(idx_bytes(array)))
    return arrays


@pytest.fixture
def no_fashion_mnist_elsewhere(tmp_path, monkeypatch):
    """Point every default location at empty folders so only the test's files can be found."""
    monkeypatch.setenv("EDNAS_DATA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", tmp_path / "system")


def test_fashion_mnist_reads_idx_files(tmp_path, no_fashion_mnist_elsewhere):
    arrays = write_fake_fashion_mnist(tmp_path / "fm")
    splits = data.load_splits(
        "fashion_mnist", data_dir=str(tmp_path / "fm"), val_fraction=0.0, arch_fraction=0.0
    )
    assert splits.class_names[0] == "T-shirt/top" and splits.class_names[9] == "Ankle boot"
    assert splits.input_shape == (28, 28, 1)
    assert splits.sizes == {"train": 30, "arch": 0, "val": 0, "test": 10}
    images, labels = to_numpy(splits.test)  # the test split keeps the file order
    np.testing.assert_array_equal(labels, arrays["t10k-labels-idx1-ubyte.gz"])
    np.testing.assert_allclose(images[..., 0] * 255, arrays["t10k-images-idx3-ubyte.gz"], atol=1e-3)


def test_fashion_mnist_found_in_cache_override(tmp_path, no_fashion_mnist_elsewhere):
    write_fake_fashion_mnist(tmp_path / "cache" / "fashion-mnist")
    assert data.load_splits("fashion_mnist", limit=5).sizes["test"] == 5


def test_fashion_mnist_missing_lists_places(tmp_path, no_fashion_mnist_elsewhere):
    with pytest.raises(data.DatasetNotFoundError) as err:
        data.load_splits("fashion_mnist", data_dir=str(tmp_path / "nowhere"))
    for place in ("nowhere", "cache", "system", "keras"):
        assert str(tmp_path / place) in str(err.value)
    assert "get_fashion_mnist.sh" in str(err.value)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda raw: raw[:-5], "truncated or corrupt"),
        (lambda raw: b"\x12\x34" + raw[2:], "bad magic"),
    ],
)
def test_fashion_mnist_corrupt_file(tmp_path, no_fashion_mnist_elsewhere, damage, message):
    folder = tmp_path / "fm"
    write_fake_fashion_mnist(folder)
    target = folder / "train-images-idx3-ubyte.gz"
    target.write_bytes(gzip.compress(damage(gzip.decompress(target.read_bytes()))))
    with pytest.raises(data.DatasetFormatError, match=message):
        data.load_splits("fashion_mnist", data_dir=str(folder))


def test_fashion_mnist_broken_gzip(tmp_path, no_fashion_mnist_elsewhere):
    folder = tmp_path / "fm"
    write_fake_fashion_mnist(folder)
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(data.DatasetFormatError, match="corrupt gzip"):
        data.load_splits("fashion_mnist", data_dir=str(folder))


# --- image_folder -------------------------------------------------------------------------------


def write_images(root: Path, sizes: dict[str, list[tuple[int, int]]], suffix: str = ".png"):
    rng = np.random.default_rng(0)
    for name, shapes in sizes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i, (w, h) in enumerate(shapes):
            pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"img{i}{suffix}")


def test_image_folder_resizes_any_size(tmp_path):
    write_images(tmp_path / "train", {"cat": [(20, 30), (64, 48), (9, 9)], "dog": [(40, 40)] * 3})
    write_images(tmp_path / "test", {"cat": [(33, 17)], "dog": [(12, 50)]}, suffix=".jpg")
    splits = data.load_splits(
        "image_folder", data_dir=str(tmp_path), image_size=16, val_fraction=0.0, arch_fraction=0.2
    )
    assert splits.class_names == ["cat", "dog"]
    assert splits.input_shape == (16, 16, 3)
    assert splits.sizes == {"train": 5, "arch": 1, "val": 0, "test": 2}
    check_split(splits.train, (16, 16, 3), 5)
    assert sorted(to_numpy(splits.test)[1]) == [0, 1]


def test_image_folder_grayscale_and_held_out_test(tmp_path):
    write_images(tmp_path, {"a": [(10, 10)] * 6, "b": [(7, 13)] * 4})
    splits = data.load_splits(
        "image_folder",
        data_dir=str(tmp_path),
        image_size=8,
        channels=1,
        test_fraction=0.2,
        val_fraction=0.0,
        arch_fraction=0.0,
    )
    assert splits.input_shape == (8, 8, 1)
    assert splits.sizes == {"train": 8, "arch": 0, "val": 0, "test": 2}
    check_split(splits.test, (8, 8, 1), 2)


def test_image_folder_errors(tmp_path):
    with pytest.raises(data.DatasetNotFoundError, match="not found"):
        data.load_splits("image_folder", data_dir=str(tmp_path / "missing"))
    with pytest.raises(data.DatasetFormatError, match="no class sub-folders"):
        data.load_splits("image_folder", data_dir=str(tmp_path))
    (tmp_path / "empty_class").mkdir()
    (tmp_path / "empty_class" / "notes.txt").write_text("not an image")
    with pytest.raises(data.DatasetFormatError, match="no images"):
        data.load_splits("image_folder", data_dir=str(tmp_path))


# --- npz ----------------------------------------------------------------------------------------


def test_npz_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    x_train = rng.integers(0, 256, (50, 8, 8), dtype=np.uint8)
    y_train = rng.integers(0, 3, 50)
    x_test = rng.random((6, 8, 8)).astype(np.float32)
    y_test = np.arange(6) % 3
    path = tmp_path / "d.npz"
    np.savez(
        path,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        class_names=np.array(["a", "b", "c"]),
    )
    splits = data.load_splits("npz", path=str(path), val_fraction=0.0, arch_fraction=0.0)
    assert splits.class_names == ["a", "b", "c"] and splits.input_shape == (8, 8, 1)
    images, labels = to_numpy(splits.test)
    np.testing.assert_allclose(images[..., 0], x_test)
    np.testing.assert_array_equal(labels, y_test)
    train_images, train_labels = to_numpy(splits.train)
    order = np.argsort([img.tobytes() for img in (x_train / 255.0).astype(np.float32)])
    got = np.argsort([img[..., 0].tobytes() for img in train_images])
    np.testing.assert_array_equal(train_labels[got], y_train[order])


def test_npz_errors(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, x_train=np.zeros((4, 5, 5), np.uint8), x_test=np.zeros((2, 5, 5), np.uint8))
    with pytest.raises(data.DatasetFormatError, match="y_train, y_test"):
        data.load_splits("npz", data_dir=str(path))
    np.savez(path, x_train=np.zeros((4, 5), np.uint8), y_train=np.zeros(4, int))
    with pytest.raises(data.DatasetFormatError, match=r"\(N, H, W\)"):
        data.load_splits("npz", data_dir=str(path))
    np.savez(path, x_train=np.full((4, 5, 5), 2.0), y_train=np.zeros(4, int))
    with pytest.raises(data.DatasetFormatError, match=r"\[0, 1\]"):
        data.load_splits("npz", data_dir=str(path))
    with pytest.raises(data.DatasetNotFoundError):
        data.load_splits("npz", data_dir=str(tmp_path / "missing.npz"))


# --- tfds (optional dependency) -----------------------------------------------------------------


def test_tfds_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # makes the import fail
    with pytest.raises(ImportError, match="pip install tensorflow-datasets"):
        data.load_splits("tfds:cifar10")


def test_tfds_reads_prepared_dataset(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake_tfds(tmp_path, prepared=True))
    splits = data.load_splits(
        "tfds:fake", data_dir=str(tmp_path), limit=8, val_fraction=0.25, arch_fraction=0.0
    )
    assert splits.class_names == ["even", "odd"]
    assert splits.input_shape == (32, 32, 3)  # variable-size images get the default size
    assert splits.sizes == {"train": 6, "arch": 0, "val": 2, "test": 4}
    check_split(splits.train, (32, 32, 3), 6)
    check_split(splits.test, (32, 32, 3), 4)


def test_tfds_not_prepared_never_downloads(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake_tfds(tmp_path, prepared=False))
    with pytest.raises(data.DatasetNotFoundError, match="not prepared"):
        data.load_splits("tfds:fake", data_dir=str(tmp_path))


# --- synthetic ----------------------------------------------------------------------------------


def test_synthetic_options():
    splits = data.load_splits("synthetic", num_classes=10, channels=3, image_size=24, **SMALL)
    assert splits.input_shape == (24, 24, 3) and splits.num_classes == 10
    assert len(set(splits.class_names)) == 10
    assert set(to_numpy(splits.train)[1]) <= set(range(10))


def test_synthetic_is_learnable_by_a_tiny_cnn():
    """A tiny conv net must clearly beat chance (0.25) on held-out data within ~150 steps."""
    tf.keras.utils.set_random_seed(0)
    splits = data.load_splits("synthetic", seed=0)
    layers = tf.keras.layers
    model = tf.keras.Sequential(
        [
            layers.Input(splits.input_shape),
            layers.Conv2D(16, 3, strides=2, padding="same", activation="relu"),
            layers.Conv2D(32, 3, strides=2, padding="same", activation="relu"),
            layers.Conv2D(32, 3, strides=2, padding="same", activation="relu"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(splits.num_classes),
        ]
    )
    model.compile(
        optimizer=tf.keras.optimizers.Adam(3e-3),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    train = data.batched(splits.train, 64, training=True, repeat=True)
    model.fit(train, steps_per_epoch=150, epochs=1, verbose=0)
    _, accuracy = model.evaluate(data.batched(splits.test, 256, training=False), verbose=0)
    assert accuracy > 0.4, f"test accuracy {accuracy:.2f} (chance 0.25)"
