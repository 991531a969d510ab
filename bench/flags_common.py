"""absl flags shared by the benchmarks of the Pareto family (pareto, seed_spread, fmnist_best,
variant_cost): parsing `main(argv)`'s flags afresh, seeds, and the child-training flags.

`bench/cli.py` gives each benchmark its own `FlagValues`; these helpers add what several of
these benchmarks need on top, with the names and defaults of their argparse predecessors in
`bench/common.py` (which the other benchmarks still use).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import NoReturn

from absl import flags

from bench import cli


def fail(message: str) -> NoReturn:
    """A bad flag value after parsing: one `error: ...` line, exit 2 (as `cli.parse` does)."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def parse_flags(
    fv: flags.FlagValues, argv: Sequence[str] | None, doc: str, prog: str
) -> SimpleNamespace:
    """`fv` parsed from its defaults, as a namespace of flag values (`vars()` gives the
    results file's config). `argv` holds the flags only, as `main(argv)` takes them (None:
    `sys.argv`). Parsing starts from the defaults each time: a benchmark's `main` runs several
    times in one test process, and absl would keep an earlier call's values."""
    fv.unparse_flags()
    rest = cli.parse(fv, sys.argv if argv is None else [prog, *argv], doc)
    if rest[1:]:
        fail(f"unexpected arguments {rest[1:]}")
    return SimpleNamespace(**fv.flag_values_dict())


def parse_seeds(text: str) -> list[int]:
    """Comma-separated integer seeds; ValueError when one is not an integer, none is named or one
    repeats."""
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"--seeds must be comma-separated integers, got {text!r}") from None
    if not seeds:
        raise ValueError("--seeds names no seed")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds repeats a seed: {text!r}")
    return seeds


def seeds_of(values: Mapping[str, object]) -> list[int]:
    """The seeds a run trains every model under: its `seeds` if set, else its `seed`; `values`
    are a run's flags (parsed, or a results file's config). ValueError for bad `seeds`."""
    return parse_seeds(str(values["seeds"])) if values.get("seeds") else [values.get("seed")]


def seed_list(args: SimpleNamespace) -> list[int]:
    """`seeds_of` the parsed flags; a bad --seeds is one `error:` line."""
    try:
        return seeds_of(vars(args))
    except ValueError as err:
        fail(str(err))


def define_child_training_flags(fv: flags.FlagValues, epochs: int) -> None:
    """Data and recipe flags of the benchmarks that train one child of the Pareto space
    (seed_spread, fmnist_best): the same names and defaults as bench/pareto.py's."""
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
