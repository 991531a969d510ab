"""A fault case: one bad input or one fault a user can cause, and how the tool must answer it.

The fault catalogue (`bench.faults.CASES`) is run by the tests (`tests/test_faults.py`, each case
must end as it expects) and by `bench/fault_suite.py` (the counts). A case does its fault in a
scratch folder — bad flags, a corrupt image folder, two runs in one directory, a kill -9 in the
middle of an epoch — and returns an `Outcome`; `classify` turns that into one verdict:

* clear_error: a non-zero exit with one `error: ...` line naming the problem, no traceback;
* recovered: exit 0 and the result the uninterrupted / clean run gives (the case checks it);
* traceback: a Python traceback or a raw TensorFlow error reached the user;
* silent_wrong: exit 0 with a wrong result;
* lost_work: finished work was lost or a file was left half-written.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ednas_tf import testpoint

VERDICTS = ("clear_error", "recovered", "traceback", "silent_wrong", "lost_work")
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclasses.dataclass
class Outcome:
    """What a fault led to. `problems` lists what the case's own checks found wrong (a result
    that differs from the clean run's, a half-written file, lost work); empty: all as expected."""

    returncode: int
    stdout: str = ""
    stderr: str = ""
    problems: list[str] = dataclasses.field(default_factory=list)
    lost_work: bool = False


@dataclasses.dataclass(frozen=True)
class FaultCase:
    """name: unique id; area: lock, cli, data, resume, nan, ...; expect: 'clear_error' or
    'recovered'; message: a substring the one-line error must contain (clear_error);
    returncode: the exit status expected of a clear error (2 for bad input; 130 / 143 for an
    interrupt); run: does the fault in a scratch folder. slow: a case that kills and re-runs
    trainings (the test suite runs them too; `bench/fault_suite.py --quick` skips them)."""

    name: str
    area: str
    expect: str
    run: Callable[[Path], Outcome]
    message: str | None = None
    returncode: int = 2
    slow: bool = False


def classify(case: FaultCase, outcome: Outcome) -> str:
    """The one verdict of `outcome` (see the module docstring)."""
    text = outcome.stdout + outcome.stderr
    if "Traceback (most recent call last)" in text or "tensorflow.python.framework.errors" in text:
        return "traceback"
    if outcome.lost_work:
        return "lost_work"
    if outcome.returncode == 0:
        return "silent_wrong" if outcome.problems or case.expect != "recovered" else "recovered"
    error_lines = [line for line in outcome.stderr.splitlines() if line.startswith("error: ")]
    named = case.message is None or any(case.message in line for line in error_lines)
    if error_lines and named and not outcome.problems:
        return "clear_error"
    return "traceback"  # a failure without a clear message is as bad as a trace to the user


def python_command(module: str, args: Sequence[str]) -> list[str]:
    """This interpreter running `python -m module args` (the checkout's code: cwd is its root)."""
    return [sys.executable, "-m", module, *map(str, args)]


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(extra or {})}


def run_module(module: str, args: Sequence[str], timeout: float = 600) -> Outcome:
    """Run an entry point to its end."""
    done = subprocess.run(
        python_command(module, args),
        cwd=REPO_ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


@dataclasses.dataclass(frozen=True)
class Pause:
    """Where a started entry point waits for its fault (`ednas_tf.testpoint`): at `point` after
    `count` (steps, fills), until `release` or the fault; `marker` appears when it is there."""

    point: str
    count: int
    marker: Path

    def env(self) -> dict[str, str]:
        return testpoint.environ(self.point, self.count, self.marker)

    def wait(self, process: subprocess.Popen, timeout: float = 600) -> bool:
        """Whether the process got there (False: it ended or `timeout` s passed first)."""
        return wait_for(self.marker.exists, process, timeout)

    def release(self) -> None:
        testpoint.release(self.marker)


def start_module(
    module: str, args: Sequence[str], log: Path, pause: Pause | None = None
) -> subprocess.Popen:
    """Start an entry point in the background, its stdout and stderr into `log`; `pause` holds
    it at a known point until the test has done its fault there."""
    handle = log.open("w")
    return subprocess.Popen(
        python_command(module, args),
        cwd=REPO_ROOT,
        env=cli_env(pause.env() if pause else None),
        stdout=handle,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def wait_for(predicate: Callable[[], bool], process: subprocess.Popen, timeout: float) -> bool:
    """Poll `predicate` until it holds (True), the process ends or `timeout` s pass (False).
    Polling for a condition, never a fixed delay, is how a case waits for a process."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        if process.poll() is not None:
            return predicate()
        time.sleep(0.05)
    return False


def kill_hard(process: subprocess.Popen) -> None:
    """kill -9, as a crashed machine or an OOM killer would: no handler runs."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
