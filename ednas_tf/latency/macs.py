"""MACs-based latency proxy: MACs at a fixed throughput plus a fixed cost per layer.

Coarse on purpose (the analytic TDA2x model and measured LUTs are the real models); it is the
fallback any target can use, and it keeps the differentiable latency path exercised in tests.
"""

from __future__ import annotations

import dataclasses

from ednas_tf.latency.base import BlockConfig, ConvConfig, LatencyModel


def block_macs(config: BlockConfig) -> int:
    """MACs of one block; a parallel kernel set costs its merged (largest) kernel."""
    out_h, out_w = config.out_hw
    hidden = config.hidden
    macs = 0
    if config.has_expand:
        macs += config.in_h * config.in_w * config.c_in * hidden
    macs += out_h * out_w * hidden * max(config.kernel) ** 2
    macs += out_h * out_w * hidden * config.c_out
    return macs


def block_layer_count(config: BlockConfig) -> int:
    return (3 if config.has_expand else 2) + (1 if config.has_residual_add else 0)


def conv_macs(config: ConvConfig) -> int:
    if config.kind == "classifier":
        return config.c_in * config.c_out
    out_h, out_w = config.out_hw
    return out_h * out_w * config.c_in * config.c_out * config.kernel**2


@dataclasses.dataclass
class MacsProxy(LatencyModel):
    """ms = MACs / throughput + layers × overhead."""

    gmacs_per_second: float = 2.0
    layer_overhead_ms: float = 0.01
    name: str = "macs-proxy"

    def _ms(self, macs: int, layers: int) -> float:
        return macs / (self.gmacs_per_second * 1e6) + layers * self.layer_overhead_ms

    def block_latency(self, config: BlockConfig) -> float:
        return self._ms(block_macs(config), block_layer_count(config))

    def conv_latency(self, config: ConvConfig) -> float:
        return self._ms(conv_macs(config), 1)
