"""Does a search land on the latency it was asked for? Short searches at three targets on `host`.

For each target (spread over the space's latency range on this machine's LiteRT lookup table) it
runs a short two-step search with the target objective |LAT/T - 1|, derives the child (fitted to
the target, see ednas_tf/search/derive.py), and prints the target, the LUT-predicted latency of the
derived child, its measured LiteRT latency (the merged deploy model, timed like the table's probes
against the same speed yardstick) and the relative errors. Target (issue 3): predicted within
±5 % of the target in one search each.

  python bench/latency_target.py                     # Fashion-MNIST at 32 px, targets 0.2/0.5/0.8
  python bench/latency_target.py --dataset=synthetic --epochs=1 --steps_per_epoch=10
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import tensorflow as tf
from absl import flags

from bench import cli
from bench.common import emit, host_space_and_table, search_at_target
from deploy.merge import merge_model
from ednas_tf.cost.lut import LookupTable
from ednas_tf.cost.network import child_latency
from ednas_tf.data import DataSplits, load_splits
from ednas_tf.model import build
from ednas_tf.search.loop import SearchConfig
from ednas_tf.search.targets import resolve_target_ms
from ednas_tf.space import SearchSpace

TOLERANCE = 0.05  # issue 3: predicted within ±5 % of the target

FV = cli.new_flags()
flags.DEFINE_string("dataset", "fashion_mnist", "Any registered dataset.", flag_values=FV)
flags.DEFINE_string("data_dir", None, "Where the dataset lives (default: usual).", flag_values=FV)
flags.DEFINE_integer("image_size", 32, "Input size of the space.", flag_values=FV)
flags.DEFINE_integer("limit", 6000, "Training images used by the search.", flag_values=FV)
flags.DEFINE_float("width", 0.5, "Width multiplier of the space.", flag_values=FV)
flags.DEFINE_string(
    "fractions",
    "0.2,0.5,0.8",
    "Targets as fractions of the space's latency range (0 fastest, 1 slowest).",
    flag_values=FV,
)
flags.DEFINE_integer("epochs", 3, "Search epochs per step.", flag_values=FV)
flags.DEFINE_integer("steps_per_epoch", 40, "Search iterations per epoch.", flag_values=FV)
flags.DEFINE_enum(
    "derive_mode", "parallel", ["argmax", "parallel"], "How the child is derived.", flag_values=FV
)
flags.DEFINE_string("output_dir", "runs/latency_target", "Scratch for the runs.", flag_values=FV)
flags.DEFINE_integer("seed", 0, "Seed of the data split and the searches.", flag_values=FV)
cli.define_results_name(FV, "latency_target")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The flags' values; argv as absl's (argv[0] the program; default sys.argv)."""
    return cli.parse_args(FV, argv, __doc__)


def _targets(
    space: SearchSpace, table: LookupTable, fractions: Sequence[float]
) -> tuple[list[tuple[float, float]], tuple[float, float]]:
    """(fraction, target ms) per fraction and the space's range, through the one conversion
    the search uses; a fraction outside [0, 1] is one `error:` line before any search runs."""
    try:
        targets = [(f, resolve_target_ms(space, table, fraction=f)[0]) for f in fractions]
    except ValueError as err:
        cli.error(f"--fractions: {err}")
    return targets, resolve_target_ms(space, table)[1]


def _search_row(
    space: SearchSpace,
    splits: DataSplits,
    table: LookupTable,
    fraction: float,
    target: float,
    args: argparse.Namespace,
) -> dict:
    """One search at `target`: its child's predicted and measured ms against the target."""
    config = SearchConfig(
        epochs=args.epochs,
        warmup_epochs=min(1, args.epochs - 1),
        steps_per_epoch=args.steps_per_epoch,
    )
    search_start = time.time()
    arch = search_at_target(
        space,
        splits,
        config,
        table,
        target,
        str(Path(args.output_dir) / f"t{fraction:g}"),
        derive_mode=args.derive_mode,
        seed=args.seed,
    )
    predicted = child_latency(arch, table)
    deployed = merge_model(build(arch))  # parallel kernel sets as one kernel, BN folded
    measured = table.time_network(deployed)
    row = {
        "fraction": fraction,
        "target_ms": round(target, 5),
        "predicted_ms": round(predicted, 5),
        "measured_ms": round(measured, 5),
        "predicted_vs_target": round((predicted - target) / target, 4),
        "measured_vs_target": round((measured - target) / target, 4),
        "predicted_vs_measured": round((predicted - measured) / measured, 4),
        "blocks": " ".join(b.encode() for b in arch.blocks),
        "search_seconds": round(time.time() - search_start, 1),
    }
    print(
        f"target {target:.4f} ms: predicted {predicted:.4f} ms "
        f"({100 * row['predicted_vs_target']:+.1f} %), measured {measured:.4f} ms "
        f"({100 * row['measured_vs_target']:+.1f} % of target), search "
        f"{row['search_seconds']:.0f} s\n  {row['blocks']}",
        flush=True,
    )
    return row


def _print_table(rows: list[dict], worst: float, worst_measured: float) -> None:
    """Every target's errors in one table, then the worst against the tolerance."""
    print(f"\n{'target ms':>10} {'predicted':>10} {'err':>7} {'measured':>10} {'err':>7}")
    for r in rows:
        print(
            f"{r['target_ms']:>10.4f} {r['predicted_ms']:>10.4f} "
            f"{100 * r['predicted_vs_target']:>+6.1f}% {r['measured_ms']:>10.4f} "
            f"{100 * r['measured_vs_target']:>+6.1f}%"
        )
    print(
        f"max |predicted - target| / target {100 * worst:.1f} % (target <= {100 * TOLERANCE:g} %); "
        f"max |measured - target| / target {100 * worst_measured:.1f} %"
    )


def main(argv: Sequence[str] | None = None) -> dict:
    """Search at each target, compare, write latency_target.json."""
    args = parse_args(argv)
    fractions = cli.comma_separated(FV, "fractions", float)
    if not fractions:
        cli.error("--fractions names no target")
    tf.keras.utils.set_random_seed(args.seed)
    splits = load_splits(
        args.dataset,
        data_dir=args.data_dir,
        image_size=args.image_size,
        limit=args.limit,
        seed=args.seed,
    )
    space, table = host_space_and_table(splits, args.width)
    targets, bounds = _targets(space, table, fractions)  # measures whatever the table lacks
    print(
        f"data: {splits.name} {splits.input_shape}, splits {splits.sizes}; host range "
        f"{bounds[0]:.4g}-{bounds[1]:.4g} ms",
        flush=True,
    )
    start = time.time()
    rows = [_search_row(space, splits, table, f, target, args) for f, target in targets]
    worst = max(abs(r["predicted_vs_target"]) for r in rows)
    worst_measured = max(abs(r["measured_vs_target"]) for r in rows)
    _print_table(rows, worst, worst_measured)
    figures = {
        "rows": rows,
        "max_abs_predicted_vs_target": worst,
        "max_abs_measured_vs_target": worst_measured,
        "all_within_5pct": bool(worst <= TOLERANCE),
        "space_bounds_ms": [round(b, 5) for b in bounds],
        "settings": {
            "dataset": splits.name,
            "input_shape": list(splits.input_shape),
            "splits": splits.sizes,
            "width": args.width,
            "epochs": args.epochs,
            "steps_per_epoch": args.steps_per_epoch,
            "derive_mode": args.derive_mode,
            "lut": str(table.path),
            "runtime": table.metadata.get("runtime"),
            "seed": args.seed,
            "seconds": round(time.time() - start, 1),
        },
    }
    return emit(args.results_name, figures)


if __name__ == "__main__":
    main()
