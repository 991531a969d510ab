"""The training loop of children, baselines and QAT: resumable, exact, and NaN-aware.

A custom loop rather than Keras `fit`, so that a run can stop inside an epoch and continue there:
`TrainEpochs` is a `StepTask` of `ednas_tf.checkpointing.ResumableRun`, which checkpoints the
model, the optimizer, the running metrics and the position every few steps. The batches come from
a `BatchStream` (order regenerated from seed and step), the per-epoch history and the best
validation accuracy travel in the checkpoint as JSON, and the best epoch's weights are written
(atomically) beside it, so a resumed training picks the same best epoch as an uninterrupted one.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import tensorflow as tf

from ednas_tf.checkpointing import (
    CheckpointKeeper,
    CheckpointPolicy,
    Progress,
    ResumableRun,
    first_nonfinite,
    nonfinite_code,
)
from ednas_tf.distribute import barrier, run_summed
from ednas_tf.precision import checked_gradients, scaled_loss, unscaled_gradients
from ednas_tf.streams import BatchStream


def evaluate(model: tf.keras.Model, dataset: tf.data.Dataset, loss_fn) -> tuple[float, float]:
    """(mean loss, accuracy) of `model` in inference mode over `dataset`."""
    loss, acc = tf.keras.metrics.Mean(), tf.keras.metrics.SparseCategoricalAccuracy()
    for images, labels in dataset:
        logits = model(images, training=False)
        loss.update_state(loss_fn(labels, logits), sample_weight=tf.shape(labels)[0])
        acc.update_state(labels, logits)
    return float(loss.result()), float(acc.result())


def _save_weights(model: tf.keras.Model, path: Path) -> None:
    """model.save_weights into `path` (.h5) through a temporary file and a rename."""
    tmp = path.with_name(f".tmp{os.getpid()}.{path.name}")
    model.save_weights(str(tmp))
    os.replace(tmp, path)


class TrainEpochs:
    """One optimizer step per batch of `stream`; per epoch the history and, with `val`, the
    validation accuracy and the best epoch's weights at `best_path`.

    Steps run through `strategy` (create the task in its scope, with the model and optimizer):
    `loss_fn` gives a replica's mean loss, which is divided by the number of replicas so the
    summed gradients are those of the global batch's mean. Validation runs on each worker
    whole, so every worker picks the same best epoch."""

    def __init__(
        self,
        model: tf.keras.Model,
        optimizer: tf.keras.optimizers.Optimizer,
        loss_fn,
        stream: BatchStream,
        steps_per_epoch: int,
        val: tf.data.Dataset | None = None,
        best_path: Path | None = None,
        verbose: int = 1,
        strategy: tf.distribute.Strategy | None = None,
    ):
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.strategy = strategy or tf.distribute.get_strategy()
        self.stream, self.steps_per_epoch, self.val = stream, steps_per_epoch, val
        self.best_path, self.verbose = best_path, verbose
        self.metrics = {
            "loss": tf.keras.metrics.Mean("loss"),
            "acc": tf.keras.metrics.SparseCategoricalAccuracy("acc"),
        }
        self.history: dict[str, list[float]] = {}
        self.best_val, self.best_epoch = None, None
        self._step_fn = tf.function(
            lambda images, labels: run_summed(self.strategy, self._train_step, images, labels)
        )
        self._it = self._bar = None
        self._started = time.time()

    def trackables(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "optimizer": self.optimizer,
            "metrics": tf.train.Checkpoint(**self.metrics),
        }

    def _train_step(self, images, labels):
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            logits = self.model(images, training=True)
            loss = self.loss_fn(labels, logits)
            if self.model.losses:
                loss += tf.add_n(self.model.losses)
            # each replica's share of the global mean; scaled for float16 (ednas_tf.precision)
            replica_share = loss / self.strategy.num_replicas_in_sync
            scaled = scaled_loss(self.optimizer, replica_share)
        grads = unscaled_gradients(self.optimizer, tape.gradient(scaled, variables))
        self.optimizer.apply_gradients([(g, v) for g, v in zip(grads, variables) if g is not None])
        self.metrics["loss"].update_state(loss)
        self.metrics["acc"].update_state(labels, logits)
        return nonfinite_code(loss, checked_gradients(self.optimizer, grads),
                              weights=self.model.variables)

    def seek(self, epoch: int, step: int) -> None:
        self._it = self.stream.batches(epoch * self.steps_per_epoch + step)

    def begin_epoch(self, epoch: int, step: int) -> None:
        if step == 0:
            for metric in self.metrics.values():
                metric.reset_state()
        self._started = time.time()
        if self.verbose == 1:
            self._bar = tf.keras.utils.Progbar(self.steps_per_epoch, verbose=1)
            self._bar.update(step)

    def step(self, epoch: int, step: int) -> int:
        code = first_nonfinite(self._step_fn(*next(self._it)))
        if self._bar is not None:
            self._bar.update(step + 1)
        return code

    def end_epoch(self, epoch: int) -> bool:
        logs = {name: float(m.result()) for name, m in self.metrics.items()}
        if self.val is not None:
            logs["val_loss"], logs["val_acc"] = evaluate(self.model, self.val, self.loss_fn)
            if self.best_val is None or logs["val_acc"] > self.best_val:
                self.best_val, self.best_epoch = logs["val_acc"], epoch + 1
                if self.best_path is not None:
                    _save_weights(self.model, self.best_path)
        for name, value in logs.items():
            self.history.setdefault(name, []).append(value)
        if self.verbose:
            line = " ".join(f"{k} {v:.4f}" for k, v in logs.items())
            print(f"epoch {epoch + 1}: {line} ({time.time() - self._started:.0f} s)", flush=True)
        return False

    def state(self) -> dict[str, Any]:
        return {"history": self.history, "best_val": self.best_val, "best_epoch": self.best_epoch}

    def restored(self, state: dict[str, Any], epoch: int) -> None:
        self.history = {k: list(v[:epoch]) for k, v in state["history"].items()}
        self.best_val, self.best_epoch = state["best_val"], state["best_epoch"]


def train_epochs(
    task: TrainEpochs,
    epochs: int,
    progress: Progress,
    checkpoint_dir: str | Path | None,
    policy: CheckpointPolicy | None,
    fingerprint: dict | None = None,
    label: str = "",
) -> None:
    """Runs `task` for `epochs` under `policy`, checkpointed into `checkpoint_dir` (None: not
    at all, so neither resumable nor able to roll back)."""
    keeper = None
    if checkpoint_dir is not None:
        checkpoint = tf.train.Checkpoint(**task.trackables(), **progress.trackables())
        keeper = CheckpointKeeper(checkpoint, checkpoint_dir, fingerprint=fingerprint)
    policy = policy or CheckpointPolicy()
    run = ResumableRun(
        task,
        progress,
        epochs,
        task.steps_per_epoch,
        keeper,
        policy,
        label,
        barrier(task.strategy),
    )
    try:
        run.run()
    finally:
        sys.stdout.flush()
