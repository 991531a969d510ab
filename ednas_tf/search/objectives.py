"""Search objectives: how cross-entropy and expected latency combine into the architecture loss.

* fbnet:    CE · α · log(LAT)^β (FBNet; α 0.2, β 0.6). We use log(1 + LAT) so that networks under
            1 ms (common on small inputs) still get a positive, monotone latency factor; for
            LAT >> 1 ms this is FBNet's form.
* additive: CE + λ · log(LAT).
* target:   CE + λ · |LAT / T − 1| (TuNAS' absolute reward): pulls the latency to the target T
            from either side, so one search lands on a given budget.
* budget:   CE + λ · max(0, LAT / T − 1): latency costs only above T, so under a budget the
            search is free to buy accuracy however it likes, and is not pushed to spend latency
            it has no use for (the target form's pull up to T can force the dearest choices
            — e.g. 5x5 kernels everywhere — when the cheap ones cannot reach T). The child
            derived from it is fitted to lie at or below T, not on it.
"""

from __future__ import annotations

import dataclasses
import math

import tensorflow as tf

KINDS = ("fbnet", "additive", "target", "budget")
TARGETED_KINDS = ("target", "budget")  # the forms that need a latency target (weight 0.5)


@dataclasses.dataclass(frozen=True)
class Objective:
    kind: str
    alpha: float = 0.2
    beta: float = 0.6
    weight: float = 0.1  # λ of the additive, target and budget forms
    target_ms: float | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown objective {self.kind!r} ({', '.join(KINDS)})")
        if self.kind in TARGETED_KINDS and (self.target_ms is None or self.target_ms <= 0):
            raise ValueError(f"the {self.kind} objective needs target_ms > 0")

    @property
    def at_most(self) -> bool:
        """The latency target is a ceiling (derive keeps a child below it as it is)."""
        return self.kind == "budget"

    def __call__(self, ce: tf.Tensor, latency_ms: tf.Tensor) -> tf.Tensor:
        if self.kind == "fbnet":
            return ce * self.alpha * tf.pow(tf.math.log1p(latency_ms), self.beta)
        if self.kind == "additive":
            return ce + self.weight * tf.math.log(latency_ms)
        excess = latency_ms / self.target_ms - 1.0
        if self.kind == "budget":
            return ce + self.weight * tf.nn.relu(excess)
        return ce + self.weight * tf.abs(excess)


def make_objective(
    kind: str = "auto",
    *,
    target_ms: float | None = None,
    latency_weight: float | None = None,
    alpha: float = 0.2,
    beta: float = 0.6,
) -> Objective:
    """'auto' is the target form when a target is given, else FBNet's."""
    if kind == "auto":
        kind = "target" if target_ms else "fbnet"
    default_weight = 0.5 if kind in TARGETED_KINDS else 0.1
    weight = default_weight if latency_weight is None else latency_weight
    return Objective(kind=kind, alpha=alpha, beta=beta, weight=weight, target_ms=target_ms)


def target_from_fraction(bounds: tuple[float, float], fraction: float) -> float:
    """A target placed `fraction` of the way from the fastest to the slowest child (0..1).

    Saves users from guessing the ms scale of a device: 0.3 asks for a network 30 % of the way
    from the cheapest to the most expensive one the space allows.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"target latency fraction must be in [0, 1], got {fraction}")
    low, high = bounds
    return low + fraction * (high - low)


def check_target(
    target_ms: float | None, bounds: tuple[float, float], at_most: bool = False
) -> None:
    """Refuses a latency target the search space cannot reach, naming both bounds. A budget
    (`at_most`) above the slowest child is reachable: every child meets it."""
    if target_ms is None:
        return
    low, high = bounds
    if not low <= target_ms <= (math.inf if at_most else high):
        raise ValueError(
            f"target latency {target_ms:.4g} ms is outside what this search space can "
            f"reach on this device: [{low:.4g}, {high:.4g}] ms"
        )
