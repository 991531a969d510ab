"""What every entry point does around its stage: absl's main, one-line errors, the console script.

A stage is a function of no arguments (it reads its flags) returning the exit status. The
failures a user can cause and fix — a bad flag value, a missing or unreadable file, data that do
not fit the run — end as one `error: ...` line with exit status 2, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from absl import app, flags, logging

# Every error a user can fix derives from these two: ArchSpecError, RunDirError and the dataset
# errors are ValueErrors, DatasetNotFoundError a FileNotFoundError. (Naming them here would import
# TensorFlow with the data package, which the report does without.)
ANTICIPATED = (ValueError, FileNotFoundError)


def stage_main(stage: Callable[[], int]) -> Callable[[list[str]], int]:
    """absl's `main` for `stage`: stray arguments and anticipated failures are one line, exit 2."""

    def main(argv: list[str]) -> int:
        if len(argv) > 1:
            print(
                f"error: unexpected arguments {argv[1:]} (every setting is a --flag)",
                file=sys.stderr,
            )
            return 2
        logging.set_verbosity(logging.WARNING)
        try:
            return stage()
        except ANTICIPATED as err:
            print(f"error: {err}", file=sys.stderr)
            return 2

    return main


def console_script(stage: Callable[[], int]) -> Callable[[], None]:
    """The `[project.scripts]` target of a stage (absl parses the flags, then runs it)."""

    def run() -> None:
        # absl's --help lists the flags of the module named by sys.argv[0]: for a console script
        # that is the script, not the pipeline module that defined them, so hand them over
        for flag in flags.FLAGS.get_key_flags_for_module(stage.__module__):
            flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
        app.run(stage_main(stage))

    return run
