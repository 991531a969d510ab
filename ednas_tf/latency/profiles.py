"""Device profiles: what a target accepts and how to cost it.

A profile restricts the search space (so every derived network deploys) and names the latency
model the search optimises. Profiles live in a registry; `get_profile("lut:/path.json")` makes one
from a table a user measured on their own board.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from ednas_tf.latency.base import LatencyModel
    from ednas_tf.space import BlockSpace


@dataclasses.dataclass(frozen=True)
class DeviceProfile:
    """Rules of a target device.

    depthwise: allowed (kernel, stride) pairs of depthwise convolutions.
    activations: allowed activation names.
    max_channels: channel limit of any layer.
    max_conv_kernel: largest dense conv kernel.
    latency: factory of the profile's latency model (called lazily: a LUT may be slow to load).
    """

    name: str
    description: str
    depthwise: frozenset[tuple[int, int]]
    activations: frozenset[str]
    max_channels: int
    max_conv_kernel: int
    latency: Callable[[], "LatencyModel"]
    validated_depthwise: frozenset[tuple[int, int]] = frozenset()

    def allows_depthwise(self, kernel: int, stride: int) -> bool:
        return (kernel, stride) in self.depthwise

    def check_activation(self, activation: str) -> None:
        if activation not in self.activations:
            raise ValueError(
                f"profile {self.name!r} does not allow activation {activation!r}; "
                f"allowed: {sorted(self.activations)}"
            )

    def restrict(self, block: "BlockSpace") -> "BlockSpace":
        """Drops the kernel options the device cannot run; refuses a block with none left."""
        from ednas_tf.space import Choice

        if block.max_channels > self.max_channels:
            raise ValueError(
                f"{block.name}: {block.max_channels} channels exceed the {self.name} "
                f"limit of {self.max_channels}"
            )
        options = [
            o
            for o in block.kernel_options
            if all(self.allows_depthwise(k, block.stride) for k in o)
        ]
        if not options:
            raise ValueError(
                f"{block.name}: no kernel option {block.kernel_options} is allowed at "
                f"stride {block.stride} on {self.name} "
                f"(allowed: {sorted(self.depthwise)})"
            )
        if isinstance(block.kernel, Choice):
            kernel = Choice(tuple(o[0] for o in options), name=block.kernel.name)
            return dataclasses.replace(block, kernel=kernel)
        return block


_REGISTRY: dict[str, Callable[[], DeviceProfile]] = {}


def register_profile(name: str):
    """Decorator: registers a zero-argument factory of a DeviceProfile."""

    def wrap(factory: Callable[[], DeviceProfile]):
        _REGISTRY[name] = factory
        return factory

    return wrap


LUT_PREFIX = "lut:"


def available_profiles() -> list[str]:
    return [*sorted(_REGISTRY), f"{LUT_PREFIX}<path>"]


def get_profile(name: str) -> DeviceProfile:
    if name.startswith(LUT_PREFIX):
        return _lut_profile(name[len(LUT_PREFIX) :])
    if name not in _REGISTRY:
        raise ValueError(f"unknown device profile {name!r}; available: {available_profiles()}")
    return _REGISTRY[name]()


def _lut_profile(path: str) -> DeviceProfile:
    """A measured lookup table with the rules of its `base_profile` (metadata; default tda2x)."""
    from ednas_tf.latency.lut import LookupTable

    if not path:
        raise ValueError(f"'{LUT_PREFIX}' needs the path of a lookup table, e.g. lut:board.json")
    table = LookupTable.load(path)
    base = str(table.metadata.get("base_profile") or "tda2x")
    if base not in _REGISTRY:
        raise ValueError(
            f"{path}: base_profile {base!r} is not a registered profile ({sorted(_REGISTRY)})"
        )
    rules = _REGISTRY[base]()
    return dataclasses.replace(
        rules,
        name=f"{LUT_PREFIX}{path}",
        description=f"lookup table {path} ({table.metadata.get('device', 'unknown device')}) "
        f"with the rules of {base}",
        latency=lambda: table,
    )


def _tda2x_analytic() -> "LatencyModel":
    from ednas_tf.latency.tda2x_latency import TDA2xLatency

    return TDA2xLatency()


def _macs_proxy() -> "LatencyModel":
    from ednas_tf.latency.macs import MacsProxy

    return MacsProxy()


def _host_lut() -> "LatencyModel":
    from ednas_tf.latency.lut import host_table

    return host_table()


# TIDL (Processor SDK Linux, "Constraints on layer parameters"; docs/TIDL.md): kernels up to 7x7,
# stride 1 or 2, <= 1024 channels, ReLU/ReLU6 only. Depthwise 3x3 at stride 1 and 2 is what TI
# validated (MobileNet V1/V2); 5x5 and 7x7 at stride 1 are within the generic rule.
@register_profile("tda2x")
def _tda2x() -> DeviceProfile:
    return DeviceProfile(
        name="tda2x",
        description="TI TDA2x (TIDL on EVE/DSP): depthwise {3,5,7}@s1, 3@s2, ReLU/ReLU6",
        depthwise=frozenset({(3, 1), (5, 1), (7, 1), (3, 2)}),
        activations=frozenset({"relu", "relu6"}),
        max_channels=1024,
        max_conv_kernel=7,
        latency=_tda2x_analytic,
        validated_depthwise=frozenset({(3, 1), (3, 2)}),
    )


# LiteRT's default XNNPACK delegate (ai-edge-litert 2.3.0) takes depthwise kernels up to 5x5 only
# (25 taps); a 7x7 depthwise stays on TFLite's builtin kernel, which splits the network into
# several delegate partitions. Measured on the 2-vCPU development machine, 32x32x32 input, 1
# thread: 3x3 0.055 ms, 5x5 0.081 ms, 7x7 0.90 ms (the same as with no delegate at all), and the
# 7x7 path times ±15 % from one run to the next, so no table predicts networks containing it well
# (bench/latency_fidelity.py: 37-67 % within ±10 % with 7x7, 100 % without;
# docs/results/01-latency-models.md).
# Like TIDL's rules, the profile offers only what the runtime runs on its fast path.
HOST_DEPTHWISE_KERNELS = (3, 5)


@register_profile("host")
def _host() -> DeviceProfile:
    return DeviceProfile(
        name="host",
        description="this machine's CPU through LiteRT (TFLite, XNNPACK: depthwise up to 5x5): "
        "a lookup table measured on demand and cached in .cache/lut/ (or $EDNAS_LUT_CACHE)",
        depthwise=frozenset((k, s) for k in HOST_DEPTHWISE_KERNELS for s in (1, 2)),
        activations=frozenset({"relu", "relu6"}),
        max_channels=4096,
        max_conv_kernel=7,
        latency=_host_lut,
    )
