"""Device profiles: what a target accepts (its `DeviceLimits`) and the latency model that costs it.

A profile restricts the search space (so every derived network deploys) and names the latency
model the search optimises. Profiles live in a registry: `tda2x` (the analytic TDA2x model),
`host` (a table measured on this machine on demand), `macs` (the MACs proxy, for a target with no
latency model or table) and `lut:/path.json`, a table a user measured on their own board.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ednas_tf.cost.base import LatencyModel
from ednas_tf.cost.macs import MacsProxy
from ednas_tf.cost.tda2x_latency import TDA2xLatency
from ednas_tf.limits import HOST, MACS, TDA2X, DeviceLimits
from ednas_tf.measure.tables import MeasuredTable, host_table


@dataclasses.dataclass(frozen=True, kw_only=True)
class DeviceProfile(DeviceLimits):
    """A device's limits plus its latency model.

    description: one line for `--help` and reports.
    latency: factory of the profile's latency model (called lazily: a LUT may be slow to load).
    """

    description: str = ""
    latency: Callable[[], LatencyModel]

    @classmethod
    def of(cls, limits: DeviceLimits, latency: Callable[[], LatencyModel], description: str):
        fields = dataclasses.fields(DeviceLimits)
        return cls(
            **{f.name: getattr(limits, f.name) for f in fields},
            description=description,
            latency=latency,
        )


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
    if not path:
        raise ValueError(f"'{LUT_PREFIX}' needs the path of a lookup table, e.g. lut:board.json")
    table = MeasuredTable.load(path)
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


@register_profile("tda2x")
def _tda2x() -> DeviceProfile:
    return DeviceProfile.of(
        TDA2X,
        TDA2xLatency,
        "TI TDA2x (TIDL on EVE/DSP): depthwise {3,5,7}@s1, 3@s2, ReLU/ReLU6",
    )


@register_profile("host")
def _host() -> DeviceProfile:
    return DeviceProfile.of(
        HOST,
        host_table,
        "this machine's CPU through LiteRT (TFLite, XNNPACK: depthwise up to 5x5): "
        "a lookup table measured on demand and cached in .cache/lut/ (or $EDNAS_LUT_CACHE)",
    )


@register_profile("macs")
def _macs() -> DeviceProfile:
    return DeviceProfile.of(
        MACS,
        lambda: MacsProxy(gmacs_per_second=1.0, layer_overhead_ms=0.0, name="mmacs"),
        "a MACs budget: a child's 'latency' is its millions of multiply-accumulates "
        "(--target_latency_ms=55 means 55 M MACs); depthwise 3x3-7x7 at stride 1 and 2",
    )
