"""The analytic TDA2x model as a search-time `LatencyModel`.

Blocks and layers are costed through their `LayerDesc` sequences (cost/descriptors.py) with the
per-layer model of cost/tda2x.py, fitted to TI's published AM5729 timings (fit/tda2x.py).
"""

from __future__ import annotations

import dataclasses

from ednas_tf.cost.base import LatencyModel
from ednas_tf.cost.descriptors import block_layers, conv_layers
from ednas_tf.cost.tda2x import PLACEMENTS, AnalyticTDA2x
from ednas_tf.geometry import BlockConfig, ConvConfig


@dataclasses.dataclass
class TDA2xLatency(LatencyModel):
    """One frame on one core (`placement` "eve" or "dsp") while `active_cores` share DDR.

    `active_cores` > 1 models a deployment that runs one frame per EVE on several EVEs at once:
    each frame is slower (DDR contention) though throughput rises.
    """

    placement: str = "eve"
    active_cores: int = 1
    model: AnalyticTDA2x = dataclasses.field(default_factory=AnalyticTDA2x)
    name: str = "tda2x-analytic"
    _cache: dict = dataclasses.field(default_factory=dict, init=False, repr=False,
                                     compare=False)

    def __post_init__(self):
        if self.placement not in PLACEMENTS:
            raise ValueError(f"placement must be one of {PLACEMENTS}, got {self.placement!r}")
        if self.active_cores < 1:
            raise ValueError(f"active_cores must be >= 1, got {self.active_cores}")

    def block_latency(self, config: BlockConfig) -> float:
        return self._cached(config, block_layers)

    def conv_latency(self, config: ConvConfig) -> float:
        return self._cached(config, conv_layers)

    def _cached(self, config: BlockConfig | ConvConfig, layers) -> float:
        """Configs repeat across the children a search or a sampler costs: cost each once."""
        if config not in self._cache:
            self._cache[config] = self.model.layers_ms(
                layers(config), self.placement, self.active_cores)
        return self._cache[config]
