"""How far one child's test accuracy moves from one training seed to the next (issue 5).

The Pareto benchmark asks for margins of 0.5 pt between single training runs; this measures the
run-to-run spread of the same recipe (`ednas_tf.training.train_child`) on the same data split,
so a margin can be read against it.

  python bench/seed_spread.py --arch=all_3x3 --limit=16000 --epochs=5 --seeds=1,2
  python bench/seed_spread.py --arch=runs/pareto/ednas_t0.6/arch.json --seeds=0,1,2
  python bench/seed_spread.py --arch=all_3x3 --space=small_hires --seeds=1

`--arch` is a fixed child of bench/pareto.py's space (all_3x3, all_5x5, cifar_mbv2_w0.35, ...;
`--space` picks the preset, as in bench/pareto.py) or an arch.json. The data split is always
the one bench/pareto.py uses with `--split_seed`; only the training seed (initialisation,
augmentation, batch order) changes. Writes bench/results/seed_spread.json (another name with
--results_name). Flags may come from a file: --flagfile=<file>.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

from absl import flags

from bench import cli
from bench.common import (
    BENCH_SPACES,
    emit,
    host_space,
    seeded_training_splits,
    spread,
    train_under_seeds,
)
from ednas_tf.arch import ArchSpec
from ednas_tf.baselines.fixed import selected_baselines

NAME = "seed_spread"
FV = cli.new_flags()
flags.DEFINE_string(
    "arch", "all_3x3", "A fixed child of the Pareto space, or an arch.json.", flag_values=FV
)
flags.DEFINE_enum(
    "space",
    "small",
    list(BENCH_SPACES),
    "The space whose fixed child --arch names (an arch.json needs none).",
    flag_values=FV,
)
cli.define_seeded_training_flags(
    FV, seeds="1,2", output_dir="runs/seed_spread", layout="one seed<S> per seed"
)
cli.define_results_name(FV, NAME)


def parse_args(argv: Sequence[str] | None = None) -> SimpleNamespace:
    """The flags (`argv` without the program; None: sys.argv) and the seed list."""
    args = cli.parse_flags(FV, argv, __doc__, "bench/seed_spread.py")
    args.seed_list = cli.seed_list(args)
    return args


def resolve_arch(name_or_path: str, splits, width: float, space: str = "small") -> ArchSpec:
    """A named fixed child of the Pareto benchmark's `space` preset, or the ArchSpec saved at a
    path."""
    if name_or_path.endswith(".json"):
        if not Path(name_or_path).is_file():
            raise SystemExit(f"error: no arch file {name_or_path}")
        return ArchSpec.load(name_or_path)
    if "," in name_or_path:
        raise SystemExit(f"error: --arch takes one child, got {name_or_path!r}")
    [(_, spec)] = selected_baselines(host_space(splits, width, preset=space), name_or_path)
    if not isinstance(spec, ArchSpec):
        raise SystemExit(f"error: {name_or_path} is a keras.applications model, not our child")
    return spec


def main(argv: Sequence[str] | None = None) -> int:
    """Flags → one child trained under each seed → bench/results/<results_name>.json."""
    args = parse_args(argv)
    splits = seeded_training_splits(args)
    arch = resolve_arch(args.arch, splits, args.width, args.space)
    runs = train_under_seeds(arch, splits, args, Path(args.output_dir), reuse=args.resume)
    figures = {
        "arch": args.arch,
        "blocks": [b.encode() for b in arch.blocks],
        "runs": runs,
        **spread([r["test_acc"] for r in runs]),
        "config": {k: v for k, v in vars(args).items() if k != "seed_list"},
        "splits": splits.sizes,
        "command": " ".join([".venv/bin/python", "bench/seed_spread.py", *(argv or sys.argv[1:])]),
    }
    emit(args.results_name, figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
