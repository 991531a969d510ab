"""Fault cases of the area 'lock': one writer per run directory (`RunDir.lock`).

A second process writing a run another one writes must be refused with one line naming the
holder's PID and host, and leave the first run's work as a solo run leaves it; a lock file left by
a dead process (kill -9, a crashed machine) must not block the next run.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

from bench.faults.case import (
    REPO_ROOT,
    FaultCase,
    Outcome,
    Pause,
    cli_env,
    kill_hard,
    run_module,
    start_module,
)
from bench.faults.resume import reference
from bench.faults.scratch import TINY, changes, fake_run, tree

SEARCH = "pipelines.search"
GATE_TOLERANCE = 1e-6


def _flat(value, prefix: str = "") -> dict[str, object]:
    """A nested JSON value as {"a/b/c": leaf}."""
    if isinstance(value, dict):
        return {
            k: v for key, sub in value.items() for k, v in _flat(sub, f"{prefix}/{key}").items()
        }
    return {prefix: value}


def _gate_probs_differ(a: dict, b: dict) -> bool:
    """Whether two arch.json gate_probs differ (numbers beyond 1e-6, anything else at all)."""
    a, b = _flat(a), _flat(b)
    if a.keys() != b.keys():
        return True
    numbers = (int, float)
    return any(
        abs(a[k] - b[k]) > GATE_TOLERANCE
        if isinstance(a[k], numbers) and isinstance(b[k], numbers)
        else a[k] != b[k]
        for k in a
    )


def _arch_problems(run: Path, solo: Path) -> list[str]:
    """What differs between a run's arch.json and a solo run's (blocks, gate probabilities)."""
    if not (run / "arch.json").is_file():
        return [f"{run} has no arch.json"]
    mine, theirs = (json.loads((p / "arch.json").read_text()) for p in (run, solo))
    problems = []
    if mine["blocks"] != theirs["blocks"]:
        problems.append(f"blocks {mine['blocks']} differ from a solo run's {theirs['blocks']}")
    if _gate_probs_differ(mine.get("gate_probs", {}), theirs.get("gate_probs", {})):
        problems.append("gate probabilities differ from a solo run's")
    return problems


def _tiny_into(out: Path) -> list[str]:
    return [*TINY, f"--output_dir={out}"]


def _solo_search() -> Path:
    """The tiny search run alone (made once per session: `bench.faults.resume.reference`)."""
    return reference(("tiny-search",), lambda out: run_module(SEARCH, _tiny_into(out)))


def _two_searches(tmp: Path) -> Outcome:
    """The same search started twice into one folder: the second is refused while the first
    runs (held in its step 1 until the second has ended); the first then ends normally with a
    solo run's arch.json."""
    shared = tmp / "shared"
    args = _tiny_into(shared)
    pause = Pause("search1", 3, tmp / "paused")
    first = start_module(SEARCH, args, tmp / "first.log", pause)
    try:
        solo = _solo_search()  # while the first one gets to its pause
        locked = pause.wait(first) and (shared / ".lock").exists()
        second = run_module(SEARCH, args)
        first_running = first.poll() is None
        pause.release()
        first_status = first.wait(600)
    finally:
        kill_hard(first)
    problems = [] if locked else ["the first search never got to step 3 holding its lock"]
    if not first_running:
        problems.append("the first search ended before the second was refused: nothing proven")
    if first_status != 0:
        problems.append(f"the first search failed (exit {first_status})")
    else:
        problems += _arch_problems(shared, solo)
    if f"PID {first.pid} on host {socket.gethostname()}" not in second.stderr:
        problems.append("the refusal does not name the first search's PID and host")
    second.problems += problems
    second.lost_work = first_status != 0
    return second


def _stale_lock(tmp: Path) -> Outcome:
    """A lock file left by a process that died holding it (kill -9): the next search takes it
    over with a warning naming the dead PID, and runs to its end."""
    out = tmp / "run"
    holder = _hold_lock(out)
    holder_pid = holder.pid
    kill_hard(holder)  # dies holding the lock: its file stays, naming it
    outcome = run_module(SEARCH, _tiny_into(out))
    if f"warning: took over {out / '.lock'}, left by PID {holder_pid}" not in outcome.stderr:
        outcome.problems.append("no warning naming the dead holder's PID")
    if not (out / "arch.json").is_file():
        outcome.problems.append("the search wrote no arch.json")
    if (out / ".lock").exists():
        outcome.problems.append("the lock file stayed after the search ended")
    return outcome


HOLD = textwrap.dedent("""
    import sys
    from ednas_tf.rundir import RunDir
    with RunDir.at(sys.argv[1]).lock("search"):
        print("held", flush=True)
        sys.stdin.read()
""")


def _hold_lock(run: Path) -> subprocess.Popen:
    """A process that holds `run`'s lock until its stdin closes (a stand-in for a long stage)."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(run)],
        cwd=REPO_ROOT,
        env=cli_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    if process.stdout.readline().strip() != "held":
        raise RuntimeError(f"the lock holder did not start (exit {process.wait()})")
    return process


def _while_held(module: str, args):
    """A case body: `module` run on a run directory another process is writing is refused with
    the holder's PID, and changes nothing there."""

    def run(tmp: Path) -> Outcome:
        holder = _hold_lock(fake_run(tmp / "run"))
        try:
            before = tree(tmp)
            outcome = run_module(module, args(tmp))
            changed = changes(before, tree(tmp))
        finally:
            holder.communicate("")
        if changed:
            outcome.problems.append(f"the refused run changed {changed[:8]}")
        if f"PID {holder.pid} on host" not in outcome.stderr:
            outcome.problems.append("the refusal does not name the holder's PID")
        return outcome

    return run


BUSY = "is being written by PID "
CASES: list[FaultCase] = [
    FaultCase("lock_two_searches_one_dir", "lock", "clear_error", _two_searches, message=BUSY),
    FaultCase("lock_stale_lock_taken_over", "lock", "recovered", _stale_lock),
    FaultCase(
        "lock_train_while_held",
        "lock",
        "clear_error",
        _while_held("pipelines.train", lambda t: [f"--run_dir={t / 'run'}"]),
        message=BUSY,
    ),
    FaultCase(
        "lock_export_while_held",
        "lock",
        "clear_error",
        _while_held("pipelines.export", lambda t: [f"--run_dir={t / 'run'}"]),
        message=BUSY,
    ),
    FaultCase(
        "lock_report_while_held",
        "lock",
        "clear_error",
        _while_held("pipelines.report", lambda t: [f"--run_dir={t / 'run'}"]),
        message=BUSY,
    ),
    FaultCase(
        "lock_search_resume_while_held",
        "lock",
        "clear_error",
        _while_held(SEARCH, lambda t: _tiny_into(t / "run")),
        message=BUSY,
    ),
    FaultCase(
        "lock_tune_while_held",
        "lock",
        "clear_error",
        _while_held("pipelines.tune", lambda t: [*TINY[:4], f"--output_dir={t / 'run'}"]),
        message=BUSY,
    ),
]
