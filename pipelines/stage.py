"""What every entry point does around its stage: absl's main, one-line errors, the lock, the exit.

A stage is a function of no arguments (it reads its flags) returning the exit status. Around it:

* flags are checked as absl parses them (ranges: `lower_bound` / `upper_bound`, validators); a
  bad or unknown flag and a stray argument are one `error: ...` line, exit 2, before any work;
* `writes` (a function of no arguments) checks the stage's paths and names the run directory it
  writes, or None; that directory is locked (`RunDir.lock`: one writer per run) for the stage's
  whole life;
* the failures a user can cause and fix (a bad value, a missing or unreadable file, data that do
  not fit the run, a run another process is writing) end as one `error: ...` line, exit 2;
* Ctrl-C (KeyboardInterrupt) and SIGTERM (`Terminated`, a KeyboardInterrupt) end as one line,
  exit 130 / 143. A loop that checkpoints on an interrupt re-raises it with where it stopped as
  its message (`raise type(err)(f"at epoch {e} step {s}") from None`), and the line says so;
* anything else is a bug: one line naming the exception and a log file holding the traceback
  (RUN/logs/<stage>-<time>.log, else a temporary file), exit 1; `--debug` lets it through.

Every stage accepts the generic flags (`pipelines.generic_flags`: --progress, --verbose, --debug,
--flagfile), which importing this module defines.
"""

from __future__ import annotations

import datetime
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

from absl import app, flags, logging

from ednas_tf.rundir import RunDir
from pipelines import generic_flags

FLAGS = flags.FLAGS

# Every error a user can fix derives from these two: ArchSpecError, RunDirError and the dataset
# errors are ValueErrors, DatasetNotFoundError a FileNotFoundError. (Naming them here would import
# TensorFlow with the data package, which the report does without.)
ANTICIPATED = (ValueError, FileNotFoundError)
EXIT_ERROR, EXIT_BUG, EXIT_INTERRUPTED, EXIT_TERMINATED = 2, 1, 130, 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the stage is: handled as Ctrl-C is, but the exit status is 143."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)


def _log_file(name: str, run_dir: Path | None) -> Path:
    """A new file for a traceback: in RUN/logs when the run directory exists, else in /tmp."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    if run_dir is not None and run_dir.is_dir():
        try:
            logs = RunDir.at(run_dir).logs
            logs.mkdir(exist_ok=True)
            return Path(tempfile.mkstemp(prefix=f"{name}-{stamp}-", suffix=".log", dir=logs)[1])
        except OSError:
            pass
    return Path(tempfile.mkstemp(prefix=f"ednas-{name}-{stamp}-", suffix=".log")[1])


def _report_bug(name: str, run_dir: Path | None, err: Exception) -> int:
    log = _log_file(name, run_dir)
    log.write_text("".join(traceback.format_exception(err)))
    summary = " ".join(str(err).split())[:300]
    _error(f"unexpected {type(err).__name__}: {summary} (traceback in {log}; --debug prints it)")
    return EXIT_BUG


def stage_main(
    stage: Callable[[], int], name: str, writes: Callable[[], str | Path | None] | None = None
) -> Callable[[list[str]], int]:
    """absl's `main` for `stage` (see the module docstring); `name` names its log files."""

    def main(argv: list[str]) -> int:
        if len(argv) > 1:
            _error(f"unexpected arguments {argv[1:]} (every setting is a --flag)")
            return EXIT_ERROR
        logging.set_verbosity(logging.WARNING)
        signal.signal(signal.SIGTERM, _raise_terminated)
        run_dir = None
        try:
            where = writes() if writes else None
            run_dir = Path(where) if where else None
            with RunDir.at(run_dir).lock(name) if run_dir else nullcontext():
                return stage()
        except ANTICIPATED as err:
            _error(str(err))
            return EXIT_ERROR
        except KeyboardInterrupt as err:
            if getattr(err, "exit_status", None):  # checkpointing.Interrupted: a loop saved
                _error(str(err))  # its checkpoint first and says where it stopped
                return err.exit_status
            where = f" {err}" if str(err) else ""
            _error(f"interrupted{where}; re-run the same command to continue")
            return EXIT_TERMINATED if isinstance(err, Terminated) else EXIT_INTERRUPTED
        except Exception as err:
            if FLAGS["debug"].value:
                raise
            return _report_bug(name, run_dir, err)

    main.stage = stage  # for console_script's --help
    return main


def parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing, but a bad or unknown flag is one `error:` line and exit 2."""
    try:
        return FLAGS(argv)
    except flags.Error as err:
        _error(f"{err} (--helpfull lists every flag)")
        sys.exit(EXIT_ERROR)


def console_script(main: Callable[[list[str]], int]) -> Callable[[], None]:
    """The `[project.scripts]` target of a stage's `main` (absl parses the flags, then runs it)."""

    def run() -> None:
        # absl's --help lists the flags of the module named by sys.argv[0]: for a console script
        # that is the script, not the pipeline module that defined them, so hand them over
        module = getattr(main, "stage", main).__module__
        for flag in [*FLAGS.get_key_flags_for_module(module), *generic_flags.key_flags()]:
            FLAGS.register_key_flag_for_module(sys.argv[0], flag)
        app.run(main, flags_parser=parse_flags)

    return run
