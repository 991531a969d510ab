"""A latency target in milliseconds, from milliseconds or from a place in the space's range.

Every stage that takes a target (search, the keras-tuner baseline, the benchmarks) goes through
`resolve_target_ms`, so "0.5" means the same millisecond figure everywhere.
"""

from __future__ import annotations

from ednas_tf.cost.base import LatencyModel
from ednas_tf.cost.network import space_latency_bounds
from ednas_tf.search.objectives import target_from_fraction
from ednas_tf.space import SearchSpace


def resolve_target_ms(
    space: SearchSpace,
    latency_model: LatencyModel,
    target_ms: float | None = None,
    fraction: float | None = None,
    names: tuple[str, str] = ("--target_latency_ms", "--target_latency_fraction"),
) -> tuple[float | None, tuple[float, float]]:
    """(target in ms or None when neither is given, the space's (fastest, slowest) child in ms).

    `names` are the two ways the caller's user gives a target, for the one-line error when both
    are given; a fraction outside [0, 1] is a ValueError too."""
    if target_ms is not None and fraction is not None:
        raise ValueError(f"give {names[0]} or {names[1]}, not both")
    bounds = space_latency_bounds(space, latency_model)
    if fraction is not None:
        target_ms = target_from_fraction(bounds, fraction)
    return (None if target_ms is None else float(target_ms)), bounds
