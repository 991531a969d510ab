"""Train a derived child from scratch with a standard, sound recipe.

SGD + Nesterov momentum, linear warm-up then cosine decay, label smoothing, flip/crop augmentation
and optional random erasing (from `ednas_tf.data.batched`), decoupled weight decay on kernels only
(not BN, biases). The best epoch by validation accuracy is kept and evaluated on the test split.
Parallel kernel sets train as separate branches that add up (the meta-kernel in re-param mode),
exactly as in the search.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from ednas_tf.arch import ArchSpec
from ednas_tf.data import DataSplits, batched
from ednas_tf.io_utils import atomic_write_text
from ednas_tf.model import build
from ednas_tf.rundir import ARCH_FILE, TRAIN_METRICS_FILE, WEIGHTS_FILE


@dataclasses.dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 128
    learning_rate: float = 0.1
    warmup_epochs: int = 2
    momentum: float = 0.9
    weight_decay: float = 5e-5
    label_smoothing: float = 0.1
    steps_per_epoch: int | None = None
    augment: bool = True
    random_erasing: float = 0.0  # probability per image; needs augment
    seed: int = 0

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be >= 1")
        if not 0 <= self.warmup_epochs <= self.epochs:
            raise ValueError(f"warmup_epochs must be in [0, epochs], got {self.warmup_epochs}")
        if not 0 <= self.random_erasing <= 1:
            raise ValueError(f"random_erasing must be in [0, 1], got {self.random_erasing}")


class WarmupCosine(tf.keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `peak`, then cosine decay to 0 over the remaining steps."""

    def __init__(self, peak: float, warmup_steps: int, total_steps: int):
        self.peak, self.warmup_steps, self.total_steps = peak, warmup_steps, total_steps

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warmup = tf.maximum(float(self.warmup_steps), 1.0)
        warm = self.peak * (step + 1.0) / warmup
        progress = (step - self.warmup_steps) / max(self.total_steps - self.warmup_steps, 1)
        cosine = 0.5 * self.peak * (1.0 + tf.cos(math.pi * tf.clip_by_value(progress, 0.0, 1.0)))
        return tf.where(step < self.warmup_steps, warm, cosine)

    def get_config(self):
        return {
            "peak": self.peak,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
        }


def _optimizer(config: TrainConfig, steps_per_epoch: int) -> tf.keras.optimizers.Optimizer:
    schedule = WarmupCosine(
        config.learning_rate,
        config.warmup_epochs * steps_per_epoch,
        config.epochs * steps_per_epoch,
    )
    optimizer = tf.keras.optimizers.SGD(
        schedule, momentum=config.momentum, nesterov=True, weight_decay=config.weight_decay
    )
    optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    return optimizer


def _sparse_smoothed_loss(num_classes: int, smoothing: float):
    loss = tf.keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=smoothing)

    def fn(labels, logits):
        return loss(tf.one_hot(tf.cast(tf.reshape(labels, [-1]), tf.int32), num_classes), logits)

    return fn


def compile_for_training(
    model: tf.keras.Model, config: TrainConfig, steps_per_epoch: int, num_classes: int
) -> None:
    model.compile(
        optimizer=_optimizer(config, steps_per_epoch),
        loss=_sparse_smoothed_loss(num_classes, config.label_smoothing),
        metrics=[tf.keras.metrics.SparseCategoricalAccuracy(name="acc")],
    )


def fit_best(
    model: tf.keras.Model,
    splits: DataSplits,
    config: TrainConfig,
    best_path: str | Path,
    verbose: int = 1,
) -> dict:
    """The training recipe for any logits-out Keras model: compile, fit with a best-validation
    checkpoint at `best_path`, reload the best weights and evaluate on the test split.

    Shared by our children and the baselines of bench/pareto.py so that every model in a
    comparison is trained by exactly the same code."""
    steps = config.steps_per_epoch or max(1, splits.sizes["train"] // config.batch_size)
    compile_for_training(model, config, steps, splits.num_classes)
    train = batched(
        splits.train,
        config.batch_size,
        training=True,
        seed=config.seed,
        augment=config.augment,
        erase_probability=config.random_erasing,
        repeat=True,
        drop_remainder=True,
    )
    val = batched(splits.val, config.batch_size * 2, training=False)
    test = batched(splits.test, config.batch_size * 2, training=False)
    checkpoint = tf.keras.callbacks.ModelCheckpoint(
        str(best_path), monitor="val_acc", mode="max", save_best_only=True, save_weights_only=True
    )
    start = time.time()
    history = model.fit(
        train,
        epochs=config.epochs,
        steps_per_epoch=steps,
        validation_data=val,
        callbacks=[checkpoint],
        verbose=verbose,
    )
    seconds = time.time() - start
    model.load_weights(str(best_path))
    test_loss, test_acc = model.evaluate(test, verbose=0)
    val_acc = history.history["val_acc"]
    return {
        "test_acc": float(test_acc),
        "test_loss": float(test_loss),
        "best_val_acc": float(max(val_acc)),
        "best_epoch": int(np.argmax(val_acc)) + 1,
        "steps_per_epoch": steps,
        "train_seconds": seconds,
        "history": {k: [float(v) for v in vals] for k, vals in history.history.items()},
    }


def train_child(
    arch: ArchSpec,
    splits: DataSplits,
    config: TrainConfig,
    output_dir: str | Path,
    verbose: int = 1,
) -> dict:
    """Trains `arch` on `splits`; writes weights, a copy of arch.json and train_metrics.json."""
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    if tuple(arch.input_shape) != tuple(splits.input_shape):
        raise ValueError(
            f"arch input_shape {list(arch.input_shape)} does not match the data "
            f"{list(splits.input_shape)} (set --image_size to match)"
        )
    if arch.num_classes != splits.num_classes:
        raise ValueError(f"arch has {arch.num_classes} classes, the data {splits.num_classes}")
    tf.keras.utils.set_random_seed(config.seed)
    model = build(arch)
    best_path = output / f".best.{WEIGHTS_FILE}"
    fit = fit_best(model, splits, config, best_path, verbose=verbose)
    history, steps = fit["history"], fit["steps_per_epoch"]
    best_path.replace(output / WEIGHTS_FILE)
    arch.save(output / ARCH_FILE)
    metrics = {
        "test_acc": fit["test_acc"],
        "test_loss": fit["test_loss"],
        "best_val_acc": fit["best_val_acc"],
        "best_epoch": fit["best_epoch"],
        "epochs": config.epochs,
        "steps_per_epoch": steps,
        "train_seconds": round(fit["train_seconds"], 1),
        "params": int(model.count_params()),
        "history": history,
        "config": dataclasses.asdict(config),
        "dataset": splits.name,
        "test_examples": splits.sizes["test"],
    }
    atomic_write_text(output / TRAIN_METRICS_FILE, json.dumps(metrics, indent=2))
    return metrics


def load_trained(run_dir: str | Path) -> tuple[ArchSpec, tf.keras.Model]:
    """The arch and trained child written by `train_child` (for merge, QAT, export)."""
    run = Path(run_dir)
    for name in (ARCH_FILE, WEIGHTS_FILE):
        if not (run / name).exists():
            raise FileNotFoundError(f"{run / name} not found: run ednas-train first")
    arch = ArchSpec.load(run / ARCH_FILE)
    model = build(arch)
    model.load_weights(str(run / WEIGHTS_FILE))
    return arch, model
