"""The latency-model interface: what every cost model answers.

A latency model answers one question: how long does this block (or stem/head/classifier layer)
take on the target? Everything else is built on that: a child's latency and a space's bounds in
`ednas_tf.cost.network`, the differentiable expected latency of a supernet in
`ednas_tf.search.expected`.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable

from ednas_tf.geometry import BlockConfig, ConvConfig


class LatencyModel(abc.ABC):
    """Costs blocks and plain layers on one target, in milliseconds."""

    name: str = "latency-model"

    @abc.abstractmethod
    def block_latency(self, config: BlockConfig) -> float:
        """Latency of one inverted-residual block (merged kernels: a set costs its largest size)."""

    @abc.abstractmethod
    def conv_latency(self, config: ConvConfig) -> float:
        """Latency of a stem/head conv or of the classifier."""

    def prepare(self, configs: Iterable[BlockConfig | ConvConfig]) -> None:
        """Hook called with every config about to be costed, before the first call.

        Lets a measured model time everything it lacks in one batch (one progress bar) rather
        than one probe per `block_latency` call, or name every missing entry in one error.
        Analytic models need nothing.
        """
        del configs
