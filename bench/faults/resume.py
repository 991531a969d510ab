"""Fault cases of the area 'resume': kill -9, Ctrl-C / SIGTERM and a corrupt checkpoint in the
middle of a search step, a training and a QAT fine-tuning (see bench/faults/case.py).

Each case starts the real entry point on a tiny configuration, held at step `FAULT_STEP`
(`ednas_tf.testpoint`: inside an epoch, past a checkpoint, so the re-run must redo steps the
fault lost) until the fault is done, so the run cannot end first however loaded the machine is;
then it re-runs the same command to the end and compares the result with an uninterrupted run of
the same command in another folder: the same `arch.json` (blocks, gate probabilities to 1e-6)
and the same trained weights (to 1e-6). The uninterrupted runs are made once per session
(`reference`), and shared by the processes of one test session (`REFERENCES_ENV`).
"""

from __future__ import annotations

import atexit
import fcntl
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from bench.faults.case import FaultCase, Outcome, Pause, kill_hard, run_module, start_module

TOLERANCE = 1e-6
STEPS_PER_EPOCH = 12
STEPS = ["--epochs=3", "--warmup_epochs=1", f"--steps_per_epoch={STEPS_PER_EPOCH}"]
STEPS += ["--batch_size=16"]
SEARCH = [
    "--dataset=synthetic",
    "--space=tiny",
    "--image_size=16",
    "--limit=600",
    *STEPS,
    "--noprogress",
    "--checkpoint_every_steps=4",
]
TRAIN = [*STEPS, "--verbose=0", "--checkpoint_every_steps=4"]
QAT = ["--scheme=pow2", "--epochs=2", f"--steps_per_epoch={STEPS_PER_EPOCH}", "--batch_size=16"]
QAT += ["--verbose=0", "--checkpoint_every_steps=4"]
# Where every kill and signal lands: after step 6 of epoch 2 (QAT has 2 epochs, the others 3), two
# steps past the checkpoint after step 16, so the re-run must redo steps 17 and 18.
FAULT_STEP = 18
# A folder the processes of one test session share (pytest-xdist workers: tests/conftest.py), so
# each reference run is made once per session, not once per process.
REFERENCES_ENV = "EDNAS_FAULT_REFERENCES"
_REFERENCE_ROOT: list[Path] = []


def _root() -> Path:
    if not _REFERENCE_ROOT:
        shared = os.environ.get(REFERENCES_ENV)
        if shared:
            root = Path(shared)
            root.mkdir(parents=True, exist_ok=True)
        else:
            root = Path(tempfile.mkdtemp(prefix="fault-references-"))
            atexit.register(shutil.rmtree, root, True)
        _REFERENCE_ROOT.append(root)
    return _REFERENCE_ROOT[0]


def reference(key: tuple, make: Callable[[Path], Outcome]) -> Path:
    """The folder of an uninterrupted run made by `make(folder)`, once per session and key.

    Made under an exclusive flock per key, so a second process wanting it waits for the first
    to finish; `<folder>.done` says it is whole (a run records its own absolute paths, so it is
    made where it stays, and a failed one is made again by the next process that wants it)."""
    # named by key, not by count: making one reference may need another one first
    folder = _root() / "-".join(k.strip("-") for k in key)
    done = folder.with_name(folder.name + ".done")
    if done.exists():
        return folder
    fd = os.open(folder.with_name(folder.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            outcome = make(folder)
            if outcome.returncode != 0:
                raise RuntimeError(f"reference run {key} failed:\n{outcome.stderr[-3000:]}")
            done.touch()
    finally:
        os.close(fd)
    return folder


# ---------------------------------------------------------------------------------- the runs
def search_args(out: Path, extra=()) -> list[str]:
    return [*SEARCH, *extra, f"--output_dir={out}"]


def searched_run() -> Path:
    """An uninterrupted tiny search's run directory (read-only: copy it before using it)."""
    return reference(("search",), lambda out: run_module("pipelines.search", search_args(out)))


def _copy_run(source: Path, target: Path, keep=("arch.json", "run.json")) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for name in keep:
        if (source / name).is_dir():
            shutil.copytree(source / name, target / name)
        else:
            shutil.copy2(source / name, target / name)
    return target


def train_args(run: Path, extra=()) -> list[str]:
    return [f"--run_dir={run}", *TRAIN, *extra]


def trained_run() -> Path:
    """A run directory with an uninterrupted tiny training in train/ (read-only)."""

    def make(out: Path) -> Outcome:
        run = _copy_run(searched_run(), out)
        return run_module("pipelines.train", train_args(run))

    return reference(("train",), make)


def qat_args(run: Path) -> list[str]:
    return [f"--run_dir={run}", *QAT]


def qat_run() -> Path:
    def make(out: Path) -> Outcome:
        run = _copy_run(trained_run(), out, keep=("arch.json", "run.json", "train"))
        shutil.rmtree(run / "train" / "ckpt")
        return run_module("pipelines.qat", qat_args(run))

    return reference(("qat",), make)


# ---------------------------------------------------------------------------- comparisons
def _flat(tree, prefix="") -> dict[str, float]:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}/"))
        else:
            out[prefix + key] = value
    return out


def arch_problems(ours: Path, theirs: Path) -> list[str]:
    """How `ours` arch.json differs from `theirs` (blocks, gate probabilities to 1e-6)."""
    if not ours.exists():
        return [f"{ours} is missing"]
    a, b = json.loads(ours.read_text()), json.loads(theirs.read_text())
    problems = [] if a["blocks"] == b["blocks"] else [f"blocks {a['blocks']} != {b['blocks']}"]
    pa, pb = _flat(a.get("gate_probs", {})), _flat(b.get("gate_probs", {}))
    if pa.keys() != pb.keys():
        return [*problems, "different gates"]
    worst = max((abs(pa[k] - pb[k]) for k in pa), default=0.0)
    if not worst <= TOLERANCE:
        problems.append(f"gate probabilities differ by {worst:.3g}")
    return problems


def _h5_arrays(path: Path) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "fiu":
            arrays[name] = np.asarray(obj[()], dtype=np.float64)

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return arrays


def weights_problems(ours: Path, theirs: Path) -> list[str]:
    """How the weights in `ours` (.h5) differ from `theirs` (to 1e-6)."""
    if not ours.exists():
        return [f"{ours} is missing"]
    a, b = _h5_arrays(ours), _h5_arrays(theirs)
    if a.keys() != b.keys() or not a:
        return [f"{ours} holds other weights than {theirs}"]
    worst = max(float(np.abs(a[k] - b[k]).max(initial=0.0)) for k in a)
    return [] if worst <= TOLERANCE else [f"weights differ by {worst:.3g}"]


def search_problems(out: Path) -> list[str]:
    ref = searched_run()
    problems = arch_problems(out / "arch.json", ref / "arch.json")
    for step in ("step1", "step2"):
        ours, theirs = (json.loads((d / step / "history.json").read_text()) for d in (out, ref))
        if [h["epoch"] for h in ours] != [h["epoch"] for h in theirs] or any(
            abs(x["loss"] - y["loss"]) > TOLERANCE for x, y in zip(ours, theirs)
        ):
            problems.append(f"{step}/history.json differs from the uninterrupted run's")
    return problems


def train_problems(run: Path) -> list[str]:
    ref = trained_run() / "train"
    problems = weights_problems(run / "train" / "child.weights.h5", ref / "child.weights.h5")
    ours = json.loads((run / "train" / "train_metrics.json").read_text())
    theirs = json.loads((ref / "train_metrics.json").read_text())
    if ours["best_epoch"] != theirs["best_epoch"]:
        problems.append(f"best epoch {ours['best_epoch']} != {theirs['best_epoch']}")
    return problems


def qat_problems(run: Path) -> list[str]:
    name = Path("train") / "qat" / "pow2" / "qat_model.h5"
    return weights_problems(run / name, qat_run() / name)


# ---------------------------------------------------------------------------------- faults
def _interrupt(
    module: str, args, scratch: Path, point: str, how: Callable, meanwhile: Callable
) -> Outcome:
    """Start `module` held at `point`:FAULT_STEP, do `how(process)` there and wait for the
    process to end; the Outcome of the faulted run (its output, its exit status). `meanwhile()`
    runs while the process gets there (the reference its result is compared with: made now, or
    waited for while another process makes it, the faulted run is not idle)."""
    log, pause = scratch / "log", Pause(point, FAULT_STEP, scratch / "paused")
    process = start_module(module, args, log, pause)
    try:
        meanwhile()
        if not pause.wait(process):
            kill_hard(process)
            where = f"{point}:{FAULT_STEP}"
            return Outcome(1, "", log.read_text(), [f"the run never reached {where}"])
        how(process)
        process.wait(timeout=600)
    finally:
        kill_hard(process)
    return Outcome(process.returncode, "", log.read_text())


def _signal(signum: int) -> Callable:
    return lambda process: os.killpg(process.pid, signum)


def _kill_and_resume(module: str, args, scratch: Path, point: str, meanwhile, check) -> Outcome:
    faulted = _interrupt(module, args, scratch, point, kill_hard, meanwhile)
    if faulted.problems:
        return faulted
    rerun = run_module(module, args)
    problems = check() if rerun.returncode == 0 else []
    return Outcome(rerun.returncode, rerun.stdout, rerun.stderr, problems)


def search_kill(step: int) -> Callable[[Path], Outcome]:
    def run(scratch: Path) -> Outcome:
        out = scratch / "run"
        check = lambda: search_problems(out)  # noqa: E731
        args = search_args(out)
        return _kill_and_resume("pipelines.search", args, scratch, f"search{step}", searched_run,
                                check)

    return run


def train_kill(scratch: Path) -> Outcome:
    run = _copy_run(searched_run(), scratch / "run")
    check = lambda: train_problems(run)  # noqa: E731
    args = train_args(run)
    return _kill_and_resume("pipelines.train", args, scratch, "train", trained_run, check)


def qat_kill(scratch: Path) -> Outcome:
    run = _copy_run(trained_run(), scratch / "run", keep=("arch.json", "run.json", "train"))
    shutil.rmtree(run / "train" / "ckpt")
    check = lambda: qat_problems(run)  # noqa: E731
    return _kill_and_resume("pipelines.qat", qat_args(run), scratch, "train", qat_run, check)


def corrupt_newest(scratch: Path) -> Outcome:
    """kill -9, then the newest checkpoint's .data file cut in half: the re-run warns, falls
    back to the one before and still ends with the uninterrupted run's weights."""
    run = _copy_run(searched_run(), scratch / "run")
    args = train_args(run)
    faulted = _interrupt("pipelines.train", args, scratch, "train", kill_hard, trained_run)
    if faulted.problems:
        return faulted
    ckpt = run / "train" / "ckpt"
    newest = sorted(ckpt.glob("ckpt-*"), key=lambda p: int(p.name.split("-")[1]))[-1]
    data = next(newest.glob("*.data-*"))
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    rerun = run_module("pipelines.train", args)
    problems = train_problems(run) if rerun.returncode == 0 else []
    if f"checkpoint {newest}" not in rerun.stderr:
        problems.append("no warning named the corrupt checkpoint")
    return Outcome(rerun.returncode, rerun.stdout, rerun.stderr, problems)


def interrupted(signum: int) -> Callable[[Path], Outcome]:
    """SIGINT / SIGTERM mid-epoch: exit 130 / 143 with one line naming the step it stopped
    after; the re-run resumes there and ends identical."""

    def run(scratch: Path) -> Outcome:
        run_dir = _copy_run(searched_run(), scratch / "run")
        args = train_args(run_dir)
        how = _signal(signum)
        faulted = _interrupt("pipelines.train", args, scratch, "train", how, trained_run)
        if faulted.problems:
            return faulted
        rerun = run_module("pipelines.train", args)
        ok = rerun.returncode == 0
        problems = train_problems(run_dir) if ok else ["the re-run failed"]
        if "resumed from" not in rerun.stdout:
            problems.append("the re-run did not resume")
        return Outcome(faulted.returncode, "", faulted.stderr, problems)

    return run


# FAULT_STEP as the interrupt message names it (epoch and step in it, 1-based)
_EPOCH, _STEP = divmod(FAULT_STEP, STEPS_PER_EPOCH)
STOPPED_AT = f"interrupted at epoch {_EPOCH + 1} step {_STEP}; re-run"
CASES: list[FaultCase] = [
    FaultCase("resume_kill9_search_step1", "resume", "recovered", search_kill(1), slow=True),
    FaultCase("resume_kill9_search_step2", "resume", "recovered", search_kill(2), slow=True),
    FaultCase("resume_kill9_train", "resume", "recovered", train_kill, slow=True),
    FaultCase("resume_kill9_qat", "resume", "recovered", qat_kill, slow=True),
    FaultCase("resume_corrupt_newest_checkpoint", "resume", "recovered", corrupt_newest, slow=True),
    FaultCase(
        "resume_sigint_mid_epoch",
        "resume",
        "clear_error",
        interrupted(signal.SIGINT),
        message=STOPPED_AT,
        returncode=130,
        slow=True,
    ),
    FaultCase(
        "resume_sigterm_mid_epoch",
        "resume",
        "clear_error",
        interrupted(signal.SIGTERM),
        message=STOPPED_AT,
        returncode=143,
        slow=True,
    ),
]
