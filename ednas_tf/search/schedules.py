"""Gumbel temperature schedules, indexed by architecture epoch (0 = first epoch after warm-up)."""

from __future__ import annotations

import dataclasses
import math


def _require_positive(name: str, value: float) -> None:
    """A temperature divides the logits: zero or below gives inf/NaN gates, not an error."""
    if not value > 0:  # `not >` also refuses NaN
        raise ValueError(f"{name} temperature must be > 0, got {value}")


@dataclasses.dataclass(frozen=True)
class ExponentialTemperature:
    """FBNet: τ0 multiplied by exp(−decay) every epoch (τ0 5.0, decay 0.045)."""

    initial: float = 5.0
    decay: float = 0.045

    def __post_init__(self) -> None:
        _require_positive("initial", self.initial)

    def __call__(self, epoch: int, total_epochs: int) -> float:
        return self.initial * math.exp(-self.decay * epoch)


@dataclasses.dataclass(frozen=True)
class LinearTemperature:
    """GDAS: linear from τ0 to τ1 over the architecture epochs (10 → 0.1)."""

    initial: float = 10.0
    final: float = 0.1

    def __post_init__(self) -> None:
        _require_positive("initial", self.initial)
        _require_positive("final", self.final)

    def __call__(self, epoch: int, total_epochs: int) -> float:
        if total_epochs <= 1:
            return self.final
        return self.initial + (self.final - self.initial) * epoch / (total_epochs - 1)


def make_schedule(
    kind: str, initial: float | None = None, decay: float | None = None, final: float | None = None
):
    if kind == "exponential":
        return ExponentialTemperature(
            initial if initial is not None else 5.0, decay if decay is not None else 0.045
        )
    if kind == "linear":
        return LinearTemperature(
            initial if initial is not None else 10.0, final if final is not None else 0.1
        )
    raise ValueError(f"unknown temperature schedule {kind!r} (exponential, linear)")
