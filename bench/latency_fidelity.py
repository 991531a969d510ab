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

import numpy as np
from scipy import stats

from bench.common import emit
from ednas_tf.cost.lut import LookupTable
from ednas_tf.cost.network import child_latency
from ednas_tf.measure.tables import space_configs
from ednas_tf.model import build
from ednas_tf.profiles import get_profile
from ednas_tf.space import PRESET_STAGES, preset_space


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30, help="random children to time")
    parser.add_argument("--preset", default="small", choices=sorted(PRESET_STAGES))
    parser.add_argument("--image_size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--num_classes", type=int, default=10)
    parser.add_argument(
        "--device", default="host", help="profile whose LUT predicts (host or lut:<path>)"
    )
    parser.add_argument("--skip_prob", type=float, default=0.3, help="chance to skip a block")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    profile = get_profile(args.device)
    space = preset_space(
        args.preset,
        input_shape=(args.image_size, args.image_size, args.channels),
        num_classes=args.num_classes,
        profile=profile,
    )
    table = profile.latency()
    if not isinstance(table, LookupTable):
        raise SystemExit(f"error: {args.device} is not costed by a lookup table")
    convs, blocks = space_configs(space)
    table.prepare([*convs, *blocks])  # one batch for whatever the cache lacks
    meta = table.metadata
    repeats, warmup, threads = meta["repeats"], meta["warmup"], meta["threads"]
    rounds = meta.get("rounds") or 1
    reference = table.timing_reference()

    rng = np.random.default_rng(args.seed)
    predicted, measured = [], []
    print(f"{'#':>3} {'blocks':>6} {'LUT ms':>9} {'measured ms':>12} {'error':>8}")
    start = time.time()
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
    pred_a, real_a = np.array(predicted), np.array(measured)
    errors = np.abs(pred_a - real_a) / real_a
    figures = {
        "spearman": round(float(stats.spearmanr(pred_a, real_a).statistic), 4),
        "mape": round(float(100 * errors.mean()), 2),
        "within_10pct": round(float((errors <= 0.10).mean()), 4),
        "median_ratio_pred_over_measured": round(statistics.median(pred_a / real_a), 4),
        "n": args.n,
        "measured_ms_range": [round(float(real_a.min()), 4), round(float(real_a.max()), 4)],
        "settings": {
            "preset": args.preset,
            "input_shape": [args.image_size, args.image_size, args.channels],
            "num_classes": args.num_classes,
            "device": args.device,
            "lut": str(table.path),
            "runtime": meta.get("runtime"),
            "threads": threads,
            "repeats": repeats,
            "warmup": warmup,
            "rounds": rounds,
            "timing_cpus": meta.get("timing_cpus"),
            "speed_reference_ms": reference[1] if reference else None,
            "clock": "thread CPU time" if threads == 1 else "wall",
            "invoke_overhead_ms": table.invoke_overhead_ms,
            "overhead_method": meta.get("overhead_method"),
            "skip_prob": args.skip_prob,
            "seed": args.seed,
            "seconds": round(time.time() - start, 1),
        },
    }
    print(
        f"Spearman {figures['spearman']:.3f} (target >= 0.95), MAPE {figures['mape']:.1f} %, "
        f"within ±10 %: {100 * figures['within_10pct']:.0f} % (target >= 90 %)"
    )
    return emit("latency_fidelity", figures)


if __name__ == "__main__":
    main()
