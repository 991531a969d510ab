"""Hold-outs that keep tracks whole (ednas_tf.data.groups) and the near-copy warning when they do
not (ednas_tf.data.near_copies): a folder of tracks, each a few shifted copies of one image."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ednas_tf import data
from ednas_tf.data import groups, near_copies
from ednas_tf.data.pipeline import SPLIT_NAMES, split_indices
from ednas_tf.rundir import RunDir
from tests.cli import run_cli

TRACK_PATTERN = r"^(\d+)_"
SIZE = 32


def track_image(rng: np.random.Generator) -> np.ndarray:
    """A smooth random image (an 8 x 8 colour layout enlarged), what a track films."""
    coarse = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((SIZE + 1, SIZE + 1), Image.BILINEAR))


def write_tracks(root: Path, classes: int = 2, tracks: int = 8, frames: int = 5, *,
                 folders: bool = False, seed: int = 0) -> Path:  # fmt: skip
    """`root`/<class>/<track>_<frame>.png (or <class>/track<track>/<frame>.png with `folders`):
    every frame of a track is its image shifted by up to a pixel."""
    rng = np.random.default_rng(seed)
    for label in range(classes):
        for track in range(tracks):
            image = track_image(rng)
            for index in range(frames):
                dy, dx = rng.integers(0, 2, 2)
                name = f"track{track:03d}/{index:03d}" if folders else f"{track:03d}_{index:03d}"
                path = root / f"c{label}" / f"{name}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(image[dy : dy + SIZE, dx : dx + SIZE]).save(path)
    return root


def load(root: Path, **kwargs):
    options = {"image_size": SIZE, "val_fraction": 0.25, "arch_fraction": 0.25,
               "test_fraction": 0.25}  # fmt: skip
    return data.load_splits("image_folder", data_dir=str(root), **{**options, **kwargs})


def tracks_of(splits, split: str, root: Path) -> set[tuple[str, str]]:
    """The (class, track) of every image of a split, from its path (either layout)."""
    records = splits.inputs[split].records.as_numpy_iterator()
    parts = [Path(path.decode()).relative_to(root).parts for path, _ in records]
    return {(part[0], part[1].split("_")[0]) for part in parts}


def warnings(splits) -> list[str]:
    return [note for note in splits.notes if note.startswith("warning:")]


# --- the warning ---------------------------------------------------------------------------------


def test_near_copies_are_reported_without_a_rule_and_not_with_one(tmp_path):
    root = write_tracks(tmp_path / "tracks")
    (line,) = warnings(load(root))
    assert "near-copies of training images" in line and "--holdout_groups=folder" in line
    held = int(line.split(" of ")[1].split()[0])
    assert held == 35  # the drawn test (25 % of 80) and val (25 % of the other 60) hold-outs
    assert int(line.split()[1]) >= held // 2
    grouped = load(root, holdout_groups=TRACK_PATTERN)
    assert warnings(grouped) == []
    no_folders = load(root, holdout_groups="folder")  # a rule that groups nothing is none
    assert "no two of the 80 training images share a group" in no_folders.notes[0]
    assert len(warnings(no_folders)) == 1
    assert grouped.notes == [
        f"data: --holdout_groups={TRACK_PATTERN}: 80 training images in 16 groups (largest 5) "
        "kept whole on one side of every hold-out"
    ]


def test_no_warning_for_distinct_images_or_without_reading_files(tmp_path):
    distinct = write_tracks(tmp_path / "distinct", tracks=40, frames=1)
    assert warnings(load(distinct)) == []
    tracks = write_tracks(tmp_path / "tracks")
    assert warnings(load(tracks, checks=data.DataChecks(verify_images="none"))) == []


def test_the_hash_sees_shifts_not_other_images():
    rng = np.random.default_rng(3)
    images = [track_image(rng) for _ in range(50)]
    thumbs = np.stack([np.asarray(Image.fromarray(i).convert("L").resize((9, 8), Image.BOX),
                                  np.float32) for i in images])  # fmt: skip
    shifted = np.stack([np.asarray(Image.fromarray(i[1:, 1:]).convert("L").resize(
        (9, 8), Image.BOX), np.float32) for i in images])  # fmt: skip
    hashes, hashable = near_copies.dhash(thumbs)
    moved, _ = near_copies.dhash(shifted)
    assert hashable.all()
    assert near_copies.near_copies(moved, hashes, near_copies.MAX_DISTANCE).mean() > 0.8
    others = np.roll(hashes, 1)  # every image against another one
    for image, other in zip(moved, others, strict=True):
        assert not near_copies.near_copies(image[None], other[None], near_copies.MAX_DISTANCE)
    flat = np.full((1, 8, 9), 100.0, np.float32)
    assert not near_copies.dhash(flat)[1][0]
    assert near_copies.leak_warning(100, 0) is None
    assert near_copies.leak_warning(0, 0) is None
    line = near_copies.leak_warning(2000, 412, sampled_from=5000)
    assert line.startswith("warning: 412 of 2,000 (a sample of 5,000) hold-out images (21 %)")


# --- whole groups on one side --------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["pattern", "folder"])
def test_whole_tracks_stay_on_one_side(tmp_path, layout):
    folders = layout == "folder"
    root = write_tracks(tmp_path / layout, classes=3, tracks=10, frames=4, folders=folders)
    rule = "folder" if folders else TRACK_PATTERN
    splits = load(root, holdout_groups=rule)
    sides = {split: tracks_of(splits, split, root) for split in SPLIT_NAMES}
    assert sum(len(s) for s in sides.values()) == 30  # every track on exactly one side
    assert len(set().union(*sides.values())) == 30
    assert sum(splits.sizes.values()) == 120
    assert all(size % 4 == 0 and size for size in splits.sizes.values())  # whole tracks
    assert abs(splits.sizes["test"] - 30) <= 2  # 25 % of 120, to the nearest whole track
    assert abs(splits.sizes["val"] - 0.25 * (120 - splits.sizes["test"])) <= 2


def test_split_fractions_with_uneven_groups_and_singletons():
    rng = np.random.default_rng(0)
    sizes = rng.integers(1, 30, 200)
    ids = np.repeat(np.arange(len(sizes)), sizes)
    fractions = {"arch_fraction": 0.2, "val_fraction": 0.1, "test_fraction": 0.2}
    splits = split_indices(len(ids), None, limit=None, seed=1, groups=ids, **fractions)
    total = len(ids)
    assert abs(len(splits["test"]) - 0.2 * total) <= 30
    assert abs(len(splits["val"]) - 0.1 * (total - len(splits["test"]))) <= 30
    owners = {split: set(ids[idx]) for split, idx in splits.items()}
    for a in owners:
        for b in owners:
            assert a == b or not owners[a] & owners[b]
    assert sorted(np.concatenate(list(splits.values()))) == list(range(total))
    again = split_indices(len(ids), None, limit=None, seed=1, groups=ids, **fractions)
    assert all((again[s] == splits[s]).all() for s in splits)  # seeded
    other = split_indices(len(ids), None, limit=None, seed=2, groups=ids, **fractions)
    assert not (other["val"].size == splits["val"].size and (other["val"] == splits["val"]).all())


def test_files_the_rule_does_not_match_are_groups_of_their_own():
    rule = groups.parse_rule(TRACK_PATTERN)
    relative = ["001_a.png", "001_b.png", "x.png", "y.png", "002_a.png", "sub/001_c.png"]
    grouping = groups.group_examples(rule, relative, np.array([0, 0, 0, 0, 0, 1]))
    assert grouping.ids.tolist() == [0, 0, 1, 2, 3, 4]  # class 1's track 001 is another
    assert (grouping.count, grouping.unmatched, grouping.largest) == (5, 2, 2)
    assert "2 images match no group" in grouping.describe(rule)
    folder = groups.parse_rule("folder")
    assert [folder.key(p) for p in ("a/b/c.png", "c.png")] == ["a", None]
    assert groups.parse_rule(None) is None and groups.parse_rule("none") is None


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern, message",
    [(r"^(\d+_", "is not a regular expression"), (r"^\d+_", "has no capture group")],
)
def test_a_bad_pattern_is_a_one_line_error(tmp_path, pattern, message):
    with pytest.raises(ValueError, match=message) as err:
        groups.parse_rule(pattern)
    assert "\n" not in str(err.value)
    root = write_tracks(tmp_path / "tracks", tracks=2, frames=2)
    with pytest.raises(ValueError, match=message):
        load(root, holdout_groups=pattern)


def test_a_rule_needs_file_names():
    with pytest.raises(data.DatasetFormatError, match="no file names to group by"):
        data.load_splits("synthetic", limit=64, holdout_groups="folder")


def test_train_records_and_inherits_the_rule_and_refuses_a_bad_one(tmp_path):
    root = write_tracks(tmp_path / "tracks", classes=2, tracks=10, frames=4)
    run = tmp_path / "run"
    run.mkdir()
    arch = {"input_shape": [SIZE, SIZE, 3], "num_classes": 2, "stem": "conv_k3_c8_s1",
            "blocks": ["ir_k3_e1_c8_s2"]}  # fmt: skip
    (run / "arch.json").write_text(json.dumps(arch))
    facts = {"dataset": "image_folder", "data_dir": str(root), "seed": 0, "image_size": SIZE,
             "holdout_groups": TRACK_PATTERN}  # fmt: skip
    RunDir.at(run).record("search", facts)
    args = ["--batch_size=8", "--epochs=1", "--warmup_epochs=0", "--steps_per_epoch=2"]
    train = run_cli(["pipelines/train.py", f"--run_dir={run}", "--verbose=0", *args], 600)
    assert train.returncode == 0, train.stderr[-2000:]
    grouped = f"data: --holdout_groups={TRACK_PATTERN}: 80 training images in 20 groups"
    assert grouped in train.stdout
    assert "warning:" not in train.stdout
    assert RunDir.at(run).stage_records()["train"]["holdout_groups"] == TRACK_PATTERN
    refused = run_cli(["pipelines/train.py", f"--run_dir={run}", "--holdout_groups=(\\d+"])
    assert refused.returncode == 2, refused.stderr[-2000:]
    (line,) = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert line.startswith("error: --holdout_groups='(\\d+' is not a regular expression")
    assert "Traceback" not in refused.stderr
