"""Data at scale: splits chosen before decoding (TFDS slicing, image_folder val/ and test/), each
image decoded once per pass, the augmentation policies, and the policy carried by the run."""

import json
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from ednas_tf import data
from ednas_tf.data.augment import POLICIES, eval_view
from ednas_tf.data.pipeline import split_indices
from ednas_tf.data.plan import (
    DecodeTally,
    InputOptions,
    check_cache,
    choose_eval_split,
    index_runs,
    tfds_split_spec,
)
from ednas_tf.rundir import RunDir
from ednas_tf.streams import BatchStream
from tests.cli import run_cli
from tests.fake_tfds import fake_tfds

SPLIT_FRACTIONS = {"arch_fraction": 0.25, "val_fraction": 0.2, "test_fraction": 0.2}

# --- TFDS: the split choice, as pure functions and through a fake builder -------------------------


def test_index_runs_and_slicing_text():
    assert index_runs(np.array([7, 8, 9, 0, 1, 4])) == [(0, 2), (4, 5), (7, 10)]
    assert tfds_split_spec("train", np.array([5, 6, 7, 0, 1])) == "train[0:2]+train[5:8]"
    assert tfds_split_spec("train", np.array([], np.int64)) is None


def test_contiguous_splits_are_runs_that_tfds_slices():
    for seed in range(4):
        splits = split_indices(1000, None, limit=300, seed=seed, contiguous=True, **SPLIT_FRACTIONS)
        used = np.concatenate(list(splits.values()))
        assert len(used) == len(set(used.tolist())) == 300  # disjoint, the limit respected
        for indices in splits.values():
            assert len(index_runs(indices)) <= 2  # at most one wrap-around
    other = split_indices(1000, None, limit=300, seed=1, contiguous=True, **SPLIT_FRACTIONS)
    assert not np.array_equal(other["train"], splits["train"])  # the seed moves the window


def test_eval_split_is_the_first_labelled_one():
    labelled = {"train": True, "test": False, "validation": True}
    prefer = ("test", "validation")
    assert choose_eval_split(list(labelled), labelled.get, prefer) == "validation"
    assert choose_eval_split(["train", "test"], {"test": True}.get, prefer) == "test"
    assert choose_eval_split(["train", "test"], {"test": False}.get, prefer) is None


def test_tfds_reads_slices_and_scores_on_the_labelled_split(tmp_path, monkeypatch):
    fake = fake_tfds(
        tmp_path, splits={"train": 20, "test": 5, "validation": 6}, unlabelled=("test",)
    )
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
    splits = data.load_splits(
        "tfds:fake", data_dir=str(tmp_path), image_size=8, seed=3, **SPLIT_FRACTIONS
    )
    assert splits.sizes["test"] == 6  # validation: test has no labels
    images, labels = zip(*splits.test.as_numpy_iterator(), strict=True)
    assert min(labels) >= 0 and np.stack(images).shape == (6, 8, 8, 3)
    train_reads = [spec for spec in fake.reads if spec.startswith("train[") and ":" in spec]
    assert train_reads and all("[" in part for spec in train_reads for part in spec.split("+"))
    counted = (
        sum(1 for _ in splits.train) + sum(1 for _ in splits.arch) + sum(1 for _ in splits.val)
    )
    assert counted == 20


def test_tfds_without_labelled_eval_split_holds_out_train(tmp_path, monkeypatch, capsys):
    fake = fake_tfds(tmp_path, splits={"train": 20, "test": 5}, unlabelled=("test",))
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
    splits = data.load_splits("tfds:fake", data_dir=str(tmp_path), **SPLIT_FRACTIONS)
    assert splits.sizes["test"] == 4 and "no labels" in capsys.readouterr().out


def test_tfds_train_split_without_labels_is_refused(tmp_path, monkeypatch):
    fake = fake_tfds(tmp_path, splits={"train": 10, "test": 4}, unlabelled=("train",))
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
    with pytest.raises(data.DatasetFormatError, match="'train' split has no labels"):
        data.load_splits("tfds:fake", data_dir=str(tmp_path))


# --- image_folder: train/ with val/ and test/, any mode -------------------------------------------


def write_folder(root, counts: dict[str, int], modes=("RGB",), size=(9, 7)):
    """`counts[class]` images per class, cycling through the PIL `modes` and growing sizes."""
    rng = np.random.default_rng(0)
    for name, count in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            mode = modes[i % len(modes)]
            shape = (size[1] + i, size[0] + 2 * i, len(mode))
            pixels = rng.integers(0, 256, shape, dtype=np.uint8)
            image = Image.fromarray(pixels[..., 0] if mode == "L" else pixels, mode)
            image.save(root / name / f"{name}{i}.png")


@pytest.fixture
def folder(tmp_path):
    write_folder(tmp_path / "train", {"a": 8, "b": 8}, modes=("RGB", "L", "RGBA"))
    write_folder(tmp_path / "val", {"a": 2, "b": 3}, modes=("RGBA",))
    write_folder(tmp_path / "test", {"a": 3, "b": 1}, modes=("L",))
    return tmp_path


def test_image_folder_val_folder_is_the_validation_split(folder):
    splits = data.load_splits(
        "image_folder", data_dir=str(folder), image_size=12, arch_fraction=0.25, val_fraction=0.5
    )
    assert splits.sizes == {"train": 12, "arch": 4, "val": 5, "test": 4}  # nothing held out
    assert sorted(splits.labels["val"].tolist()) == [0, 0, 1, 1, 1]
    for name in ("train", "val", "test"):
        images, _ = zip(*getattr(splits, name).as_numpy_iterator(), strict=True)
        images = np.stack(images)
        assert images.shape[1:] == (12, 12, 3) and images.dtype == np.float32
        assert 0.0 <= images.min() and images.max() <= 1.0
    assert splits.inputs["train"].fetched.element_spec[0].dtype == tf.string  # bytes shuffled


def test_image_folder_grayscale_and_rgba_convert_to_one_channel(folder):
    splits = data.load_splits("image_folder", data_dir=str(folder), image_size=8, channels=1)
    images = np.stack([image for image, _ in splits.val.as_numpy_iterator()])  # RGBA files
    assert images.shape == (5, 8, 8, 1)


def test_each_image_is_decoded_once_per_pass(folder):
    tally = DecodeTally()
    splits = data.load_splits(
        "image_folder",
        data_dir=str(folder),
        image_size=12,
        augment="inception",
        tally=tally,
        options=InputOptions(threads=2, cache="memory"),
        arch_fraction=0.25,
    )
    for _ in splits.inputs["train"].batches(4, augment=True, shuffle_seed=0):
        pass
    for name in ("arch", "val", "test"):
        list(data.batched(getattr(splits, name), 4, training=False))
    total = sum(splits.sizes.values())
    assert tally.summary() == {
        "images": total,
        "decodes": total,
        "decodes_per_image": 1.0,
        "max_decodes": 1,
    }
    tally.reset()  # a resumed stream reads from the batch it stopped at: the skipped stay encoded
    stream = BatchStream(splits.inputs["train"], 4, seed=0)
    assert stream.per_pass == 3
    next(iter(stream.batches(2)))
    assert tally.summary()["decodes"] <= 4


# --- augmentation policies ------------------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_policy_batches_shape_dtype_range(policy):
    splits = data.load_splits(
        "synthetic", num_examples=64, num_test_examples=8, channels=3, image_size=16, augment=policy
    )
    assert splits.augment == policy
    source = splits.inputs["train"]
    images, labels = next(iter(source.batches(8, augment=True, seed=1, shuffle_seed=1)))
    plain, _ = next(iter(source.batches(8, augment=False, shuffle_seed=1)))
    assert images.shape == (8, 16, 16, 3) and images.dtype == tf.float32
    assert labels.dtype == tf.int32
    assert 0.0 <= float(tf.reduce_min(images)) and float(tf.reduce_max(images)) <= 1.0
    assert np.array_equal(images.numpy(), plain.numpy()) == (policy == "none")


def test_inception_eval_takes_the_central_crop_from_128_px():
    ring = np.full((256, 256, 3), 255, np.uint8)
    ring[16:-16, 16:-16] = 0  # the central 224 px (0.875) are black
    centre = eval_view(tf.constant(ring), (128, 128), "inception")
    assert centre.dtype == tf.uint8 and centre.shape == (128, 128, 3)
    assert int(tf.reduce_max(centre)) == 0
    for size, policy in (((64, 64), "inception"), ((128, 128), "flip_crop")):
        assert int(tf.reduce_max(eval_view(tf.constant(ring), size, policy))) > 0


def test_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="unknown augmentation policy"):
        data.load_splits("synthetic", num_examples=64, augment="mixup")


# --- the policy is a fact of the run -----------------------------------------------------------


def test_train_uses_the_policy_the_run_recorded(tmp_path):
    arch = {
        "input_shape": [16, 16, 1],
        "num_classes": 4,
        "stem": "conv_k3_c8_s1",
        "blocks": ["ir_k3_e1_c8_s2"],
    }
    (tmp_path / "arch.json").write_text(json.dumps(arch))
    facts = {"dataset": "synthetic", "limit": 160, "seed": 0, "image_size": 16, "augment": "crop"}
    RunDir.at(tmp_path).record("search", facts)
    args = ["--batch_size=16", "--epochs=1", "--warmup_epochs=0", "--steps_per_epoch=2"]
    train = run_cli(["pipelines/train.py", f"--run_dir={tmp_path}", "--verbose=0", *args], 600)
    assert train.returncode == 0, train.stderr[-2000:]
    metrics = json.loads((tmp_path / "train" / "train_metrics.json").read_text())
    assert metrics["augment"] == "crop"  # the data the training read used the run's policy
    assert RunDir.at(tmp_path).stage_records()["train"]["augment"] == "crop"
    refused = run_cli(["pipelines/train.py", f"--run_dir={tmp_path}", "--augment=mixup"])
    assert refused.returncode != 0 and "augment" in refused.stderr


def test_folder_cache_is_filled_once_and_refused_when_missing(folder, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    options = InputOptions(cache=str(cache))
    first = data.load_splits("image_folder", data_dir=str(folder), image_size=8, options=options)
    filled = sorted(p.name for p in cache.glob("*.index"))
    assert len(filled) == 4  # one per split, written while loading
    again = data.load_splits("image_folder", data_dir=str(folder), image_size=8, options=options)
    assert sorted(p.name for p in cache.glob("*.index")) == filled  # reused, not rewritten
    for name in ("train", "test"):
        a = np.stack([x for x, _ in getattr(first, name).as_numpy_iterator()])
        b = np.stack([x for x, _ in getattr(again, name).as_numpy_iterator()])
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="neither none, memory nor an existing folder"):
        check_cache(str(tmp_path_factory.getbasetemp() / "no-such-folder"))
