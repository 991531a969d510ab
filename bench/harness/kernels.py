"""Did a search follow its latency model's kernel costs? The share of each depthwise kernel size
in a searched child, beside what the model charges for each size at every block's resolution.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence

from ednas_tf.arch import ArchSpec
from ednas_tf.cost.base import LatencyModel
from ednas_tf.cost.network import arch_configs
from ednas_tf.limits import DeviceLimits


def kernel_share(arch: ArchSpec) -> dict[str, float]:
    """Fraction of the child's blocks at each depthwise kernel size ("3x3": 0.6, ...); a merged
    kernel set counts as its largest size, which is what it costs."""
    sizes = Counter(max(b.kernel) for b in arch.blocks)
    total = sum(sizes.values()) or 1
    return {f"{k}x{k}": round(n / total, 4) for k, n in sorted(sizes.items())}


def kernel_costs(
    arch: ArchSpec, model: LatencyModel, kernels: Sequence[int], limits: DeviceLimits
) -> list[dict]:
    """Per block of the child: its resolution and the chosen kernel, and the block's cost under
    `model` at each of `kernels` the device allows at its stride (everything else as chosen),
    so the extra milliseconds a 5x5 or 7x7 costs there sit beside the choice."""
    _, blocks = arch_configs(arch)
    options = [
        [
            dataclasses.replace(c, kernel=(k,))
            for k in kernels
            if limits.allows_depthwise(k, c.stride)
        ]
        for c in blocks
    ]
    model.prepare([c for row in options for c in row])
    return [
        {
            "block": i,
            "in_hw": [config.in_h, config.in_w],
            "stride": config.stride,
            "expansion": config.expansion,
            "c_out": config.c_out,
            "kernel": max(config.kernel),
            "ms": {
                f"{max(o.kernel)}x{max(o.kernel)}": round(model.block_latency(o), 4) for o in row
            },
        }
        for i, (config, row) in enumerate(zip(blocks, options))
    ]


def kernel_figures(
    arch: ArchSpec, model: LatencyModel, kernels: Sequence[int], limits: DeviceLimits
) -> dict:
    """A searched child's `kernel_share` and `kernel_costs`, as its results entry holds them."""
    return {
        "kernel_share": kernel_share(arch),
        "kernel_costs": kernel_costs(arch, model, kernels, limits),
    }
