"""absl flags for the benchmarks, as the pipelines have them (`--flagfile=` included).

Each benchmark owns a `FlagValues` instead of absl's global `FLAGS`: the tests import several
benchmarks into one process, and two modules defining `--seeds` in the global registry would
collide. `parse` turns a bad flag into one `error: ...` line (exit 2) and `--help` into the flag
list (exit 0).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
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


def parse_seeds(text: str) -> list[int]:
    """Distinct integer seeds of a comma-separated list; ValueError when one is not an integer,
    none is named or one repeats (a typo must not train one seed twice)."""
    try:
        values = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"--seeds must be comma-separated integers, got {text!r}") from None
    if not values:
        raise ValueError("--seeds names no seed")
    if len(set(values)) != len(values):
        raise ValueError(f"--seeds repeats a seed: {text!r}")
    return values


def seeds_of(values: Mapping[str, object]) -> list[int]:
    """The seeds a run trains every model under: its `seeds` if set, else its `seed`; `values`
    are a run's flags (parsed, or a results file's config). ValueError for bad `seeds`."""
    return parse_seeds(str(values["seeds"])) if values.get("seeds") else [values.get("seed")]


def seed_list(args: argparse.Namespace) -> list[int]:
    """`seeds_of` the parsed flags; a bad --seeds is one `error:` line."""
    try:
        return seeds_of(vars(args))
    except ValueError as err:
        error(str(err))


def parse_flags(
    fv: flags.FlagValues, argv: Sequence[str] | None, doc: str, prog: str
) -> argparse.Namespace:
    """`parse_args` for the Pareto-family benchmarks, whose `main(argv)` takes the flags without
    the program name (argparse's convention, which their tests use); None: `sys.argv`."""
    return parse_args(fv, sys.argv if argv is None else [prog, *argv], doc)


def define_network_input_flags(fv: flags.FlagValues, presets: Sequence[str]) -> None:
    """--preset, --image_size and --num_classes of the benchmarks that build one space's
    networks at the paper's scale (default: `imagenet_paper` at 224 px with 1000 classes)."""
    flags.DEFINE_enum("preset", "imagenet_paper", sorted(presets), "Space preset.", flag_values=fv)
    flags.DEFINE_integer("image_size", 224, "Input side in pixels.", lower_bound=8, flag_values=fv)
    flags.DEFINE_integer(
        "num_classes", 1000, "Classes of the classifier.", lower_bound=2, flag_values=fv
    )


def define_child_training_flags(fv: flags.FlagValues, epochs: int) -> None:
    """Data and recipe flags of the benchmarks that train one child of the Pareto space
    (seed_spread, fmnist_best, probe_ranking): the same names and defaults as bench/pareto.py's."""
    flags.DEFINE_string("dataset", "fashion_mnist", "Dataset (fashion_mnist).", flag_values=fv)
    flags.DEFINE_string("data_dir", None, "Where the dataset lies (registry).", flag_values=fv)
    flags.DEFINE_integer("image_size", 32, "Input side in pixels (32).", flag_values=fv)
    flags.DEFINE_float(
        "width", 0.5, "Width of the Pareto space, for named children.", flag_values=fv
    )
    flags.DEFINE_integer("limit", None, "Training images (default all).", flag_values=fv)
    flags.DEFINE_integer("epochs", epochs, f"Training epochs ({epochs}).", flag_values=fv)
    flags.DEFINE_integer(
        "steps_per_epoch", None, "Steps per epoch (default one pass).", flag_values=fv
    )


def define_seeded_training_flags(
    fv: flags.FlagValues, seeds: str, output_dir: str, layout: str
) -> None:
    """The flags of the benchmarks that train a child under several seeds on the Pareto split:
    `define_child_training_flags` and the seeds, test subset, split seed, scratch folder
    (`layout`: what lies in it) and --resume; `seed_list` reads --seeds and
    `bench.common.seeded_training_splits` loads the split."""
    flags.DEFINE_string(
        "seeds", seeds, f"Comma-separated training seeds (default {seeds}).", flag_values=fv
    )
    define_child_training_flags(fv, epochs=10)
    flags.DEFINE_integer("num_test", None, "Test images (default all).", flag_values=fv)
    flags.DEFINE_integer("split_seed", 0, "Seed of the data split (default 0).", flag_values=fv)
    flags.DEFINE_string(
        "output_dir", output_dir, f"Scratch, {layout} (default {output_dir}).", flag_values=fv
    )
    flags.DEFINE_bool(
        "resume",
        False,
        "Reuse a training already in --output_dir when its network, recipe and data are the "
        "same (a cut-off run goes on where it stopped).",
        flag_values=fv,
    )
