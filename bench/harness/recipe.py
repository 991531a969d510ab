"""The one training recipe every model of a Pareto run gets, our children and keras.applications
alike, so that accuracy differences come from the networks, not from how they were trained.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import tensorflow as tf

from ednas_tf.data import DataSplits
from ednas_tf.search.loop import SearchConfig
from ednas_tf.training import TrainConfig, fit_best


def train_config(args: SimpleNamespace) -> TrainConfig:
    """The run's training recipe (one warm-up epoch, as train_child's children get)."""
    return TrainConfig(
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        warmup_epochs=min(1, args.epochs),
        seed=args.seed,
    )


def search_config(args: SimpleNamespace) -> SearchConfig:
    """The run's search settings (the E-DNAS searches at every target)."""
    return SearchConfig(
        epochs=args.search_epochs,
        warmup_epochs=min(1, args.search_epochs),
        steps_per_epoch=args.search_steps_per_epoch,
        arch_lr=args.arch_lr,
        stop_when_committed=args.stop_when_committed,
    )


def train_keras(
    model: tf.keras.Model,
    splits: DataSplits,
    config: TrainConfig,
    output_dir: Path,
    verbose: int = 0,
) -> dict:
    """train_child's recipe (ednas_tf.training.fit_best) for any tf.keras model (logits out)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    fit = fit_best(model, splits, config, output_dir / "best.weights.h5", verbose=verbose)
    return {key: fit[key] for key in ("test_acc", "train_seconds", "best_val_acc")}
