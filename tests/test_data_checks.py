"""The data checks before the first step (ednas_tf.data.checks) and the seeded, class-stratified
samples of a split (ednas_tf.data.sampling)."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ednas_tf import data
from ednas_tf.data import checks, sampling
from ednas_tf.data.checks import DataChecks
from ednas_tf.reporting import summary


def write_folder(root: Path, classes: dict[str, int], suffix: str = ".png") -> Path:
    rng = np.random.default_rng(0)
    for name, count in classes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"img{i}{suffix}")
    return root


def load_folder(root: Path, **kwargs):
    options = {"image_size": 8, "val_fraction": 0.0, "arch_fraction": 0.0, "test_fraction": 0.2}
    return data.load_splits("image_folder", data_dir=str(root), **{**options, **kwargs})


def save_npz(path: Path, images, labels, **extra) -> str:
    np.savez(path, x_train=images, y_train=np.asarray(labels), **extra)
    return str(path)


# --- files ---------------------------------------------------------------------------------------


def test_header_problems(tmp_path):
    good = write_folder(tmp_path, {"a": 1}) / "a" / "img0.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "ok.jpg")
    raw = good.read_bytes()
    cases = {
        "empty.png": (b"", "zero bytes"),
        "noise.jpg": (b"hello, not an image" * 10, "not an image"),
        "cut.png": (raw[: len(raw) // 2], "truncated png"),
        "cut.jpg": ((tmp_path / "ok.jpg").read_bytes()[:-40], "truncated jpeg"),
    }
    for name, (content, reason) in cases.items():
        (tmp_path / name).write_bytes(content)
        assert reason in checks.header_problem(str(tmp_path / name)), name
    assert checks.header_problem(str(good)) is None
    assert checks.header_problem(str(tmp_path / "ok.jpg")) is None
    assert "unreadable" in checks.header_problem(str(tmp_path / "missing.png"))


def test_full_decode_finds_what_the_header_misses(tmp_path):
    good = write_folder(tmp_path, {"a": 2}) / "a"
    raw = bytearray((good / "img0.png").read_bytes())
    raw[40:60] = bytes(20)  # corrupt image data; header and IEND trailer intact
    (good / "img0.png").write_bytes(bytes(raw))
    paths = [str(good / "img0.png"), str(good / "img1.png")]
    assert checks.file_problems(paths, "header") == {}
    assert checks.file_problems(paths, "full") == {0: "cannot be decoded"}
    assert checks.file_problems(paths, "auto") == {0: "cannot be decoded"}
    assert checks.file_problems(paths, "none") == {}
    assert checks.resolve_mode("auto", checks.FULL_DECODE_LIMIT - 1) == "full"
    assert checks.resolve_mode("auto", checks.FULL_DECODE_LIMIT) == "header"


def test_unreadable_and_hidden_files_are_skipped_and_counted(tmp_path):
    root = write_folder(tmp_path / "d", {"a": 6, "b": 6})
    (root / "a" / "empty.jpg").write_bytes(b"")
    (root / "b" / "._img0.png").write_bytes(b"\x00\x05\x16\x07" + bytes(40))
    (root / "b" / ".hidden").mkdir()
    write_folder(root / "b" / ".hidden", {"x": 1})
    splits = load_folder(root)
    reasons = {Path(s.path).name: s.reason for s in splits.skipped}
    assert reasons == {"empty.jpg": "zero bytes", "._img0.png": "hidden file",
                       "img0.png": "hidden file"}  # fmt: skip
    assert sum(splits.sizes.values()) == 12
    note = checks.describe_skipped(splits.skipped)
    assert note.startswith("data: skipped 3 file(s)") and "--strict_data" in note
    with pytest.raises(data.DatasetFormatError, match=r"3 file\(s\) are not readable images"):
        load_folder(root, checks=DataChecks(strict=True))


def test_verify_none_reads_no_file(tmp_path):
    root = write_folder(tmp_path / "d", {"a": 6, "b": 6})
    (root / "a" / "empty.jpg").write_bytes(b"")
    splits = load_folder(root, checks=DataChecks(verify_images="none"))
    assert splits.skipped == [] and sum(splits.sizes.values()) == 13


# --- classes, labels, pixels, sizes -------------------------------------------------------------


def test_one_class_and_classes_without_images(tmp_path):
    with pytest.raises(data.DatasetFormatError, match=r"only one class \(a\)"):
        load_folder(write_folder(tmp_path / "one", {"a": 6}))
    root = write_folder(tmp_path / "few", {"a": 6, "b": 1, "c": 0})
    with pytest.raises(data.DatasetFormatError, match=r"'b' \(1\), 'c' \(0\) have fewer than 2"):
        load_folder(root)


def test_a_class_emptied_by_skipped_files_is_refused(tmp_path):
    root = write_folder(tmp_path / "d", {"a": 6, "b": 1})
    (root / "b" / "bad.png").write_bytes(b"garbage")
    with pytest.raises(data.DatasetFormatError, match=r"'b' \(1\)"):
        load_folder(root, test_fraction=0.0)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (np.r_[np.arange(19) % 2, 999], "distinct labels 0-1, 999"),
        (np.array([0, 2, 5] * 7)[:20], "distinct labels 0, 2, 5"),
        (np.arange(20) % 2 + 1, "distinct labels 1-2"),
    ],
)
def test_npz_labels_must_be_0_to_k_minus_1_without_class_names(tmp_path, labels, message):
    path = save_npz(tmp_path / "d.npz", np.zeros((20, 4, 4), np.uint8), labels)
    with pytest.raises(data.DatasetFormatError, match=message):
        data.load_splits("npz", data_dir=path)


def test_npz_label_beyond_class_names(tmp_path):
    labels = np.r_[np.arange(19) % 2, 2]
    path = save_npz(tmp_path / "d.npz", np.zeros((20, 4, 4), np.uint8), labels,
                    class_names=np.array(["a", "b"]))  # fmt: skip
    with pytest.raises(data.DatasetFormatError, match="out of range for 2 classes"):
        data.load_splits("npz", data_dir=path)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_pixels_are_refused(tmp_path, bad):
    images = np.full((20, 4, 4), 0.5, np.float32)
    images[7, 1, 2] = bad
    path = save_npz(tmp_path / "d.npz", images, np.arange(20) % 2)
    with pytest.raises(data.DatasetFormatError, match=r"NaN or Inf pixels \(first: image 7\)"):
        data.load_splits("npz", data_dir=path)


def test_splits_smaller_than_a_batch(tmp_path):
    path = save_npz(tmp_path / "d.npz", np.zeros((40, 4, 4), np.uint8), np.arange(40) % 2)
    options = {"data_dir": path, "val_fraction": 0.0, "arch_fraction": 0.25, "test_fraction": 0.2}
    splits = data.load_splits("npz", checks=DataChecks(batch_size=16), **options)
    assert splits.sizes["train"] == 24
    with pytest.raises(data.DatasetFormatError, match=r"train split has 24 .*--batch_size=32"):
        data.load_splits("npz", checks=DataChecks(batch_size=32), **options)
    arch = DataChecks(batch_size=16, drop_remainder_splits=("train", "arch"))
    with pytest.raises(data.DatasetFormatError, match=r"arch split has 8 examples"):
        data.load_splits("npz", checks=arch, **options)


def test_check_options_are_validated():
    with pytest.raises(ValueError, match="verify_images"):
        DataChecks(verify_images="sometimes")
    with pytest.raises(ValueError, match="batch_size"):
        DataChecks(batch_size=0)


def test_label_span():
    assert checks.label_span(np.array([3, 0, 1, 2, 9, 999])) == "0-3, 9, 999"


# --- samples ------------------------------------------------------------------------------------


def test_stratified_positions_keep_each_class_share():
    labels = np.repeat(np.arange(5), [100, 50, 30, 15, 5])  # sorted by class, like a folder
    positions = sampling.stratified_positions(labels, 40, seed=3)
    assert len(positions) == 40 == len(set(positions))
    np.testing.assert_array_equal(np.bincount(labels[positions]), [20, 10, 6, 3, 1])
    np.testing.assert_array_equal(positions, sampling.stratified_positions(labels, 40, seed=3))
    assert not np.array_equal(positions, sampling.stratified_positions(labels, 40, seed=4))
    few = sampling.stratified_positions(labels, 6, seed=0)
    assert set(labels[few]) == set(range(5))  # every class once the count allows
    assert len(sampling.stratified_positions(labels, 10_000, seed=0)) == len(labels)


def test_sample_split_says_what_it_is(tmp_path):
    root = write_folder(tmp_path / "d", {"a": 10, "b": 10, "c": 10})
    splits = load_folder(root, test_fraction=0.0)
    ds, sample = sampling.sample_split(splits, "train", 6, seed=1)
    labels = [int(label) for _, label in ds.as_numpy_iterator()]
    assert sorted(labels) == [0, 0, 1, 1, 2, 2]
    assert sample.describe() == "6 of 30 training images, class-stratified sample (seed 1)"
    ds, sample = sampling.sample_split(splits, "train", 30, seed=1)
    assert sample.describe() == "all 30 training images" and sample.as_dict()["how"] == "all"
    assert sum(1 for _ in ds) == 30
    with pytest.raises(ValueError, match="positive count"):
        sampling.sample_split(splits, "train", 0, seed=1)


def test_the_summary_says_which_images_the_export_used():
    row = summary._float_acc({"float_acc": 0.9, "float_test_images": 500})
    assert row == "0.9000 (all 500 test images)"
    assert summary._float_acc({"float_acc": None}) == "-"
