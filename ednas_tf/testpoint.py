"""Test-only pause points: a process held at a known step until a test has faulted it.

Why: a test that interrupts a running stage (SIGINT, SIGTERM, kill -9, a second process on its
run directory or data cache) races the stage's end: on a loaded machine the stage can finish
before the fault, and the test then proves nothing or fails. With `EDNAS_TEST_PAUSE_AT` set to
`<point>:<count>` (for example `train:18`, after the 18th training step), a process that reaches
that point writes the marker file `EDNAS_TEST_PAUSE_MARKER` and waits there until the test
removes the marker (`release`), the caller's `interrupted()` turns true (a signal a loop defers
to its next step boundary), or a signal handler raises; kill -9 needs no help. It pauses once per
process, and gives up after `EDNAS_TEST_PAUSE_TIMEOUT` seconds (600) with a warning, so a test
that died cannot leave it waiting for ever. Unset, `reached` costs one environment lookup.

The points: `search1`, `search2` (a search step's steps) and `train` (a training's or a QAT
fine-tuning's steps), where the count is the steps done since the run started, epochs included
(0: before the first step, outside the loop's deferral of signals, so one stops the process at
once); and `data_cache` (a `--data_cache` split's fill, under its lock and before the first
record), where the count is the fills this process has started.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from ednas_tf.io_utils import atomic_write_text

PAUSE_AT = "EDNAS_TEST_PAUSE_AT"
MARKER = "EDNAS_TEST_PAUSE_MARKER"
TIMEOUT = "EDNAS_TEST_PAUSE_TIMEOUT"
DEFAULT_TIMEOUT_S = 600.0
POLL_S = 0.02  # how often a paused process looks for its release or a deferred signal

_reached: Counter[str] = Counter()  # times each point was reached, for callers without a count
_fired: set[str] = set()


def environ(point: str, count: int, marker: str | Path) -> dict[str, str]:
    """The environment variables that pause a process at `point`:`count` (test side)."""
    return {PAUSE_AT: f"{point}:{count}", MARKER: str(marker)}


def release(marker: str | Path) -> None:
    """Let a process paused with `marker` go on (test side)."""
    Path(marker).unlink(missing_ok=True)


def _never() -> bool:
    return False


def reached(
    point: str, count: int | None = None, interrupted: Callable[[], bool] = _never
) -> None:
    """Pause here if the environment asks for `point` at `count` (None: the number of times this
    process has reached `point`, this time included); see the module docstring."""
    spec = os.environ.get(PAUSE_AT)
    if not spec:
        return
    if count is None:
        _reached[point] += 1
        count = _reached[point]
    if spec != f"{point}:{count}" or spec in _fired:
        return
    _fired.add(spec)
    marker = Path(os.environ[MARKER])
    atomic_write_text(marker, f"{spec} pid {os.getpid()}\n")
    deadline = time.monotonic() + float(os.environ.get(TIMEOUT, DEFAULT_TIMEOUT_S))
    while marker.exists() and not interrupted():
        if time.monotonic() > deadline:
            print(f"warning: nobody released the test pause at {spec}; going on",
                  file=sys.stderr, flush=True)
            return
        time.sleep(POLL_S)
