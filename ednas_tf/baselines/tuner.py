"""keras-tuner over the E-DNAS search space: the black-box baseline the differentiable search is
measured against.

Each trial samples a child of the SAME `SearchSpace` the supernet is built from (one hyperparameter
per searched decision of a block), builds it with `ednas_tf.model.build`, trains it briefly and is
scored on validation accuracy under the device's latency (`child_latency`): over-budget children
are either refused untrained (`reject`) or have their score lowered (`penalty`).

keras-tuner 1.4.8 imports Keras 3 (`import keras`) whatever Keras tf.keras is set to, so its
Keras-facing `Tuner` would train our tf.keras (Keras 2) models with Keras-3 callbacks. We use only
its framework-free half: an `Oracle` proposes hyperparameters and `BaseTuner` drives the loop,
while `ArchTuner.run_trial` builds and trains the tf.keras child itself and returns a plain score.
Nothing of Keras 3 ever touches a model.

Its settings and constraint are in `tuner_config`, what it samples in `tuner_space`; this module
runs the trials.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras_tuner as kt
import tensorflow as tf
from keras_tuner.engine import base_tuner
from keras_tuner.engine.trial import Trial

from ednas_tf.arch import ArchSpec
from ednas_tf.baselines.tuner_config import (
    CONSTRAINTS,
    REJECTED_SCORE,
    TUNERS,
    LatencyConstraint,
    TuneConfig,
    resolve_budget,
)
from ednas_tf.baselines.tuner_space import ChildHyperModel, hp_name, sample_child
from ednas_tf.cost.base import LatencyModel
from ednas_tf.cost.network import child_latency
from ednas_tf.data import DataSplits, batched
from ednas_tf.io_utils import atomic_write_text
from ednas_tf.model import build
from ednas_tf.rundir import ARCH_FILE
from ednas_tf.space import SearchSpace
from ednas_tf.training import WEIGHTS_FILE, TrainConfig, compile_for_training

# The tuner's public names, its settings and its space included: callers import them from here.
__all__ = [
    "CONSTRAINTS",
    "OBJECTIVE",
    "REJECTED_SCORE",
    "TRIALS_CSV_FIELDS",
    "TUNERS",
    "ArchTuner",
    "ChildHyperModel",
    "LatencyConstraint",
    "TrialRecord",
    "TuneConfig",
    "TuneResult",
    "hp_name",
    "make_oracle",
    "progress_line",
    "resolve_budget",
    "sample_child",
    "train_trial",
    "tune",
    "write_trials_csv",
]

OBJECTIVE = kt.Objective("score", direction="max")
TRIALS_CSV_FIELDS = (
    "trial_id",
    "status",
    "latency_ms",
    "val_acc",
    "score",
    "epochs",
    "seconds",
    "blocks",
    "skipped",
)


@dataclasses.dataclass
class TrialRecord:
    """One row of trials.csv."""

    trial_id: str
    status: str  # trained | rejected | failed
    latency_ms: float
    arch: ArchSpec | None
    skipped: list[str]
    val_acc: float | None = None
    score: float | None = None
    epochs: int = 0
    seconds: float = 0.0
    message: str = ""

    def row(self) -> dict[str, Any]:
        return {
            "trial_id": self.trial_id,
            "status": self.status,
            "latency_ms": _round(self.latency_ms),
            "val_acc": _round(self.val_acc),
            "score": _round(self.score),
            "epochs": self.epochs,
            "seconds": round(self.seconds, 2),
            "blocks": " ".join(self.arch.block_strings()) if self.arch else "",
            "skipped": " ".join(self.skipped),
        }


def _round(value: float | None) -> float | str:
    return "" if value is None or math.isnan(value) else round(float(value), 6)


class _NoRetracingWarning(logging.Filter):
    """Every trial builds a new model, so tf.function retraces by design; TF's warning is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


tf.get_logger().addFilter(_NoRetracingWarning())


def train_trial(
    arch: ArchSpec,
    train: tf.data.Dataset,
    val: tf.data.Dataset,
    config: TrainConfig,
    steps_per_epoch: int,
    initial_epoch: int = 0,
    initial_weights: str | None = None,
    verbose: int = 0,
) -> tuple[float, tf.keras.Model]:
    """Trains `arch` briefly (epochs `initial_epoch`..`config.epochs`); best val accuracy.

    With `initial_weights` (a trial Hyperband promotes) the weights and the optimizer state
    (momentum, step count) of the earlier trial are restored, so training continues from there.
    """
    tf.keras.backend.clear_session()
    tf.keras.utils.set_random_seed(config.seed)
    model = build(arch)
    compile_for_training(model, config, steps_per_epoch, arch.num_classes)
    if initial_weights:  # the optimizer slots must exist for its state to load
        model.optimizer.build(model.trainable_variables)
        model.load_weights(initial_weights)
    history = model.fit(
        train,
        epochs=config.epochs,
        initial_epoch=initial_epoch,
        steps_per_epoch=steps_per_epoch,
        validation_data=val,
        verbose=verbose,
    )
    return float(max(history.history["val_acc"])), model


class ArchTuner(base_tuner.BaseTuner):
    """Runs the oracle's trials as tf.keras children and enforces the budgets between trials."""

    def __init__(
        self,
        oracle: kt.Oracle,
        space: SearchSpace,
        splits: DataSplits,
        latency_model: LatencyModel,
        constraint: LatencyConstraint,
        config: TuneConfig,
        directory: str | Path,
        trials_csv: str | Path | None = None,
        log: Callable[[str], None] = print,
        keras_verbose: int = 0,
    ):
        """keras_verbose: each trial's training output (Keras's 0, 1 or 2); keras-tuner's own
        display stays off, the trial's line (`progress_line`) is what `log` gets."""
        super().__init__(
            oracle,
            hypermodel=ChildHyperModel(space),
            directory=str(directory),
            project_name=config.tuner,
            overwrite=True,
        )
        self.space, self.splits, self.latency_model = space, splits, latency_model
        self.constraint, self.config, self.log = constraint, config, log
        self.trials_csv, self.keras_verbose = trials_csv, keras_verbose
        self.steps_per_epoch = config.steps_per_epoch or max(
            1, splits.sizes["train"] // config.batch_size
        )
        self.train_data = batched(
            splits.source("train"),
            config.batch_size,
            training=True,
            seed=config.seed,
            repeat=True,
            drop_remainder=True,
        )
        self.val_data = batched(splits.val, config.batch_size * 2, training=False)
        self.records: list[TrialRecord] = []
        self.stop_reason = "the oracle ended the search"
        self.last_error = ""
        self.start_time = time.time()

    # -- budgets ---------------------------------------------------------------------------------
    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.records)

    def _budget_spent(self) -> str | None:
        if self.count("trained") >= self.config.max_trials:
            return f"--max_trials={self.config.max_trials} trials trained"
        if self.count("rejected") > self.config.max_rejected_trials:
            return f"more than {self.config.max_rejected_trials} over-budget children refused"
        minutes = self.config.max_time_minutes
        if minutes is not None and time.time() - self.start_time >= 60 * minutes:
            return f"time budget of {minutes:g} min spent"
        return None

    def on_search_begin(self) -> None:
        self.start_time = time.time()

    def pre_create_trial(self) -> None:
        """Stops the search through the oracle's own check: no more trials than it has."""
        reason = self._budget_spent()
        if reason:
            self.stop_reason = reason
            # keras-tuner reads max_trials=0 as "no limit": -1 also stops a search with no trial
            self.oracle.max_trials = len(self.oracle.trials) or -1

    # -- trials ----------------------------------------------------------------------------------
    def run_trial(self, trial: Trial, **fit_kwargs) -> dict[str, float]:
        """Costs the child, refuses or trains it, and returns the score the oracle ranks by."""
        hp = trial.hyperparameters
        arch = self.hypermodel.build(hp)
        skipped = [b.name for b in self.space.blocks if b.name not in arch.search["source_blocks"]]
        latency = float(child_latency(arch, self.latency_model))
        record = TrialRecord(trial.trial_id, "failed", latency, arch, skipped)
        self.records.append(record)
        if self.constraint.rejects(latency):
            record.status, record.score = "rejected", REJECTED_SCORE
            return {OBJECTIVE.name: REJECTED_SCORE}
        epochs = int(hp.values.get("tuner/epochs", self.config.epochs))
        initial_epoch = int(hp.values.get("tuner/initial_epoch", 0))
        parent = hp.values.get("tuner/trial_id")
        weights = Path(self.get_trial_dir(parent)) / WEIGHTS_FILE if parent else None
        if weights is None or not weights.exists():
            weights, initial_epoch = None, 0
        start = time.time()
        val_acc, model = train_trial(
            arch,
            self.train_data,
            self.val_data,
            self.config.train_config(epochs, self.steps_per_epoch),
            self.steps_per_epoch,
            initial_epoch=initial_epoch,
            initial_weights=str(weights) if weights else None,
            verbose=self.keras_verbose,
        )
        if self.config.tuner == "hyperband":  # it may promote this trial: keep its state
            model.save_weights(str(Path(self.get_trial_dir(trial.trial_id)) / WEIGHTS_FILE))
        record.status, record.val_acc = "trained", val_acc
        record.score = self.constraint.score(val_acc, latency)
        record.epochs, record.seconds = epochs - initial_epoch, time.time() - start
        return {OBJECTIVE.name: record.score}

    def on_trial_end(self, trial: Trial) -> None:
        """Records a failure's last traceback line, saves trials.csv, prints the trial's line."""
        record = next((r for r in reversed(self.records) if r.trial_id == trial.trial_id), None)
        if record is None:  # failed before it could be costed
            record = TrialRecord(trial.trial_id, "failed", math.nan, None, [])
            self.records.append(record)
        if record.status == "failed":
            lines = (trial.message or "").strip().splitlines()
            record.message = lines[-1] if lines else "unknown error"
            self.last_error = record.message
        super().on_trial_end(trial)
        if self.trials_csv is not None:
            write_trials_csv(self.trials_csv, self.records)
        self.log(progress_line(record, len(self.records)))


def progress_line(record: TrialRecord, number: int) -> str:
    """The one line a trial prints."""
    head = f"trial {number:>4} ({record.trial_id}) {record.status:<8} {record.latency_ms:8.4g} ms"
    if record.status == "trained":
        head += (
            f"  val_acc {record.val_acc:.4f}  score {record.score:+.4f}"
            f"  {record.epochs} ep {record.seconds:.1f} s"
        )
    elif record.status == "failed":
        head += f"  {record.message}"
    blocks = " ".join(record.arch.block_strings()) if record.arch else ""
    return f"{head}  | {blocks}"


def make_oracle(config: TuneConfig) -> kt.Oracle:
    """The oracle of `config.tuner`; room for every trial the budgets allow."""
    capacity = config.max_trials + config.max_rejected_trials + 1
    if config.tuner == "random":
        return kt.oracles.RandomSearchOracle(OBJECTIVE, max_trials=capacity, seed=config.seed)
    if config.tuner == "hyperband":
        return kt.oracles.HyperbandOracle(
            OBJECTIVE, max_epochs=config.epochs, factor=3, seed=config.seed
        )
    return kt.oracles.BayesianOptimizationOracle(OBJECTIVE, max_trials=capacity, seed=config.seed)


def write_trials_csv(path: str | Path, records: list[TrialRecord]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=TRIALS_CSV_FIELDS)
    writer.writeheader()
    writer.writerows(r.row() for r in records)
    atomic_write_text(path, buffer.getvalue())


@dataclasses.dataclass
class TuneResult:
    arch: ArchSpec
    best: TrialRecord
    records: list[TrialRecord]
    seconds: float
    stop_reason: str


def tune(
    space: SearchSpace,
    splits: DataSplits,
    latency_model: LatencyModel,
    constraint: LatencyConstraint,
    config: TuneConfig,
    output_dir: str | Path,
    log: Callable[[str], None] = print,
    keras_verbose: int = 0,
) -> TuneResult:
    """Runs the tuner; writes trials.csv (rewritten after every trial) and the best arch.json.
    keras_verbose: each trial's Keras training output (0 silent, 1 a bar, 2 a line per epoch).

    The keras-tuner project (oracle state, one folder per trial) goes to `output_dir/tuner/`.
    """
    if tuple(space.input_shape) != tuple(splits.input_shape):
        raise ValueError(
            f"space input {list(space.input_shape)} != data {list(splits.input_shape)}"
        )
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    (output / ARCH_FILE).unlink(missing_ok=True)  # a failed re-run must not leave an old best
    tuner = ArchTuner(
        make_oracle(config),
        space,
        splits,
        latency_model,
        constraint,
        config,
        output / "tuner",
        trials_csv=output / "trials.csv",
        log=log,
        keras_verbose=keras_verbose,
    )
    start = time.time()
    try:
        tuner.search(verbose=0)
    except RuntimeError as err:  # keras-tuner gives up after consecutive failed trials
        raise ValueError(f"{err} Last error: {tuner.last_error}") from None
    seconds = time.time() - start
    write_trials_csv(output / "trials.csv", tuner.records)
    trained = [r for r in tuner.records if r.status == "trained"]
    if not trained:
        raise ValueError(
            f"no trial trained a child within the budget ({tuner.stop_reason}; "
            f"{tuner.count('rejected')} refused, {tuner.count('failed')} failed): "
            "raise the latency budget or the trial limits"
        )
    best = max(trained, key=lambda r: r.score)
    arch = dataclasses.replace(best.arch, predicted_latency_ms=round(best.latency_ms, 6))
    arch.search = {
        "method": "keras_tuner",
        "tuner": config.tuner,
        "dataset": splits.name,
        "latency_model": latency_model.name,
        "trials_run": len(tuner.records),
        "trials_trained": len(trained),
        "trials_rejected": tuner.count("rejected"),
        "trials_failed": tuner.count("failed"),
        "best_trial": best.trial_id,
        "best_val_acc": best.val_acc,
        "best_score": best.score,
        "constraint": constraint.mode,
        "latency_budget_ms": constraint.budget_ms,
        "penalty_weight": constraint.penalty_weight if constraint.mode == "penalty" else None,
        "max_trials": config.max_trials,
        "max_time_minutes": config.max_time_minutes,
        "epochs_per_trial": config.epochs,
        "steps_per_epoch": tuner.steps_per_epoch,
        "batch_size": config.batch_size,
        "learning_rate": config.learning_rate,
        "seed": config.seed,
        "stop_reason": tuner.stop_reason,
        "search_seconds": round(seconds, 1),
        "source_blocks": best.arch.search["source_blocks"],
    }
    arch.save(output / ARCH_FILE)
    return TuneResult(arch, best, tuner.records, seconds, tuner.stop_reason)
