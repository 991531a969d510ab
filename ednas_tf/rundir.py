"""The run directory: where each stage's files go, and the facts each stage leaves for the next.

One `ednas-search --output_dir=RUN` creates a run directory; every later stage takes
`--run_dir=RUN` and finds there what it needs:

    RUN/run.json                      the facts record: per stage, what it used (below)
    RUN/arch.json                     the derived child (search)
    RUN/gates.csv, history.json       per-epoch gate probabilities and losses (search)
    RUN/step1/, step2/                each search step's checkpoints, logs and its own arch.json
    RUN/train/                        child.weights.h5, train_metrics.json, arch.json (train)
    RUN/train/qat/<scheme>/           qat_model.h5, qat_metrics.json (qat)
    RUN/export/                       model files, tidl_import.txt, export_report.json (export)
    RUN/report.md, report.html, ...   (report)
    RUN/.lock                         held by the one stage writing the run (`RunDir.lock`)
    RUN/logs/                         tracebacks of unexpected failures (pipelines/stage.py)
    OUT/.workers/<task>/              a multi-worker run's other workers' copies of what the
                                      chief writes into OUT (`worker_output`)

Why a record: the dataset, its location, the image size, the seed, the augmentation policy, the
device and the space are decided once, at the search; a later stage that asked for them again would
let a user train on one dataset what was searched on another without a word. Each stage reads the
facts the earlier stages recorded, lets a flag given on its command line override one (and records
that), and refuses a contradiction it can detect (another class count or image size than the
network's).
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import socket
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ednas_tf.io_utils import atomic_write_text

FACTS_FILE = "run.json"
ARCH_FILE = "arch.json"
GATES_FILE = "gates.csv"
HISTORY_FILE = "history.json"
RANKING_FILE = "ranking.json"  # random children scored on the trained supernet (--rank_children)
STEP_CONFIG_FILE = "run_config.json"  # a search step's settings, checked on resume
WEIGHTS_FILE = "child.weights.h5"
TRAIN_METRICS_FILE = "train_metrics.json"
QAT_MODEL_FILE = "qat_model.h5"
QAT_METRICS_FILE = "qat_metrics.json"
TIDL_IMPORT_FILE = "tidl_import.txt"
EXPORT_REPORT_FILE = "export_report.json"  # per format: size, agreement, accuracy, latency
TIDL_REPORT_FILE = "tidl_report.json"  # per format: the TIDL checker's per-layer verdicts
TRIALS_FILE = "trials.csv"  # the keras-tuner baseline's trials (tune)
LOCK_FILE = ".lock"  # who writes the run now: PID, host, start time (RunDir.lock)
LOGS_DIR = "logs"  # tracebacks of unexpected failures
WORKERS_DIR = ".workers"  # the scratch outputs of a multi-worker run's non-chief workers
STEP_DIRS = {1: "step1", 2: "step2"}  # a two-step search's per-step folders
TRAIN_DIR = "train"
QAT_DIR = "qat"
EXPORT_DIR = "export"
REPORT_FILES = ("report.md", "report.html", "gates.png", "curves.png")

# What the search decides and every later stage inherits, in the order a summary lists them.
CARRIED_FACTS = (
    "dataset",
    "data_dir",
    "image_size",
    "limit",
    "seed",
    "augment",
    "holdout_groups",  # which training images a hold-out keeps together (ednas_tf.data.groups)
    "device",
    "space",
    "precision",  # Keras dtype policy of the search / training (ednas_tf.precision)
)
STAGES = ("search", "tune", "train", "qat", "export")


class RunDirError(ValueError):
    """A run directory that cannot serve a stage: missing files, a broken record, a contradiction.

    A ValueError, so every entry point's one-line `error: ...` handling covers it."""


@dataclass(frozen=True)
class RunDir:
    """A run directory and the paths of its parts (nothing is created until a stage writes)."""

    root: Path

    @classmethod
    def at(cls, path: str | Path) -> RunDir:
        return cls(Path(path))

    @property
    def arch(self) -> Path:
        return self.root / ARCH_FILE

    @property
    def facts_file(self) -> Path:
        return self.root / FACTS_FILE

    @property
    def train(self) -> Path:
        return self.root / TRAIN_DIR

    @property
    def export(self) -> Path:
        return self.root / EXPORT_DIR

    @property
    def lock_file(self) -> Path:
        return self.root / LOCK_FILE

    @property
    def logs(self) -> Path:
        return self.root / LOGS_DIR

    @contextlib.contextmanager
    def lock(self, stage: str = "") -> Iterator[None]:
        """Be the one process writing this run while the block runs (RunDirError if another is).

        An advisory `fcntl.flock` on RUN/.lock, which names the holder (PID, host, start time)
        for the error a second process gets. The kernel drops the lock when its holder dies, even
        by kill -9: a lock file nobody holds is taken over, with a warning naming the dead
        holder. The folder is created if missing, and removed again when the block leaves
        nothing else in it (a refused run writes nothing)."""
        created = [p for p in (self.root, *self.root.parents) if not p.exists()]
        self.root.mkdir(parents=True, exist_ok=True)
        fd = _acquire(self.lock_file, stage)
        try:
            yield
        finally:
            self.lock_file.unlink(missing_ok=True)  # before the close that releases the lock
            os.close(fd)
            for folder in created:  # deepest first
                try:
                    folder.rmdir()
                except OSError:
                    break

    def qat(self, scheme: str) -> Path:
        return self.train / QAT_DIR / scheme

    def qat_model(self, scheme: str) -> Path:
        return self.qat(scheme) / QAT_MODEL_FILE

    def stage_records(self) -> dict[str, dict[str, Any]]:
        """Per stage that ran, the facts it recorded ({} before any stage has)."""
        if not self.facts_file.exists():
            return {}
        try:
            data = json.loads(self.facts_file.read_text())
        except (OSError, ValueError) as err:
            raise RunDirError(f"{self.facts_file}: unreadable run record ({err})") from None
        stages = data.get("stages") if isinstance(data, dict) else None
        if not isinstance(stages, dict) or not all(isinstance(v, dict) for v in stages.values()):
            raise RunDirError(f"{self.facts_file}: not a run record (no 'stages' object)")
        return stages

    def carried(self) -> dict[str, Any]:
        """The facts a new stage inherits: each one as the latest stage that recorded it had it."""
        facts: dict[str, Any] = {}
        records = self.stage_records()
        for stage in sorted(records, key=_stage_order):
            facts.update({k: v for k, v in records[stage].items() if k in CARRIED_FACTS})
        return facts

    def record(self, stage: str, facts: Mapping[str, Any]) -> None:
        """Write (or replace) `stage`'s entry of the record, atomically."""
        records = self.stage_records()
        records[stage] = {k: _jsonable(v) for k, v in facts.items()}
        ordered = {s: records[s] for s in sorted(records, key=_stage_order)}
        atomic_write_text(self.facts_file, json.dumps({"stages": ordered}, indent=2) + "\n")


def _holder(text: str) -> str:
    """'PID 123 on host h (since 2025-01-01 10:00:00, ednas-search)' from a lock file's text."""
    try:
        info = json.loads(text)
        pid, host = info["pid"], info["host"]
    except (ValueError, TypeError, KeyError):
        return "another process (the lock file names none yet)"
    what = ", ".join(str(v) for v in (info.get("started"), info.get("stage")) if v)
    return f"PID {pid} on host {host}" + (f" (since {what})" if what else "")


def _read_fd(fd: int) -> str:
    return os.pread(fd, 4096, 0).decode("utf-8", errors="replace").strip()


def _acquire(path: Path, stage: str) -> int:
    """An open descriptor of `path` holding its exclusive flock (RunDirError if another does)."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(_read_fd(fd))
            os.close(fd)
            raise RunDirError(
                f"{path.parent} is being written by {holder}: one run per directory; wait for "
                f"it to end or use another directory (lock {path})"
            ) from None
        try:  # the holder before us may have removed the file between our open and our flock
            current = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if current:
            break
        os.close(fd)
    previous = _read_fd(fd)
    if previous:
        print(
            f"warning: took over {path}, left by {_holder(previous)}, which no longer runs",
            file=sys.stderr,
            flush=True,
        )
    me = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.datetime.now().isoformat(sep=" ", timespec="seconds"),
        "stage": stage,
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
    return fd


def worker_output(output: str | Path, worker: str | None) -> Path:
    """Where a worker writes what the chief writes into `output`: `output` itself for the chief
    (`worker` None), else `output/.workers/<worker>/`.

    In a multi-worker run every worker computes and saves the same things (a checkpoint's write
    is a collective every worker joins), but only the chief's copy is the run's: the others write
    theirs to scratch, as TensorFlow's multi-worker guide prescribes, without the run's lock."""
    return Path(output) if worker is None else Path(output) / WORKERS_DIR / worker


def chief_path(path: str | Path) -> Path:
    """The chief's counterpart of a path a non-chief worker writes (`worker_output`): the path
    without its `.workers/<worker>` part (unchanged when it has none). A non-chief resumes from
    the chief's checkpoints, so every worker restarts at the same step."""
    parts = Path(path).parts
    if WORKERS_DIR not in parts[:-1]:
        return Path(path)
    at = len(parts) - 1 - parts[::-1].index(WORKERS_DIR)
    return Path(*parts[:at], *parts[at + 2 :])


def writable_dir(path: str | Path, flag: str) -> Path:
    """`path` as an output folder: refused (RunDirError) when it, or what would hold it, is a
    file, or when it cannot be written; nothing is created."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise RunDirError(f"--{flag}={path} is a file, not a folder: give a folder")
    existing = next(p for p in (path, *path.parents, Path(".")) if p.exists())
    if not existing.is_dir():
        raise RunDirError(f"--{flag}={path} cannot be created: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise RunDirError(f"--{flag}={path} is not writable (permission denied on {existing})")
    return path


def existing_dir(path: str | None, flag: str, what: str = "") -> Path:
    """`path` as a folder that must exist (FileNotFoundError / RunDirError naming the flag)."""
    if not path:
        raise RunDirError(f"--{flag} is required" + (f" ({what})" if what else ""))
    folder = Path(path).expanduser()
    if not folder.exists():
        raise FileNotFoundError(
            f"--{flag}={folder} does not exist" + (f" ({what})" if what else "")
        )
    if not folder.is_dir():
        raise RunDirError(
            f"--{flag}={folder} is a file, not a folder" + (f" ({what})" if what else "")
        )
    return folder


def resolve_facts(
    inherited: Mapping[str, Any], given: Mapping[str, Any], defaults: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """The facts a stage uses, and the names it overrode.

    A fact given on the command line (`given`) wins over the earlier stage's (`inherited`), which
    wins over the stage's own default; an override that equals the inherited value is not one."""
    facts = {**defaults, **inherited, **given}
    overridden = sorted(k for k in given if k in inherited and inherited[k] != given[k])
    return facts, overridden


def check_data_matches(
    what: str, input_shape: tuple[int, ...], num_classes: int, splits_shape, splits_classes
) -> None:
    """Refuse data another network was built for: one line naming both figures."""
    if int(num_classes) != int(splits_classes):
        raise RunDirError(
            f"the data has {splits_classes} classes but {what} was built for {num_classes}: "
            "use the dataset the run was searched on (or search again on this one)"
        )
    if tuple(int(d) for d in input_shape) != tuple(int(d) for d in splits_shape):
        raise RunDirError(
            f"the data's images are {list(splits_shape)} but {what} was built for "
            f"{list(input_shape)}: give the --image_size the run used"
        )


def absolute_data_dir(data_dir: str | None) -> str | None:
    """A data location as the record keeps it: absolute, so a stage run from elsewhere finds it.

    `tfds:`-style names and other non-paths are kept as given."""
    if not data_dir:
        return None
    path = Path(data_dir).expanduser()
    return str(path.resolve()) if path.exists() else data_dir


def _stage_order(stage: str) -> int:
    return STAGES.index(stage) if stage in STAGES else len(STAGES)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
