"""What would buying resolution or capacity cost on the host? Hand-made variants of a fixed child.

Issue 5's Pareto runs left two ways a space could spend latency that the searched one cannot:
resolution (the CIFAR-layout baselines, which keep more spatial extent, are the most accurate
networks measured, but far slower) and capacity at the low-resolution end (MobileNetV2's 160- and
320-channel stages, which the `small` preset leaves out). Before building either into the space,
this measures what it would cost, on the Pareto space's all-3x3 child (the baseline every searched
child must beat) and variants of it. `--family=resolution`: the first strided stage at stride 1 —

  stride_late           that stride moved to the last stage (the same final resolution; the
                        stages between run at twice the side)
  stride_late_e<E>      the same with every expansion above 1 lowered to E (fewer MACs)
  stride_late_e<E>_n<N> and every stage but the last narrowed by N (MACs near the reference)
  no_first_stride       the stride dropped (every later stage at twice the side)

`--family=capacity`: more channels or blocks where the feature map is smallest (C: the last
stage's channels) —

  tail_c<4C/3>x2        two e6 blocks appended at 4/3 C channels
  tail_c<5C/3>x3_e3     three e3 blocks appended at 5/3 C channels (MobileNetV2's 160 stage)
  last_stage_c<2C>      the last stage at twice its channels
  deeper                one more block in each of the last two stages

— each with its MACs, parameters, predicted (host table) and measured LiteRT latency (timed
exactly as the table's rows were, `MeasuredTable.time_network`) and predicted TDA2x latency. Each
variant's arch.json lands in --output_dir, so `bench/seed_spread.py --arch=<that file>` trains
it with the Pareto recipe. (This was `bench/resolution_cost.py`; the resolution family and its
figures, `bench/results/resolution_cost.json`, are unchanged.)

  python bench/variant_cost.py                  # resolution, the Pareto space (width 0.5, 32 px)
  python bench/variant_cost.py --expansion=4 --narrow=0.5
  python bench/variant_cost.py --family=capacity

Flags may come from a file: --flagfile=<file>.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

from absl import flags

from bench import cli
from bench.common import emit, host_lookup_table
from ednas_tf.arch import ArchSpec, BlockSpec
from ednas_tf.baselines.fixed import fixed_kernel_arch
from ednas_tf.cost.network import child_latency
from ednas_tf.io_utils import atomic_write_text
from ednas_tf.model import build
from ednas_tf.presets import preset_space
from ednas_tf.profiles import get_profile
from ednas_tf.reporting.summary import arch_macs

FAMILIES = ("resolution", "capacity")
FV = cli.new_flags()
flags.DEFINE_enum(
    "family",
    "resolution",
    list(FAMILIES),
    "Which variants: the first stride moved (resolution) or more channels and blocks at the "
    "last stages (capacity).",
    flag_values=FV,
)
flags.DEFINE_integer("image_size", 32, "Input side in pixels.", flag_values=FV)
flags.DEFINE_integer("channels", 1, "Input channels (1: Fashion-MNIST).", flag_values=FV)
flags.DEFINE_integer("num_classes", 10, "Classes of the head.", flag_values=FV)
flags.DEFINE_float("width", 0.5, "Width of the Pareto space.", flag_values=FV)
flags.DEFINE_float("expansion", 3.0, "Expansion of the lowered variants.", flag_values=FV)
flags.DEFINE_float(
    "narrow",
    0.75,
    "Channel multiplier of the narrowed resolution variant, every stage but the last.",
    flag_values=FV,
)
flags.DEFINE_string(
    "output_dir",
    "runs/<family>_cost",
    "Where each variant's arch.json goes (<family>: --family).",
    flag_values=FV,
)
cli.define_results_name(FV, "<family>_cost")


def parse_args(argv: Sequence[str] | None = None) -> SimpleNamespace:
    """The flags (`argv` without the program; None: sys.argv), checked, `<family>` filled in."""
    args = cli.parse_flags(FV, argv, __doc__, "bench/variant_cost.py")
    args.output_dir = args.output_dir.replace("<family>", args.family)
    args.results_name = args.results_name.replace("<family>", args.family)
    if args.expansion < 1:
        cli.error(f"--expansion must be >= 1, got {args.expansion}")
    if not 0 < args.narrow <= 1:
        cli.error(f"--narrow must be in (0, 1], got {args.narrow}")
    return args


def _variant(arch: ArchSpec, blocks: list[BlockSpec]) -> ArchSpec:
    """`arch` with `blocks` and none of its search record (a hand-made network). Each block
    keeps its residual flag: it adds its input wherever the new shapes allow (MobileNetV2's
    rule, `InvertedResidual.adds_residual`)."""
    return dataclasses.replace(
        arch, blocks=blocks, gate_probs={}, search={}, predicted_latency_ms=None
    )


def _stages(blocks: list[BlockSpec]) -> list[list[int]]:
    """Block indices grouped into stages: a stage starts where the channels change."""
    stages: list[list[int]] = []
    for i, b in enumerate(blocks):
        if not stages or b.channels != blocks[stages[-1][-1]].channels:
            stages.append([])
        stages[-1].append(i)
    return stages


def _channels_by_four(channels: float) -> int:
    """Scaled channels rounded to a multiple of 4, at least 8 (narrowed or widened): the space's
    rounding to 8 (`presets._round_channels`) would turn 0.75 x 16 back into 16."""
    return max(8, int(round(channels / 4)) * 4)


def resolution_variants(
    reference: ArchSpec, expansion: float, narrow: float
) -> dict[str, ArchSpec]:
    """The reference and its variants with the first strided block's stride moved (see the
    module docstring); names say what changed."""
    blocks = list(reference.blocks)
    strided = [i for i, b in enumerate(blocks) if b.stride == 2]
    stages = _stages(blocks)
    if not strided or len(stages) < 2 or blocks[stages[-1][0]].stride != 1:
        raise ValueError(
            "the reference needs a strided block and a last stage at stride 1 to move it to"
        )
    first, last_start = strided[0], stages[-1][0]
    dropped = [dataclasses.replace(b, stride=1) if i == first else b for i, b in enumerate(blocks)]
    moved = [
        dataclasses.replace(b, stride=2) if i == last_start else b for i, b in enumerate(dropped)
    ]
    lowered = [
        dataclasses.replace(b, expansion=min(b.expansion, expansion)) if b.expansion > 1 else b
        for b in moved
    ]
    last_stage = set(stages[-1])
    narrowed = [
        b
        if i in last_stage
        else dataclasses.replace(b, channels=_channels_by_four(b.channels * narrow))
        for i, b in enumerate(lowered)
    ]
    tag_e, tag_n = f"e{expansion:g}", f"n{narrow:g}"
    return {
        "reference": _variant(reference, blocks),
        "stride_late": _variant(reference, moved),
        f"stride_late_{tag_e}": _variant(reference, lowered),
        f"stride_late_{tag_e}_{tag_n}": _variant(reference, narrowed),
        "no_first_stride": _variant(reference, dropped),
    }


def capacity_variants(reference: ArchSpec) -> dict[str, ArchSpec]:
    """The reference and its variants with more channels or blocks at its last stages (see the
    module docstring): the cheapest place to add capacity, where the feature map is smallest."""
    blocks = list(reference.blocks)
    stages = _stages(blocks)
    if len(stages) < 2:
        raise ValueError("the reference needs at least two stages (by channels) to add capacity")
    last = blocks[-1]
    channels = last.channels

    def appended(count: int, width: int, expansion: float) -> list[BlockSpec]:
        # stride 1 at the last stage's resolution; each adds its input where the shapes
        # allow, i.e. all but the first, which changes the channels
        block = dataclasses.replace(
            last, channels=width, expansion=expansion, stride=1, residual=True
        )
        return [block] * count

    wide, wider = _channels_by_four(channels * 4 / 3), _channels_by_four(channels * 5 / 3)
    last_stage = set(stages[-1])
    widened = [
        dataclasses.replace(b, channels=2 * channels) if i in last_stage else b
        for i, b in enumerate(blocks)
    ]
    ends = {stage[-1] for stage in stages[-2:]}
    deeper = [
        copy
        for i, b in enumerate(blocks)
        for copy in ([b, dataclasses.replace(b, stride=1, residual=True)] if i in ends else [b])
    ]
    return {
        "reference": _variant(reference, blocks),
        f"tail_c{wide}x2": _variant(reference, blocks + appended(2, wide, last.expansion)),
        f"tail_c{wider}x3_e3": _variant(reference, blocks + appended(3, wider, 3.0)),
        f"last_stage_c{2 * channels}": _variant(reference, widened),
        "deeper": _variant(reference, deeper),
    }


def main(argv: Sequence[str] | None = None) -> dict:
    """Flags → every variant built, costed and timed → bench/results/<results_name>.json;
    returns the figures."""
    args = parse_args(argv)
    space = preset_space(
        "small",
        input_shape=(args.image_size, args.image_size, args.channels),
        num_classes=args.num_classes,
        profile="host",
        width=args.width,
    )
    table = host_lookup_table()
    tda2x = get_profile("tda2x").latency()
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    reference = fixed_kernel_arch(space, 3)
    variants = (
        resolution_variants(reference, args.expansion, args.narrow)
        if args.family == "resolution"
        else capacity_variants(reference)
    )
    rows = []
    for name, arch in variants.items():
        arch_path = out / f"{name}.json"
        atomic_write_text(arch_path, arch.to_json())
        model = build(arch)
        row = {
            "name": name,
            "blocks": [b.encode() for b in arch.blocks],
            "arch_file": str(arch_path),
            "macs": int(arch_macs(arch)),
            "params": int(model.count_params()),
            "host_predicted_ms": round(child_latency(arch, table), 4),
            "host_latency_ms": round(table.time_network(model), 4),
            "tda2x_latency_ms": round(child_latency(arch, tda2x), 3),
        }
        rows.append(row)
        print(
            f"{name:28s} {row['macs'] / 1e6:6.2f} MMACs {row['params']:8d} params  host "
            f"{row['host_latency_ms']:.3f} ms (predicted {row['host_predicted_ms']:.3f})  "
            f"tda2x {row['tda2x_latency_ms']:.2f} ms",
            flush=True,
        )
    ref = rows[0]
    for row in rows:
        row["host_vs_reference"] = round(row["host_latency_ms"] / ref["host_latency_ms"], 3)
        row["macs_vs_reference"] = round(row["macs"] / ref["macs"], 3)
        row["host_us_per_mmac"] = round(1000 * row["host_latency_ms"] / (row["macs"] / 1e6), 2)
    figures = {
        "models": rows,
        "table": table.name,
        "config": vars(args),
        "command": " ".join([".venv/bin/python", "bench/variant_cost.py", *(argv or sys.argv[1:])]),
    }
    return emit(args.results_name, figures)


if __name__ == "__main__":
    main()
