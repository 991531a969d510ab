"""The size of a space's children: the smallest, the largest, and one of the E-DNAS paper's size.

For each, parameters (as Keras counts the trained child), MACs of one inference and predicted
TDA2x latency, all counted from the child's layer descriptions (nothing is built or timed). The
paper-size child is the child nearest the paper's ImageNet network (5.9 M parameters, 535 MMACs;
docs/PAPER_SETTING.md): a coordinate descent over block decisions (kernel, expansion, skip; stage
widths at their reference) on the squared relative errors of both, from a few seeded random
children. It shows the space's range holds a network of the paper's size, and what such a network
costs on TDA2x; it is not the paper's architecture.

  python -m bench.space_children --preset=imagenet_paper --image_size=224 --num_classes=1000
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from absl import flags

from bench import cli
from bench.common import emit
from ednas_tf.arch import ArchSpec
from ednas_tf.cost.network import child_latency
from ednas_tf.cost.size import arch_layers, arch_macs, arch_params
from ednas_tf.cost.tda2x_latency import TDA2xLatency
from ednas_tf.presets import PRESET_STAGES, preset_space
from ednas_tf.profiles import get_profile
from ednas_tf.space import SearchSpace

# The E-DNAS paper's ImageNet network (García López, Agudo, Moreno-Noguer, ICPR 2020).
PAPER_PARAMS = 5.9e6
PAPER_MACS = 535e6

FV = cli.new_flags()
cli.define_network_input_flags(FV, PRESET_STAGES)
flags.DEFINE_float("width", 1.0, "Width multiplier of the space.", lower_bound=0.01, flag_values=FV)
flags.DEFINE_string(
    "device", "tda2x", "Device profile: restricts the space and predicts latency.", flag_values=FV
)
flags.DEFINE_integer(
    "starts",
    3,
    "Random children the paper-size descent starts from.",
    lower_bound=1,
    flag_values=FV,
)
cli.define_results_name(FV, "space_children")


def _size_error(arch: ArchSpec, params: float, macs: float) -> float:
    return (arch_params(arch) / params - 1) ** 2 + (arch_macs(arch) / macs - 1) ** 2


def nearest_child(
    space: SearchSpace, params: float, macs: float, starts: int = 3, seed: int = 0
) -> ArchSpec:
    """The child nearest (`params`, `macs`) in squared relative error: from `starts` seeded random
    children, each block's decision is changed while that lowers the error (stage widths stay at
    their reference); the best end point of all starts."""
    options = {
        b.name: [
            {"kernel": k, "expansion": e, "skip": s, "channels": b.channels}
            for k in b.kernel_options
            for e in b.expansion_options
            for s in ((False, True) if b.searches_skip else (False,))
        ]
        for b in space.blocks
    }
    rng = np.random.default_rng(seed)
    best: tuple[float, ArchSpec] | None = None
    for _ in range(starts):
        decisions = {name: opts[rng.integers(len(opts))] for name, opts in options.items()}
        error = _size_error(space.child(decisions), params, macs)
        improved = True
        while improved:
            improved = False
            for name, opts in options.items():
                for option in opts:
                    trial = {**decisions, name: option}
                    trial_error = _size_error(space.child(trial), params, macs)
                    if trial_error < error:
                        decisions, error, improved = trial, trial_error, True
        if best is None or error < best[0]:
            best = (error, space.child(decisions))
    return best[1]


def child_figures(arch: ArchSpec, latency_model) -> dict:
    """Parameters (M), MMACs and predicted latency (ms) of a child."""
    return {
        "params_m": round(arch_params(arch) / 1e6, 3),
        "mmacs": round(arch_macs(arch) / 1e6, 1),
        "tda2x_ms": round(child_latency(arch, latency_model), 1),
        # the analytic model's band (its uncertainty per layer group, docs/TIDL.md); none for
        # a measured table
        "tda2x_ms_uncertainty": round(latency_model.model.uncertainty_ms(arch_layers(arch)), 1)
        if isinstance(latency_model, TDA2xLatency) else None,
    }


def _band(ms: float | None) -> str:
    return "" if ms is None else f" +- {ms:.1f}"


def space_children(space: SearchSpace, latency_model, starts: int = 3) -> dict:
    """`<which>_child_params_m`, `_mmacs`, `_tda2x_ms` of the smallest, largest and paper-size
    children of `space`, and the paper-size child's blocks."""
    paper = nearest_child(space, PAPER_PARAMS, PAPER_MACS, starts=starts)
    children = {
        "smallest_child": space.smallest_child(),
        "largest_child": space.largest_child(),
        "paper_size_child": paper,
    }
    figures = {
        f"{which}_{key}": value
        for which, arch in children.items()
        for key, value in child_figures(arch, latency_model).items()
    }
    figures["paper_size_child_blocks"] = paper.to_dict()["blocks"]
    figures["paper_params_m"], figures["paper_mmacs"] = PAPER_PARAMS / 1e6, PAPER_MACS / 1e6
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    """argv as absl's (argv[0] the program; default sys.argv)."""
    args = cli.parse_args(FV, argv, __doc__)
    try:
        profile = get_profile(args.device)
        space = preset_space(
            args.preset,
            input_shape=(args.image_size, args.image_size, 3),
            num_classes=args.num_classes,
            profile=profile,
            width=args.width,
        )
    except ValueError as err:
        cli.error(str(err))
    figures = space_children(space, profile.latency(), starts=args.starts)
    for which in ("smallest_child", "largest_child", "paper_size_child"):
        print(
            f"{which:>17}: {figures[f'{which}_params_m']:6.3f} M params, "
            f"{figures[f'{which}_mmacs']:7.1f} MMACs, {figures[f'{which}_tda2x_ms']:6.1f} ms TDA2x"
            + _band(figures[f"{which}_tda2x_ms_uncertainty"])
        )
    emit(args.results_name, {**figures, "config": vars(args)})


if __name__ == "__main__":
    main()
