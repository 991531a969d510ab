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
from pathlib import Path

import tensorflow as tf

from bench.common import emit, host_space_and_table, search_at_target
from deploy.merge import merge_model
from ednas_tf.cost.network import child_latency, space_latency_bounds
from ednas_tf.data import load_splits
from ednas_tf.model import build
from ednas_tf.search.loop import SearchConfig
from ednas_tf.search.objectives import target_from_fraction

TOLERANCE = 0.05  # issue 3: predicted within ±5 % of the target


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="fashion_mnist", help="any registered dataset")
    p.add_argument("--data_dir", default=None, help="where the dataset lives (default: usual)")
    p.add_argument("--image_size", type=int, default=32, help="input size of the space")
    p.add_argument("--limit", type=int, default=6000, help="training images used by the search")
    p.add_argument("--width", type=float, default=0.5, help="width multiplier of the space")
    p.add_argument(
        "--fractions",
        default="0.2,0.5,0.8",
        help="targets as fractions of the space's latency range (0 fastest, 1 slowest)",
    )
    p.add_argument("--epochs", type=int, default=3, help="search epochs per step")
    p.add_argument("--steps_per_epoch", type=int, default=40, help="search iterations per epoch")
    p.add_argument("--derive_mode", default="parallel", choices=["argmax", "parallel"])
    p.add_argument("--output_dir", default="runs/latency_target", help="scratch for the runs")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    tf.keras.utils.set_random_seed(args.seed)
    splits = load_splits(
        args.dataset,
        data_dir=args.data_dir,
        image_size=args.image_size,
        limit=args.limit,
        seed=args.seed,
    )
    space, table = host_space_and_table(splits, args.width)
    bounds = space_latency_bounds(space, table)  # measures whatever the cached table lacks
    meta = table.metadata
    fractions = [float(f) for f in args.fractions.split(",")]
    print(
        f"data: {splits.name} {splits.input_shape}, splits {splits.sizes}; host range "
        f"{bounds[0]:.4g}-{bounds[1]:.4g} ms",
        flush=True,
    )
    config = SearchConfig(
        epochs=args.epochs,
        warmup_epochs=min(1, args.epochs - 1),
        steps_per_epoch=args.steps_per_epoch,
    )
    rows = []
    start = time.time()
    for fraction in fractions:
        target = target_from_fraction(bounds, fraction)
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
        rows.append(row)
        print(
            f"target {target:.4f} ms: predicted {predicted:.4f} ms "
            f"({100 * row['predicted_vs_target']:+.1f} %), measured {measured:.4f} ms "
            f"({100 * row['measured_vs_target']:+.1f} % of target), search "
            f"{row['search_seconds']:.0f} s\n  {row['blocks']}",
            flush=True,
        )
    worst = max(abs(r["predicted_vs_target"]) for r in rows)
    worst_measured = max(abs(r["measured_vs_target"]) for r in rows)
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
            "runtime": meta.get("runtime"),
            "seed": args.seed,
            "seconds": round(time.time() - start, 1),
        },
    }
    return emit("latency_target", figures)


if __name__ == "__main__":
    main()
