"""MACs-based latency proxy: MACs at a fixed throughput plus a fixed cost per layer.

Coarse on purpose (the analytic TDA2x model and measured LUTs are the real models); a fallback any
target can use.
"""

from __future__ import annotations

import dataclasses

from ednas_tf.cost.base import LatencyModel
from ednas_tf.cost.descriptors import block_layers, conv_layers
from ednas_tf.cost.layer_desc import LayerDesc
from ednas_tf.geometry import BlockConfig, ConvConfig


@dataclasses.dataclass
class MacsProxy(LatencyModel):
    """ms = MACs / throughput + layers × overhead."""

    gmacs_per_second: float = 2.0
    layer_overhead_ms: float = 0.01
    name: str = "macs-proxy"

    def _ms(self, layers: list[LayerDesc]) -> float:
        macs = sum(layer.macs for layer in layers)
        return macs / (self.gmacs_per_second * 1e6) + len(layers) * self.layer_overhead_ms

    def block_latency(self, config: BlockConfig) -> float:
        return self._ms(block_layers(config))

    def conv_latency(self, config: ConvConfig) -> float:
        return self._ms(conv_layers(config))
