"""absl flags for the benchmarks, as the pipelines have them (`--flagfile=` included).

Each benchmark owns a `FlagValues` instead of absl's global `FLAGS`: the tests import several
benchmarks into one process, and two modules defining `--seeds` in the global registry would
collide. `parse` turns a bad flag into one `error: ...` line (exit 2) and `--help` into the flag
list (exit 0).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

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
    `error: ...` line and exits 2, like the pipelines. Every flag starts from its default: absl
    keeps the values of an earlier parse, and tests call a benchmark's `main` several times."""
    argv = list(sys.argv if argv is None else argv)
    if any(arg in HELP_FLAGS for arg in argv[1:]):
        print(doc.strip() + "\n\nflags:\n" + fv.get_help(), flush=True)
        raise SystemExit(0)
    fv.unparse_flags()
    try:
        return fv(argv)
    except flags.Error as err:
        error(str(err))


def parse_args(
    fv: flags.FlagValues, argv: Sequence[str] | None = None, doc: str = ""
) -> argparse.Namespace:
    """`parse`, refusing positional arguments, and the flags' values as a Namespace (what argparse
    gave): the code reading `args.x` and the results recording `vars(args)` stay as they were."""
    rest = parse(fv, argv, doc)
    if rest[1:]:
        error(f"unexpected arguments {rest[1:]} (every setting is a --flag)")
    return argparse.Namespace(**fv.flag_values_dict())


def error(message: str) -> NoReturn:
    """A bad command line: one `error: ...` line on stderr, exit status 2 (as argparse's)."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def comma_separated(fv: flags.FlagValues, name: str, convert: type) -> tuple:
    """A comma-separated flag's values through `convert` (int or float); a value it refuses is
    one `error: ...` line naming the flag (exit 2)."""
    text = fv[name].value or ""
    try:
        return tuple(convert(v) for v in text.split(",") if v.strip())
    except ValueError:
        kind = "integers" if convert is int else "numbers"
        error(f"--{name} must be comma-separated {kind}, got {text!r}")


def seeds(fv: flags.FlagValues, name: str = "seeds") -> list[int]:
    """The distinct integer seeds of a comma-separated flag; none, a repeat or a non-integer is
    one `error: ...` line (exit 2), so a typo does not train one seed twice."""
    values = list(comma_separated(fv, name, int))
    if not values:
        error(f"--{name} names no seed")
    if len(set(values)) != len(values):
        error(f"--{name} repeats a seed: {fv[name].value!r}")
    return values
