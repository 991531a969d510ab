"""Fault cases of the area 'usage': flags and files checked before any work, one-line errors.

Every refusal must be one `error:` line naming the flag or file, exit 2, and leave the scratch
folder untouched (no output folder created, no record changed: `scratch.refused`). Ctrl-C must
end a search with exit 130 and one line, and a refused run's leftovers must not block the
corrected one.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from bench.faults.case import (
    REPO_ROOT,
    FaultCase,
    Outcome,
    Pause,
    cli_env,
    kill_hard,
    python_command,
    run_module,
    start_module,
)
from bench.faults.scratch import TINY, fake_run, refused

SEARCH, TRAIN, QAT, EXPORT = (
    "pipelines.search",
    "pipelines.train",
    "pipelines.qat",
    "pipelines.export",
)
TUNE, REPORT, SUMMARY = "pipelines.tune", "pipelines.report", "pipelines.summary"


def _search(*flags: str):
    """The tiny search into SCRATCH/run with `flags` appended."""
    return lambda tmp: [*TINY, *flags, f"--output_dir={tmp / 'run'}"]


def _file(name: str, text: str = "not a folder\n"):
    return lambda tmp: (tmp / name).write_text(text)


def _with_run(tmp: Path) -> Path:
    return fake_run(tmp / "run")


def _cut_short(name: str, text: str):
    """A stand-in step 1 of a search (no checkpoint yet) holding a cut-short `name`."""

    def setup(tmp: Path) -> None:
        step = tmp / "run" / "step1"
        step.mkdir(parents=True)
        (step / name).write_text(text)

    return setup


def _unwritable(tmp: Path) -> Outcome:
    """--output_dir inside a read-only folder (as an unprivileged user when this runs as root)."""
    base = Path(tempfile.mkdtemp(prefix="ednas-ro-"))  # outside tmp: its parents are 0700
    try:
        os.chmod(base, 0o755)
        locked = base / "ro"
        locked.mkdir(mode=0o555)
        os.chmod(locked, 0o555)
        command = python_command(SEARCH, [*TINY, f"--output_dir={locked / 'run'}"])
        if os.geteuid() == 0:
            command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        outcome = _run_command(command)
        if any(locked.iterdir()):
            outcome.problems.append(f"the refused run wrote into {locked}")
        return outcome
    finally:
        os.chmod(base / "ro", 0o755)
        shutil.rmtree(base, ignore_errors=True)


def _run_command(command: list[str]) -> Outcome:
    done = subprocess.run(
        command, cwd=REPO_ROOT, env=cli_env(), capture_output=True, text=True, timeout=600
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


def _leftover_does_not_block(tmp: Path) -> Outcome:
    """An older failed --batch_size=0 run left step1/run_config.json (and no checkpoint): the
    corrected command runs, and rewrites it."""
    step = tmp / "run" / "step1"
    step.mkdir(parents=True)
    (step / "run_config.json").write_text(json.dumps({"batch_size": 0, "seed": 0}))
    outcome = run_module(SEARCH, _search()(tmp))
    config = json.loads((step / "run_config.json").read_text())
    if config.get("batch_size") != 16:
        outcome.problems.append(f"run_config.json not rewritten: {config}")
    if not (tmp / "run" / "arch.json").is_file():
        outcome.problems.append("no arch.json")
    return outcome


def _ctrl_c(tmp: Path) -> Outcome:
    """SIGINT to a search held where its step 1 is about to take its first step (outside the
    loop that defers a signal to a checkpoint): exit 130, one line."""
    out = tmp / "run"
    pause = Pause("search1", 0, tmp / "paused")
    process = start_module(SEARCH, [*TINY, f"--output_dir={out}"], tmp / "search.log", pause)
    try:
        started = pause.wait(process)
        if started:
            os.killpg(process.pid, signal.SIGINT)
        returncode = process.wait(120)
    finally:
        kill_hard(process)
    log = (tmp / "search.log").read_text()
    outcome = Outcome(returncode, "", log)
    if not started:
        outcome.problems.append("the search never got to its first step")
    if (out / ".lock").exists():
        outcome.problems.append("the interrupted search left its lock file behind")
    return outcome


def _truncated_record_refused(tmp: Path) -> Outcome:
    """train on a run whose run.json was cut short: the error names run.json; nothing written."""
    run = fake_run(tmp / "run")
    text = (run / "run.json").read_text()
    (run / "run.json").write_text(text[: len(text) // 2])
    return refused(TRAIN, lambda t: [f"--run_dir={t / 'run'}"])(tmp)


CASES: list[FaultCase] = [
    FaultCase(
        "search_epochs_0",
        "usage",
        "clear_error",
        refused(SEARCH, _search("--epochs=0")),
        message="--epochs=0: 0 is not a positive integer",
    ),
    FaultCase(
        "search_target_latency_fraction_2",
        "usage",
        "clear_error",
        refused(SEARCH, _search("--target_latency_fraction=2")),
        message="--target_latency_fraction=2: 2.0 is not a number in the range [0.0, 1.0]",
    ),
    FaultCase(
        "search_batch_size_0",
        "usage",
        "clear_error",
        refused(SEARCH, _search("--batch_size=0")),
        message="--batch_size=0: 0 is not a positive integer",
    ),
    FaultCase(
        "search_warmup_longer_than_search",
        "usage",
        "clear_error",
        refused(SEARCH, _search("--warmup_epochs=5")),
        message="--warmup_epochs=5 exceeds --epochs=2",
    ),
    FaultCase(
        "search_unknown_flag",
        "usage",
        "clear_error",
        refused(SEARCH, _search("--epoch=3")),
        message="Unknown command line flag 'epoch'",
    ),
    FaultCase(
        "search_stray_argument",
        "usage",
        "clear_error",
        refused(SEARCH, _search("runs/x")),
        message="unexpected arguments ['runs/x']",
    ),
    FaultCase(
        "search_output_dir_is_a_file",
        "usage",
        "clear_error",
        refused(SEARCH, lambda t: [*TINY, f"--output_dir={t / 'out'}"], _file("out")),
        message="out is a file, not a folder",
    ),
    FaultCase(
        "search_output_dir_under_a_file",
        "usage",
        "clear_error",
        refused(SEARCH, lambda t: [*TINY, f"--output_dir={t / 'out' / 'run'}"], _file("out")),
        message="cannot be created: ",
    ),
    FaultCase(
        "search_output_dir_unwritable",
        "usage",
        "clear_error",
        _unwritable,
        message="is not writable (permission denied on ",
    ),
    FaultCase(
        "search_leftover_run_config_does_not_block",
        "usage",
        "recovered",
        _leftover_does_not_block,
    ),
    FaultCase(
        "search_cut_short_gates_csv",
        "usage",
        "clear_error",
        refused(
            SEARCH,
            _search(),
            _cut_short("gates.csv", "step,epoch,block,choice\n1,0,s1"),
            watch="run/step1/gates.csv",
        ),
        message="gates.csv: line 2 does not match the header",
    ),
    FaultCase(
        "search_cut_short_history_json",
        "usage",
        "clear_error",
        refused(
            SEARCH,
            _search(),
            _cut_short("history.json", '[{"epoch": 1, "lo'),
            watch="run/step1/history.json",
        ),
        message="history.json is not valid JSON",
    ),
    FaultCase(
        "search_ctrl_c",
        "usage",
        "clear_error",
        _ctrl_c,
        message="interrupted; re-run the same command to continue",
        returncode=130,
    ),
    FaultCase(
        "train_arch_is_a_folder",
        "usage",
        "clear_error",
        refused(TRAIN, lambda t: [f"--arch={t / 'run'}"], _with_run),
        message="is a folder: give an arch.json file",
    ),
    FaultCase(
        "train_run_dir_missing",
        "usage",
        "clear_error",
        refused(TRAIN, lambda t: [f"--run_dir={t / 'nope'}"]),
        message="--run_dir=",
    ),
    FaultCase(
        "train_epochs_0",
        "usage",
        "clear_error",
        refused(TRAIN, lambda t: [f"--run_dir={t / 'run'}", "--epochs=0"], _with_run),
        message="--epochs=0: 0 is not a positive integer",
    ),
    FaultCase(
        "train_cut_short_run_json",
        "usage",
        "clear_error",
        _truncated_record_refused,
        message="run.json: unreadable run record",
    ),
    FaultCase(
        "qat_batch_size_0",
        "usage",
        "clear_error",
        refused(QAT, lambda t: [f"--run_dir={t / 'run'}", "--batch_size=0"], _with_run),
        message="--batch_size=0: 0 is not a positive integer",
    ),
    FaultCase(
        "export_output_dir_is_a_file",
        "usage",
        "clear_error",
        refused(
            EXPORT,
            lambda t: [f"--run_dir={t / 'run'}", f"--output_dir={t / 'out'}"],
            lambda t: (_with_run(t), _file("out")(t)),
        ),
        message="out is a file, not a folder",
    ),
    FaultCase(
        "tune_budget_fraction_2",
        "usage",
        "clear_error",
        refused(TUNE, lambda t: [*TINY[:4], "--latency_budget_fraction=2", f"--output_dir={t}/r"]),
        message="--latency_budget_fraction=2: 2.0 is not a number in the range",
    ),
    FaultCase(
        "summary_run_dir_missing",
        "usage",
        "clear_error",
        refused(SUMMARY, lambda t: [f"--run_dir={t / 'nope'}"]),
        message="does not exist",
    ),
    FaultCase(
        "report_run_dir_is_a_file",
        "usage",
        "clear_error",
        refused(REPORT, lambda t: [f"--run_dir={t / 'out'}"], _file("out")),
        message="is a file, not a folder",
    ),
]
