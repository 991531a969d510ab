"""How well the measured lookup table predicts whole networks on this machine.

Samples random children of a space, converts each whole network to TFLite and times it with LiteRT
exactly as the LUT's probes were timed (`MeasuredTable.time_network`: the table's repeats, warm-up,
threads, rounds and speed yardstick), and compares with the LUT prediction `child_latency` (the
sum of the child's rows, corrected for the per-invoke overhead each probe pays once: see
ednas_tf/measure/tables.py). Targets (issue 3): Spearman >= 0.95 and >= 90 % of children within
±10 %. On a shared machine both the table and the networks carry the neighbours' noise; see
`probes.time_tflite` for how timing limits it.

  python bench/latency_fidelity.py [--n 30 --preset small --image_size 32 --channels 3 \\
      --device host]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence

import numpy as np
from absl import flags
from scipy import stats

from bench import cli
from bench.common import emit
from ednas_tf.cost.lut import LookupTable
from ednas_tf.cost.network import child_latency
from ednas_tf.measure.tables import space_configs
from ednas_tf.model import build
from ednas_tf.presets import PRESET_STAGES, preset_space
from ednas_tf.profiles import get_profile
from ednas_tf.space import SearchSpace

FV = cli.new_flags()
flags.DEFINE_integer("n", 30, "Random children to time.", flag_values=FV)
flags.DEFINE_enum("preset", "small", sorted(PRESET_STAGES), "Search-space preset.", flag_values=FV)
flags.DEFINE_integer("image_size", 32, "Input side in pixels.", flag_values=FV)
flags.DEFINE_integer("channels", 3, "Input channels.", flag_values=FV)
flags.DEFINE_integer("num_classes", 10, "Classes of the space's head.", flag_values=FV)
flags.DEFINE_string(
    "device", "host", "Profile whose LUT predicts (host or lut:<path>).", flag_values=FV
)
flags.DEFINE_float("skip_prob", 0.3, "Chance to skip a block.", flag_values=FV)
flags.DEFINE_integer("seed", 0, "Seed of the random children.", flag_values=FV)
cli.define_results_name(FV, "latency_fidelity")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The flags' values; argv as absl's (argv[0] the program; default sys.argv)."""
    return cli.parse_args(FV, argv, __doc__)


def _space_and_table(args: argparse.Namespace) -> tuple[SearchSpace, LookupTable]:
    """The space and the table that predicts it, every row it needs measured up front (one
    batch) so the timed children are not interleaved with table building."""
    try:
        profile = get_profile(args.device)
        space = preset_space(
            args.preset,
            input_shape=(args.image_size, args.image_size, args.channels),
            num_classes=args.num_classes,
            profile=profile,
        )
    except ValueError as err:  # an unknown --device, or a space it refuses
        cli.error(str(err))
    table = profile.latency()
    if not isinstance(table, LookupTable):
        cli.error(f"--device={args.device} is not costed by a lookup table")
    convs, blocks = space_configs(space)
    table.prepare([*convs, *blocks])
    return space, table


def _time_children(
    space: SearchSpace, table: LookupTable, args: argparse.Namespace
) -> tuple[np.ndarray, np.ndarray]:
    """LUT-predicted and measured ms of `args.n` random children, printed as they come."""
    rng = np.random.default_rng(args.seed)
    predicted, measured = [], []
    print(f"{'#':>3} {'blocks':>6} {'LUT ms':>9} {'measured ms':>12} {'error':>8}")
    for i in range(args.n):
        arch = space.random_child(rng, args.skip_prob)
        pred = child_latency(arch, table)
        real = table.time_network(build(arch))  # as the rows were: settings and yardstick
        predicted.append(pred)
        measured.append(real)
        print(
            f"{i:>3} {len(arch.blocks):>6} {pred:>9.4f} {real:>12.4f} "
            f"{100 * (pred - real) / real:>+7.1f}%",
            flush=True,
        )
    return np.array(predicted), np.array(measured)


def _settings(table: LookupTable, args: argparse.Namespace) -> dict:
    """What the figures depend on: the space, the table and how it timed its rows."""
    meta = table.metadata
    reference = table.timing_reference()
    threads = meta["threads"]
    return {
        "preset": args.preset,
        "input_shape": [args.image_size, args.image_size, args.channels],
        "num_classes": args.num_classes,
        "device": args.device,
        "lut": str(table.path),
        "runtime": meta.get("runtime"),
        "threads": threads,
        "repeats": meta["repeats"],
        "warmup": meta["warmup"],
        "rounds": meta.get("rounds") or 1,
        "timing_cpus": meta.get("timing_cpus"),
        "speed_reference_ms": reference[1] if reference else None,
        "clock": "thread CPU time" if threads == 1 else "wall",
        "invoke_overhead_ms": table.invoke_overhead_ms,
        "overhead_method": meta.get("overhead_method"),
        "skip_prob": args.skip_prob,
        "seed": args.seed,
    }


def main(argv: Sequence[str] | None = None) -> dict:
    """Time the children, compare with the table, write latency_fidelity.json."""
    args = parse_args(argv)
    space, table = _space_and_table(args)
    start = time.time()
    pred_a, real_a = _time_children(space, table, args)
    errors = np.abs(pred_a - real_a) / real_a
    figures = {
        "spearman": round(float(stats.spearmanr(pred_a, real_a).statistic), 4),
        "mape": round(float(100 * errors.mean()), 2),
        "within_10pct": round(float((errors <= 0.10).mean()), 4),
        "median_ratio_pred_over_measured": round(statistics.median(pred_a / real_a), 4),
        "n": args.n,
        "measured_ms_range": [round(float(real_a.min()), 4), round(float(real_a.max()), 4)],
        "settings": {**_settings(table, args), "seconds": round(time.time() - start, 1)},
    }
    print(
        f"Spearman {figures['spearman']:.3f} (target >= 0.95), MAPE {figures['mape']:.1f} %, "
        f"within ±10 %: {100 * figures['within_10pct']:.0f} % (target >= 90 %)"
    )
    return emit(args.results_name, figures)


if __name__ == "__main__":
    main()
