"""Fault cases of the area 'data' (see bench/faults/case.py for what a case is).

A user's own data, checked before the first step (`ednas_tf.data.checks`): each case builds a
tiny bad image folder or .npz in the scratch folder and runs a real entry point on it. A refused
input must leave nothing behind (no arch.json, run.json or train/); a skipped file must be
counted in the log and the run must finish.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from bench.faults.case import (
    FaultCase,
    Outcome,
    Pause,
    kill_hard,
    run_module,
    start_module,
    wait_for,
)
from bench.faults.resume import arch_problems, reference

SIZE = 16
SEARCH = [
    "--space=tiny",
    f"--image_size={SIZE}",
    "--epochs=2",
    "--warmup_epochs=1",
    "--steps_per_epoch=4",
    "--batch_size=8",
    "--noprogress",
]
ARCH = {  # a hand-written child for pipelines.train --arch: 16x16 RGB, 2 classes
    "input_shape": [SIZE, SIZE, 3],
    "num_classes": 2,
    "stem": "conv_k3_c8_s1",
    "blocks": ["ir_k3_e1_c8_s1"],
}
TRAIN = ["--batch_size=8", "--epochs=1", "--warmup_epochs=0", "--steps_per_epoch=2"]
RESULTS = ("arch.json", "run.json")


def write_folder(
    root: Path, train: dict[str, int], test: dict[str, int] | None = None, suffix: str = ".png"
) -> Path:
    """root/train/<class>/ (and root/test/<class>/) with that many random 16x16 images each."""
    rng = np.random.default_rng(0)
    for split, classes in (("train", train), ("test", test or {})):
        for name, count in classes.items():
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                pixels = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"img{i}{suffix}")
    return root


def good_folder(scratch: Path) -> Path:
    """Two classes of 24 training and 4 test images: enough for the tiny search's batches."""
    return write_folder(scratch / "data", {"a": 24, "b": 24}, {"a": 4, "b": 4})


def write_npz(path: Path, images: np.ndarray, labels, **extra) -> Path:
    np.savez(path, x_train=images, y_train=np.asarray(labels), **extra)
    return path


def float_images(count: int = 64) -> np.ndarray:
    return np.random.default_rng(0).random((count, SIZE, SIZE, 3)).astype(np.float32)


def search_args(dataset: str, data: Path, out: Path, *extra: str) -> list[str]:
    return [f"--dataset={dataset}", f"--data_dir={data}", f"--output_dir={out}", *SEARCH, *extra]


def search(scratch: Path, dataset: str, data: Path, *extra: str,
           out_name: str = "run") -> tuple[Outcome, Path]:
    out = scratch / out_name
    return run_module("pipelines.search", search_args(dataset, data, out, *extra)), out


def train(scratch: Path, data: Path, *extra: str) -> tuple[Outcome, Path]:
    """pipelines.train on a hand-written arch.json; returns its train dir."""
    arch = scratch / "child" / "arch.json"
    arch.parent.mkdir(parents=True, exist_ok=True)
    arch.write_text(json.dumps(ARCH))
    args = [f"--arch={arch}", "--dataset=image_folder", f"--data_dir={data}", *TRAIN]
    return run_module("pipelines.train", [*args, "--verbose=0", *extra]), arch.parent / "train"


def nothing_written(outcome: Outcome, out: Path, names=(*RESULTS, "train")) -> Outcome:
    """A refused run leaves no result in `out`: no arch.json or run.json, no train/ folder."""
    left = [name for name in names if (out / name).exists()]
    outcome.problems += [f"a refused run left {name}" for name in left]
    return outcome


def finished_skipping(outcome: Outcome, out: Path, result: str, count: int) -> Outcome:
    """A run that skipped `count` unreadable files: it says so and writes its result."""
    if f"skipped {count} file(s)" not in outcome.stdout:
        outcome.problems.append(f"no 'skipped {count} file(s)' note in the log")
    if outcome.returncode == 0 and not (out / result).exists():
        outcome.problems.append(f"finished without {result}")
    return outcome


def damaged_folder(scratch: Path, damage: Callable[[Path], None]) -> Path:
    root = good_folder(scratch)
    damage(root / "train" / "a")
    return root


def _zero_byte(folder: Path) -> None:
    (folder / "empty.jpg").write_bytes(b"")


def _truncated_png(folder: Path) -> None:
    data = (folder / "img0.png").read_bytes()
    (folder / "cut.png").write_bytes(data[: len(data) // 2])


def _random_bytes(folder: Path) -> None:
    (folder / "noise.jpg").write_bytes(np.random.default_rng(1).bytes(600))


def _sidecar(folder: Path) -> None:
    (folder / "._img0.png").write_bytes(b"\x00\x05\x16\x07" + bytes(80))  # AppleDouble header


def skipped_search(damage: Callable[[Path], None], *extra: str) -> Callable[[Path], Outcome]:
    def run(scratch: Path) -> Outcome:
        outcome, out = search(scratch, "image_folder", damaged_folder(scratch, damage), *extra)
        return finished_skipping(outcome, out, "arch.json", 1)

    return run


def refused_search(damage: Callable[[Path], None], *extra: str) -> Callable[[Path], Outcome]:
    def run(scratch: Path) -> Outcome:
        data = damaged_folder(scratch, damage)
        outcome, out = search(scratch, "image_folder", data, "--strict_data", *extra)
        return nothing_written(outcome, out)

    return run


def refused_npz(images: np.ndarray, labels, **extra) -> Callable[[Path], Outcome]:
    def run(scratch: Path) -> Outcome:
        path = write_npz(scratch / "data.npz", images, labels, **extra)
        outcome, out = search(scratch, "npz", path)
        return nothing_written(outcome, out)

    return run


def refused_folder(
    train_classes: dict[str, int], test_classes: dict[str, int] | None = None
) -> Callable[[Path], Outcome]:
    def run(scratch: Path) -> Outcome:
        root = write_folder(scratch / "data", train_classes, test_classes)
        for name in train_classes:
            (root / "train" / name).mkdir(parents=True, exist_ok=True)
        outcome, out = search(scratch, "image_folder", root)
        return nothing_written(outcome, out)

    return run


def _nan_images() -> np.ndarray:
    images = float_images()
    images[5, 3, 3, 0] = np.nan
    return images


def _inf_images() -> np.ndarray:
    images = float_images()
    images[9, 0, 0, 2] = np.inf
    return images


def _bad_test_file(scratch: Path) -> Path:
    root = good_folder(scratch)
    (root / "test" / "b" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    return root


def test_file_skipped(scratch: Path) -> Outcome:
    """An unreadable test image is found before training, skipped, and the run finishes."""
    outcome, out = train(scratch, _bad_test_file(scratch))
    return finished_skipping(outcome, out, "child.weights.h5", 1)


def test_file_refused(scratch: Path) -> Outcome:
    """The same with --strict_data: refused before the first epoch, no train/ folder."""
    outcome, out = train(scratch, _bad_test_file(scratch), "--strict_data")
    return nothing_written(outcome, out.parent, names=("run.json", "train"))


def folder_search_reference() -> Path:
    """arch.json of an uncached search of `good_folder` (made once per session)."""
    ref = reference(("data-folder-search",),
                    lambda folder: search(folder, "image_folder", good_folder(folder))[0])
    return ref / "run" / "arch.json"


def _as_if_killed_while_filling(cache: Path) -> list[str]:
    """Add what tf.data leaves when a fill is killed in the middle (seen: `<key>_0.lockfile` and
    an empty `<key>_0.data-...tempstate<n>`, no index) to every split of `cache` whose fill was
    begun (its `.fill.lock` exists) and not finished; their keys."""
    keys = [lock.name[: -len(".fill.lock")] for lock in sorted(cache.glob("*.fill.lock"))]
    unfinished = [key for key in keys if not (cache / f"{key}.index").exists()]
    for key in unfinished:
        (cache / f"{key}_0.lockfile").write_text("Created at: 1796280000")
        (cache / f"{key}_0.data-00000-of-00001.tempstate4907293812977560960").write_bytes(b"")
    return unfinished


def cache_left_by_killed_fill(scratch: Path) -> Outcome:
    """A --data_cache folder a run left when kill -9 hit it filling its second split (held at
    that fill, its lock taken, by a test pause point): the next run is not blocked by the dead
    run's lock, clears what the fill left, fills it again, keeps the split filled before, and
    finds the uncached search's child."""
    data, cache = good_folder(scratch), scratch / "cache"
    cache.mkdir()
    pause = Pause("data_cache", 2, scratch / "paused")
    args = search_args("image_folder", data, scratch / "r1", f"--data_cache={cache}")
    first = start_module("pipelines.search", args, scratch / "r1.log", pause)
    held = pause.wait(first)
    kill_hard(first)
    if not held:
        log = (scratch / "r1.log").read_text()
        return Outcome(1, "", log, ["the first run never began filling a second split"])
    broken, filled_before = _as_if_killed_while_filling(cache), _filled(cache)
    outcome, out = search(scratch, "image_folder", data, f"--data_cache={cache}", out_name="r2")
    if outcome.returncode != 0:
        return outcome
    if len(broken) != 1:
        outcome.problems.append(f"the killed run left {len(broken)} unfinished fills, not 1")
    if "left behind" not in outcome.stdout:
        outcome.problems.append("the second run did not say it removed the unfinished fill")
    if not filled_before:
        outcome.problems.append("the killed run had filled no split before")
    if any(f"filling the data cache {cache / key} " in outcome.stdout for key in filled_before):
        outcome.problems.append("the second run filled again a split the killed run filled")
    keys = [lock.name[: -len(".fill.lock")] for lock in cache.glob("*.fill.lock")]
    if list(cache.glob("*.lockfile")) or sorted(_filled(cache)) != sorted(keys):
        names = sorted(p.name for p in cache.iterdir())
        outcome.problems.append(f"the cache is not refilled: {names}")
    outcome.problems += arch_problems(out / "arch.json", folder_search_reference())
    return outcome


def _filled(cache: Path) -> list[str]:
    return [index.name[: -len(".index")] for index in cache.glob("*.index")]


WAITING = "waiting for another run filling the data cache"


def cache_filled_by_two_runs(scratch: Path) -> Outcome:
    """Two searches on one empty --data_cache folder: the first is held filling its first split
    (its lock taken) until the second says it waits for that fill; both then finish and find the
    uncached search's child."""
    data, cache = good_folder(scratch), scratch / "cache"
    cache.mkdir()
    outs, logs = [scratch / f"r{i}" for i in (1, 2)], [scratch / f"r{i}.log" for i in (1, 2)]
    args = [search_args("image_folder", data, out, f"--data_cache={cache}") for out in outs]
    pause = Pause("data_cache", 1, scratch / "paused")
    first = start_module("pipelines.search", args[0], logs[0], pause)
    procs = [first]
    try:
        held = pause.wait(first)
        procs.append(start_module("pipelines.search", args[1], logs[1]))
        waited = held and wait_for(lambda: WAITING in logs[1].read_text(), procs[1], 600)
        pause.release()
        codes = [p.wait(timeout=600) for p in procs]
    finally:
        for p in procs:
            kill_hard(p)
    text = "".join(log.read_text() for log in logs if log.exists())
    errors = "\n".join(line for line in text.splitlines() if line.startswith("error: "))
    outcome = Outcome(max(codes, key=abs), text, errors)
    if not held:
        outcome.problems.append("the first run never began filling the cache")
    elif not waited:
        outcome.problems.append("the second run did not wait for the first one's fill")
    if outcome.returncode == 0:
        ref = folder_search_reference()
        for out in outs:
            outcome.problems += arch_problems(out / "arch.json", ref)
    return outcome


LABELS_64 = np.arange(64) % 2
CASES: list[FaultCase] = [
    FaultCase("data_zero_byte_jpg_skipped", "data", "recovered", skipped_search(_zero_byte)),
    FaultCase("data_truncated_png_skipped", "data", "recovered", skipped_search(_truncated_png)),
    FaultCase(
        "data_random_bytes_jpg_header_skipped",
        "data",
        "recovered",
        skipped_search(_random_bytes, "--verify_images=header"),
    ),
    FaultCase(
        "data_random_bytes_jpg_strict",
        "data",
        "clear_error",
        refused_search(_random_bytes),
        message="noise.jpg (not an image",
    ),
    FaultCase("data_macos_sidecar_skipped", "data", "recovered", skipped_search(_sidecar)),
    FaultCase(
        "data_macos_sidecar_strict",
        "data",
        "clear_error",
        refused_search(_sidecar),
        message="._img0.png (hidden file)",
    ),
    FaultCase(
        "data_npz_nan_pixels",
        "data",
        "clear_error",
        refused_npz(_nan_images(), LABELS_64),
        message="NaN or Inf pixels (first: image 5)",
    ),
    FaultCase(
        "data_npz_inf_pixels",
        "data",
        "clear_error",
        refused_npz(_inf_images(), LABELS_64),
        message="NaN or Inf pixels (first: image 9)",
    ),
    FaultCase(
        "data_npz_stray_label_999",
        "data",
        "clear_error",
        refused_npz(float_images(), np.r_[np.arange(63) % 2, 999]),
        message="distinct labels 0-1, 999",
    ),
    FaultCase(
        "data_npz_labels_with_gaps",
        "data",
        "clear_error",
        refused_npz(float_images(63), np.array([0, 2, 5])[np.arange(63) % 3]),
        message="distinct labels 0, 2, 5",
    ),
    FaultCase(
        "data_npz_label_outside_class_names",
        "data",
        "clear_error",
        refused_npz(float_images(), np.r_[np.arange(63) % 2, 2], class_names=np.array(["a", "b"])),
        message="out of range for 2 classes",
    ),
    FaultCase(
        "data_one_class_folder",
        "data",
        "clear_error",
        refused_folder({"only": 24}),
        message="only one class (only)",
    ),
    FaultCase(
        "data_class_without_images",
        "data",
        "clear_error",
        refused_folder({"a": 24, "b": 24, "empty": 0}),
        message="'empty' (0)",
    ),
    FaultCase(
        "data_split_smaller_than_a_batch",
        "data",
        "clear_error",
        refused_folder({"a": 4, "b": 4}),
        message="fewer than one batch (--batch_size=8)",
    ),
    FaultCase("data_test_split_unreadable_skipped", "data", "recovered", test_file_skipped),
    FaultCase(
        "data_test_split_unreadable_strict",
        "data",
        "clear_error",
        test_file_refused,
        message="broken.png (truncated png",
    ),
    FaultCase("data_cache_left_by_killed_fill", "data", "recovered", cache_left_by_killed_fill),
    FaultCase("data_cache_two_runs_fill_at_once", "data", "recovered", cache_filled_by_two_runs),
]
