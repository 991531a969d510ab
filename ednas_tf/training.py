"""Train a derived child from scratch with a standard, sound recipe.

SGD + Nesterov momentum, linear warm-up then cosine decay, label smoothing, the data's augmentation
policy and optional random erasing (`ednas_tf.data.augment`), decoupled weight decay on kernels only
(not BN, biases). The best epoch by validation accuracy is kept and evaluated on the test split.
Parallel kernel sets train as separate branches that add up (the meta-kernel in re-param mode),
exactly as in the search. The loop (`ednas_tf.train_loop`) checkpoints into `ckpt/` beside the
outputs, so a re-run of a killed training continues where it stopped and ends with the weights
an uninterrupted one would have.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import time
from pathlib import Path

import tensorflow as tf

from ednas_tf.arch import ArchSpec
from ednas_tf.checkpointing import CKPT_DIR, CheckpointPolicy, Progress, ScaledSchedule
from ednas_tf.data import DataSplits, batched
from ednas_tf.data.plan import SplitInput
from ednas_tf.io_utils import atomic_write_json
from ednas_tf.model import build
from ednas_tf.precision import (
    DEFAULT_PRECISION,
    check_precision,
    float32_policy,
    for_precision,
    precision_policy,
)
from ednas_tf.rundir import ARCH_FILE, TRAIN_METRICS_FILE, WEIGHTS_FILE
from ednas_tf.streams import BatchStream
from ednas_tf.train_loop import TrainEpochs, evaluate, train_epochs


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
    precision: str = DEFAULT_PRECISION  # Keras dtype policy (ednas_tf.precision)

    def __post_init__(self):
        check_precision(self.precision)
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


def _optimizer(
    config: TrainConfig, steps_per_epoch: int, lr_scale: tf.Variable | None = None
) -> tf.keras.optimizers.Optimizer:
    schedule = WarmupCosine(
        config.learning_rate,
        config.warmup_epochs * steps_per_epoch,
        config.epochs * steps_per_epoch,
    )
    if lr_scale is not None:  # halved by a rollback after a non-finite step
        schedule = ScaledSchedule(schedule, lr_scale)
    optimizer = tf.keras.optimizers.SGD(
        schedule, momentum=config.momentum, nesterov=True, weight_decay=config.weight_decay
    )
    optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    return for_precision(optimizer, config.precision)


def _sparse_smoothed_loss(num_classes: int, smoothing: float):
    """The mean smoothed cross-entropy of a batch (reduced here: Keras refuses its own mean
    inside a `tf.distribute` replica)."""
    loss = tf.keras.losses.CategoricalCrossentropy(
        from_logits=True, label_smoothing=smoothing, reduction=tf.keras.losses.Reduction.NONE
    )

    def fn(labels, logits):
        onehot = tf.one_hot(tf.cast(tf.reshape(labels, [-1]), tf.int32), num_classes)
        return tf.reduce_mean(loss(onehot, logits))

    return fn


def compile_for_training(
    model: tf.keras.Model, config: TrainConfig, steps_per_epoch: int, num_classes: int
) -> None:
    model.compile(
        optimizer=_optimizer(config, steps_per_epoch),
        loss=_sparse_smoothed_loss(num_classes, config.label_smoothing),
        metrics=[tf.keras.metrics.SparseCategoricalAccuracy(name="acc")],
    )


def train_model(
    model: tf.keras.Model,
    train: tf.data.Dataset | SplitInput,
    config: TrainConfig,
    steps_per_epoch: int,
    num_classes: int,
    *,
    val: tf.data.Dataset | None = None,
    best_path: str | Path | None = None,
    checkpoint_dir: str | Path | None = None,
    policy: CheckpointPolicy | None = None,
    fingerprint: dict | None = None,
    verbose: int = 1,
    strategy: tf.distribute.Strategy | None = None,
) -> TrainEpochs:
    """Trains `model` on the split `train` (its SplitInput, or unbatched examples) with
    `config`'s recipe, resumable from `checkpoint_dir` (see `ednas_tf.train_loop`); returns the
    finished task (history, best).

    `strategy`: the one `model` was built in the scope of; `config.batch_size` is the global
    batch."""
    strategy = strategy or tf.distribute.get_strategy()
    stream = BatchStream(
        train,
        config.batch_size,
        seed=config.seed,
        augment=config.augment,
        erase_probability=config.random_erasing,
        strategy=strategy,
    )
    with strategy.scope():
        progress = Progress.create()
        optimizer = _optimizer(config, steps_per_epoch, progress.lr_scale)
        optimizer.build(model.trainable_variables)  # its slots exist before a restore
        task = TrainEpochs(
            model,
            optimizer,
            _sparse_smoothed_loss(num_classes, config.label_smoothing),
            stream,
            steps_per_epoch,
            val=val,
            best_path=Path(best_path) if best_path else None,
            verbose=verbose,
            strategy=strategy,
        )
    train_epochs(task, config.epochs, progress, checkpoint_dir, policy, fingerprint)
    return task


def fit_best(
    model: tf.keras.Model,
    splits: DataSplits,
    config: TrainConfig,
    best_path: str | Path,
    verbose: int = 1,
    checkpoint_dir: str | Path | None = None,
    policy: CheckpointPolicy | None = None,
    fingerprint: dict | None = None,
    strategy: tf.distribute.Strategy | None = None,
) -> dict:
    """The training recipe for any logits-out Keras model: train with the best validation
    epoch's weights kept at `best_path`, reload them and evaluate on the test split; resumable
    from `checkpoint_dir` (None: no checkpoints); `model` built in `strategy`'s scope.

    Shared by our children and the baselines of bench/pareto.py so that every model in a
    comparison is trained by exactly the same code."""
    steps = config.steps_per_epoch or max(1, splits.sizes["train"] // config.batch_size)
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():  # for model.evaluate users
        compile_for_training(model, config, steps, splits.num_classes)
    val = batched(splits.val, config.batch_size * 2, training=False)
    test = batched(splits.test, config.batch_size * 2, training=False)
    start = time.time()
    task = train_model(
        model,
        splits.source("train"),
        config,
        steps,
        splits.num_classes,
        val=val,
        best_path=best_path,
        checkpoint_dir=checkpoint_dir,
        policy=policy,
        fingerprint=fingerprint,
        verbose=verbose,
        strategy=strategy,
    )
    seconds = time.time() - start
    model.load_weights(str(best_path))
    loss_fn = _sparse_smoothed_loss(splits.num_classes, config.label_smoothing)
    test_loss, test_acc = evaluate(model, test, loss_fn)
    return {
        "test_acc": test_acc,
        "test_loss": test_loss,
        "best_val_acc": task.best_val,
        "best_epoch": task.best_epoch,
        "steps_per_epoch": steps,
        "train_seconds": seconds,
        "history": task.history,
    }


def train_child(
    arch: ArchSpec,
    splits: DataSplits,
    config: TrainConfig,
    output_dir: str | Path,
    verbose: int = 1,
    policy: CheckpointPolicy | None = None,
    strategy: tf.distribute.Strategy | None = None,
) -> dict:
    """Trains `arch` on `splits`; writes weights, a copy of arch.json and train_metrics.json.
    Checkpoints go to `output_dir`/ckpt; with `policy.resume` (the default) a re-run continues
    from them. `strategy` distributes the steps (`config.batch_size` is the global batch)."""
    strategy = strategy or tf.distribute.get_strategy()
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
    with precision_policy(config.precision), strategy.scope():
        model = build(arch)
    best_path = output / f".best.{WEIGHTS_FILE}"
    policy = policy or CheckpointPolicy()
    if policy.resume and not best_path.exists() and (output / WEIGHTS_FILE).exists():
        shutil.copyfile(output / WEIGHTS_FILE, best_path)  # a finished run's best, re-run
    fingerprint = {
        "arch": arch.to_dict(),
        "config": dataclasses.asdict(config),
        **splits.fingerprint(),
    }
    fit = fit_best(
        model,
        splits,
        config,
        best_path,
        verbose=verbose,
        checkpoint_dir=output / CKPT_DIR,
        policy=policy,
        fingerprint=fingerprint,
        strategy=strategy,
    )
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
        "augment": splits.augment,
        "holdout_groups": splits.holdout_groups,
        "test_examples": splits.sizes["test"],
    }
    atomic_write_json(output / TRAIN_METRICS_FILE, metrics)
    return metrics


def load_trained(run_dir: str | Path) -> tuple[ArchSpec, tf.keras.Model]:
    """The arch and trained child written by `train_child` (for merge, QAT, export)."""
    run = Path(run_dir)
    for name in (ARCH_FILE, WEIGHTS_FILE):
        if not (run / name).exists():
            raise FileNotFoundError(f"{run / name} not found: run ednas-train first")
    arch = ArchSpec.load(run / ARCH_FILE)
    with float32_policy():  # deploy's starting point, whatever precision it was trained in
        model = build(arch)
    model.load_weights(str(run / WEIGHTS_FILE))
    return arch, model
