"""The keras-tuner baseline's settings: its budgets, each trial's training, and how the device
latency bounds a trial's score.

Kept apart from the tuner loop so that a caller (the pipeline, the Pareto benchmark) can build
and check its settings before any data is loaded.
"""

from __future__ import annotations

import dataclasses
import importlib

from ednas_tf.cost.base import LatencyModel
from ednas_tf.search.targets import resolve_target_ms
from ednas_tf.space import SearchSpace
from ednas_tf.training import TrainConfig

TUNERS = ("random", "hyperband", "bayesian")
CONSTRAINTS = ("reject", "penalty")
# Below any accuracy (>= 0): what a refused child scores, finite so the Bayesian GP can use it.
REJECTED_SCORE = -1.0


@dataclasses.dataclass(frozen=True)
class LatencyConstraint:
    """How the device latency bounds the tuner's score.

    reject: a child over `budget_ms` is not trained and scores `REJECTED_SCORE`.
    penalty: score = val_acc − penalty_weight · max(0, LAT / budget − 1).
    No budget: score = val_acc.
    """

    budget_ms: float | None = None
    mode: str = "reject"
    penalty_weight: float = 1.0

    def __post_init__(self):
        if self.mode not in CONSTRAINTS:
            raise ValueError(f"constraint must be one of {CONSTRAINTS}, got {self.mode!r}")
        if self.budget_ms is not None and not self.budget_ms > 0:
            raise ValueError(f"latency budget must be > 0 ms, got {self.budget_ms}")
        if not self.penalty_weight >= 0:
            raise ValueError(f"penalty weight must be >= 0, got {self.penalty_weight}")

    def rejects(self, latency_ms: float) -> bool:
        return self.mode == "reject" and self.budget_ms is not None and latency_ms > self.budget_ms

    def score(self, val_acc: float, latency_ms: float) -> float:
        if self.mode == "reject" or self.budget_ms is None:
            return float(val_acc)
        excess = max(0.0, latency_ms / self.budget_ms - 1.0)
        return float(val_acc - self.penalty_weight * excess)


def resolve_budget(
    space: SearchSpace,
    latency_model: LatencyModel,
    budget_ms: float | None = None,
    fraction: float | None = None,
) -> float | None:
    """The budget in ms, from ms or from a position in the space's latency range (0..1).

    Refuses a budget no child can meet, naming the space's bounds.
    """
    budget, (low, high) = resolve_target_ms(
        space,
        latency_model,
        budget_ms,
        fraction,
        names=("a latency budget in ms", "as a fraction of the range"),
    )
    if budget is None:
        return None
    if not budget > 0 or budget < low:
        raise ValueError(
            f"latency budget {budget:.4g} ms is below the fastest child of this space on this "
            f"device: its children take [{low:.4g}, {high:.4g}] ms"
        )
    return float(budget)


def _check_bayesian_dependencies() -> None:
    """keras-tuner's Bayesian oracle needs these; say so before any data is loaded."""
    for module in ("scipy.optimize", "sklearn.gaussian_process"):
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise ValueError(
                f"tuner 'bayesian' needs scipy and scikit-learn ({err}); pip install "
                "scikit-learn, or use the random or hyperband tuner"
            ) from None


@dataclasses.dataclass
class TuneConfig:
    """The tuner's budget and each trial's brief training."""

    tuner: str = "random"
    max_trials: int = 10  # trials that train a child; refused ones are counted separately
    max_rejected_trials: int = 200  # refused proposals before giving up (reject mode)
    max_time_minutes: float | None = None  # no new trial starts after this
    epochs: int = 2  # per trial; Hyperband's largest budget
    steps_per_epoch: int | None = None
    batch_size: int = 64
    learning_rate: float = 0.05
    seed: int = 0

    def __post_init__(self):
        if self.tuner not in TUNERS:
            raise ValueError(f"tuner must be one of {TUNERS}, got {self.tuner!r}")
        for name in ("max_trials", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_rejected_trials < 0:
            raise ValueError(f"max_rejected_trials must be >= 0, got {self.max_rejected_trials}")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be >= 1, got {self.steps_per_epoch}")
        if self.max_time_minutes is not None and not self.max_time_minutes > 0:
            raise ValueError(f"max_time_minutes must be > 0, got {self.max_time_minutes}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.tuner == "bayesian":
            _check_bayesian_dependencies()

    def train_config(self, epochs: int, steps_per_epoch: int) -> TrainConfig:
        # No warm-up: a trial lasts a few epochs and warm-up would eat a large share of them.
        return TrainConfig(
            epochs=epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            warmup_epochs=0,
            steps_per_epoch=steps_per_epoch,
            seed=self.seed,
        )
