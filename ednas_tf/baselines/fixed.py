"""The fixed baselines of a search space, by name: its own children at one kernel size, and
MobileNetV2's CIFAR layout built from its block kind, beside keras.applications networks.

A baseline is named once here so that every benchmark (Pareto, seed spread, probe ranking,
variant cost) trains the same network under the same name.
"""

from __future__ import annotations

from ednas_tf.arch import ArchSpec, BlockSpec, ConvSpec
from ednas_tf.space import SearchSpace

# MobileNetV2 (t, c, n, s); CIFAR layout: stem and the first strided stage at stride 1.
MBV2_STAGES = (
    (1, 16, 1, 1),
    (6, 24, 2, 1),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
# A baseline: our child (ArchSpec) or a keras.applications model (kind, alpha, image side),
# see ednas_tf.baselines.keras_apps.keras_app.
Baseline = ArchSpec | tuple[str, float, int]


def _rounded(c: float) -> int:
    """MobileNetV2's channel rounding: to a multiple of 8, never more than 10 % down."""
    r = max(8, int(c + 4) // 8 * 8)
    return r + 8 if r < 0.9 * c else r


def mbv2_cifar_arch(space: SearchSpace, width: float) -> ArchSpec:
    """MobileNetV2's CIFAR layout as a child of our space's kind (k3 everywhere)."""
    blocks = [
        BlockSpec(
            kernel=(3,), expansion=float(t), channels=_rounded(c * width), stride=s if r == 0 else 1
        )
        for t, c, n, s in MBV2_STAGES
        for r in range(n)
    ]
    return ArchSpec(
        input_shape=tuple(space.input_shape),
        num_classes=space.num_classes,
        stem=ConvSpec(kernel=3, channels=_rounded(32 * width), stride=1),
        blocks=blocks,
        head=ConvSpec(kernel=1, channels=1280 if width <= 1 else _rounded(1280 * width)),
        activation=space.activation,
        device=space.profile.name,
    )


def fixed_kernel_arch(space: SearchSpace, kernel: int) -> ArchSpec:
    """The space's blocks at one kernel size (nearest the device allows), largest expansion,
    no skip."""
    decisions = {}
    for b in space.blocks:
        sizes = [o[0] for o in b.kernel_options if len(o) == 1]
        k = kernel if kernel in sizes else (max(sizes) if kernel > 3 else min(sizes))
        decisions[b.name] = {"kernel": (k,), "expansion": max(b.expansion_options), "skip": False}
    return space.child(decisions)


def _applications(size: int) -> list[tuple[str, Baseline]]:
    """The keras.applications baselines at `size` px: MobileNetV2 (alpha 0.35/0.5/1.0),
    MobileNetV1 (alpha 0.25/0.5) and MobileNetV3Small (minimalistic)."""
    out: list[tuple[str, Baseline]] = [
        (f"mbv2_a{a:g}_{size}px", ("mbv2", a, size)) for a in (0.35, 0.5, 1.0)
    ]
    out += [(f"mbv1_a{a:g}_{size}px", ("mbv1", a, size)) for a in (0.25, 0.5)]
    out.append((f"mbv3s_min_{size}px", ("mbv3s", 1.0, size)))
    return out


def baseline_list(
    space: SearchSpace, app_sizes: tuple[int, ...] = (32, 96)
) -> list[tuple[str, Baseline]]:
    """Every baseline, cheapest to train first: the fixed children (one per kernel size the
    space offers: all_3x3, all_5x5 and, on TDA2x, all_7x7) and the applications at the smallest
    of `app_sizes` (the ones near the targets' latencies, which decide the verdict), then the
    CIFAR layouts and the applications at the larger sizes (hours on two cores) — so a long run
    cut off late (see --resume) already holds the models the verdict compares."""
    kernels = sorted({k for b in space.blocks for option in b.kernel_options for k in option})
    out: list[tuple[str, Baseline]] = [
        (f"all_{k}x{k}", fixed_kernel_arch(space, k)) for k in kernels
    ]
    sizes = sorted(set(app_sizes))
    out += _applications(sizes[0])
    out += [(f"cifar_mbv2_w{w:g}", mbv2_cifar_arch(space, w)) for w in (0.35, 0.5, 1.0)]
    for size in sizes[1:]:
        out += _applications(size)
    return out


def selected_baselines(
    space: SearchSpace, names: str | None, app_sizes: tuple[int, ...] = (32, 96)
) -> list[tuple[str, Baseline]]:
    """The baselines `--baselines` names, in its order (all when None, nothing for "none"); an
    unknown name is an error here rather than after hours of searching."""
    if names == "none":
        return []
    available = dict(baseline_list(space, app_sizes))
    wanted = names.split(",") if names else list(available)
    unknown = [n for n in wanted if n not in available]
    if unknown:
        raise SystemExit(f"error: unknown baselines {unknown}; choose from {sorted(available)}")
    return [(n, available[n]) for n in wanted]
