"""Finding and reading a run directory's files, leniently.

A report runs after any stage, also on a run that is half-written or was copied in part: every
reader returns None (or nothing) when its file is absent and notes an unreadable one in
`RunFiles.notes` instead of failing. File names come from `ednas_tf.rundir`.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ednas_tf import rundir

# The gate decisions in the order the report shows them (others follow, sorted).
CHOICES = ("kernel", "expansion", "skip", "width")

# Files that only a stage of this project writes: one of them anywhere makes a folder a run.
STAGE_FILES = (
    rundir.FACTS_FILE,
    rundir.ARCH_FILE,
    rundir.GATES_FILE,
    rundir.HISTORY_FILE,
    rundir.STEP_CONFIG_FILE,
    rundir.TRIALS_FILE,
    rundir.TRAIN_METRICS_FILE,
    rundir.QAT_METRICS_FILE,
    rundir.EXPORT_REPORT_FILE,
    rundir.TIDL_REPORT_FILE,
)


class RunFiles:
    """The files of a run directory (but `exclude`: the report's own outputs), read leniently."""

    def __init__(self, root: Path, exclude: Iterable[Path] = ()):
        self.root = root
        self.notes: list[str] = []
        skip = {p.resolve() for p in exclude}
        self.files = sorted(p for p in root.rglob("*") if p.is_file() and p.resolve() not in skip)

    def rel(self, path: Path) -> str:
        return str(path.relative_to(self.root))

    def find(self, name: str) -> list[Path]:
        """Files called `name`, shallowest first (a run's own file before its stages')."""
        return sorted((p for p in self.files if p.name == name), key=lambda p: len(p.parts))

    def is_run(self) -> bool:
        """Whether any stage has written here (a search in progress has no arch.json yet)."""
        return any(p.name in STAGE_FILES for p in self.files)

    def json(self, path: Path) -> Any:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as err:
            self.notes.append(f"could not read {self.rel(path)}: {err}")
            return None

    def csv(self, path: Path) -> list[dict[str, str]]:
        try:
            with path.open(newline="") as f:
                return list(csv.DictReader(f))
        except (OSError, csv.Error) as err:
            self.notes.append(f"could not read {self.rel(path)}: {err}")
            return []

    def first_json(self, name: str) -> tuple[Path | None, dict | None]:
        """The shallowest file called `name` and its object (None where absent or not an object)."""
        paths = self.find(name)
        data = self.json(paths[0]) if paths else None
        return (paths[0] if paths else None), (data if isinstance(data, dict) else None)


def as_float(value: Any) -> float:
    """A number from a CSV or JSON field; NaN for anything else (shown as "-")."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def epoch_of(entry: dict, index: int) -> int:
    """A history entry's epoch (1-based), its position when it has none."""
    value = entry.get("epoch")
    return value if isinstance(value, int) else index + 1


def natural_key(name: str) -> list[Any]:
    """s2b10 after s2b9."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _history(run: RunFiles, path: Path) -> list[dict] | None:
    data = run.json(path) if path.exists() else None
    return [h for h in data if isinstance(h, dict)] if isinstance(data, list) else None


def search_histories(run: RunFiles, arch: dict | None) -> dict[int, list[dict]]:
    """Per-epoch metrics by search step: step1/ and step2/ when both ran, else the top level."""
    histories = {}
    for step, folder in rundir.STEP_DIRS.items():
        history = _history(run, run.root / folder / rundir.HISTORY_FILE)
        if history is not None:
            histories[step] = history
    if not histories:
        history = _history(run, run.root / rundir.HISTORY_FILE)
        if history is not None:
            search = (arch or {}).get("search")
            step = search.get("step") if isinstance(search, dict) else None
            histories[step if step in rundir.STEP_DIRS else 1] = history
    return {step: history for step, history in histories.items() if history}


def _gate_row_ok(row: dict[str, str]) -> bool:
    fields = ("step", "epoch", "block", "choice", "option", "prob")
    return all(row.get(f) not in (None, "") for f in fields) and all(
        str(row[f]).isdigit() for f in ("step", "epoch")
    )


def gate_rows(run: RunFiles) -> list[dict[str, str]]:
    """gates.csv rows of every step (the top-level file holds both steps once the search ends)."""
    top = run.root / rundir.GATES_FILE
    steps = [run.root / folder / rundir.GATES_FILE for folder in rundir.STEP_DIRS.values()]
    rows = []
    for path in [top] if top.exists() else steps:
        if path.exists():
            read = run.csv(path)
            kept = [r for r in read if _gate_row_ok(r)]
            rows += kept
            if len(kept) < len(read):
                run.notes.append(f"{run.rel(path)}: skipped malformed rows")
    return rows
