"""absl flags for the benchmarks, as the pipelines have them (`--flagfile=` included).

Each benchmark owns a `FlagValues` instead of absl's global `FLAGS`: the tests import several
benchmarks into one process, and two modules defining `--seeds` in the global registry would
collide. `parse` turns a bad flag into one `error: ...` line (exit 2) and `--help` into the flag
list (exit 0).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from absl import flags

HELP_FLAGS = ("-h", "--help", "-help", "--helpfull", "--helpshort")


def new_flags() -> flags.FlagValues:
    """An empty flag registry for one benchmark."""
    return flags.FlagValues()


def define_results_name(fv: flags.FlagValues, default: str) -> None:
    """`--results_name`: which bench/results/<name>.json a run writes, so a partial or
    exploratory re-run does not replace the committed figures of the full one."""
    flags.DEFINE_string(
        "results_name",
        default,
        f"Write bench/results/<name>.json (default {default}); give a partial or exploratory "
        "re-run its own name so the committed results stay.",
        flag_values=fv,
    )


def parse(fv: flags.FlagValues, argv: Sequence[str] | None = None, doc: str = "") -> list[str]:
    """Parse `argv` (argv[0] is the program; default `sys.argv`) into `fv`; returns what is left.

    `--help` prints `doc` and every flag, then exits 0; an unknown flag or a bad value prints one
    `error: ...` line and exits 2, like the pipelines."""
    argv = list(sys.argv if argv is None else argv)
    if any(arg in HELP_FLAGS for arg in argv[1:]):
        print(doc.strip() + "\n\nflags:\n" + fv.get_help(), flush=True)
        raise SystemExit(0)
    try:
        return fv(argv)
    except flags.Error as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


def comma_separated(fv: flags.FlagValues, name: str, convert: type) -> tuple:
    """A comma-separated flag's values through `convert` (int or float); a value it refuses is
    one `error: ...` line naming the flag (exit 2)."""
    text = fv[name].value or ""
    try:
        return tuple(convert(v) for v in text.split(",") if v.strip())
    except ValueError:
        kind = "integers" if convert is int else "numbers"
        print(f"error: --{name} must be comma-separated {kind}, got {text!r}", file=sys.stderr)
        raise SystemExit(2) from None
