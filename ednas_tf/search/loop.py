"""The circular-feedback search loop.

Each iteration takes one weight step on a training batch, then one architecture step on a held-out
batch. Weights (SGD + momentum, cosine decay, L2 on conv kernels only) and architecture logits
(Adam, no weight decay) have separate optimizers and disjoint variable lists, so neither ever
updates the other's parameters. During warm-up epochs only weights move. Steps are `tf.function`s
run through a `tf.distribute` strategy; architecture variables are mirrored like any other
variable, so every replica derives the same architecture.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from ednas_tf.layers.gumbel import (
    arch_variables,
    gate_modes,
    gates_of,
    set_temperature,
    weight_variables,
)
from ednas_tf.search.expected import ExpectedLatency
from ednas_tf.search.objectives import Objective

# A logit gap of ln(0.9/0.1·(n−1)) puts 0.9 on one of n options (2.2 for two, 3.8 for six); two
# logits moving apart by `travel` each open a gap of 2·travel, so below 2 the gates cannot commit.
MIN_LOGIT_TRAVEL = 2.0


@dataclasses.dataclass
class SearchConfig:
    epochs: int = 10
    warmup_epochs: int = 2
    steps_per_epoch: int = 100
    weight_lr: float = 0.05
    weight_momentum: float = 0.9
    weight_decay: float = 4e-5
    arch_lr: float = 1e-2
    arch_update_every: int = 1
    label_smoothing: float = 0.0
    grad_clip_norm: float = 5.0
    # forward passes on training batches that re-estimate batch-norm statistics on the argmax
    # path before it is evaluated (0: evaluate with the statistics of the sampled mixtures)
    bn_recalibration_steps: int = 20
    # ends the search after an architecture epoch at which every gate puts at least this on the
    # option it also led with an epoch before (GateCommitment); 0: always run every epoch
    stop_when_committed: float = 0.9

    def __post_init__(self):
        if self.epochs < 1 or self.steps_per_epoch < 1:
            raise ValueError("epochs and steps_per_epoch must be >= 1")
        if not 0 <= self.stop_when_committed <= 1:
            raise ValueError(
                f"stop_when_committed must be in [0, 1], got {self.stop_when_committed}"
            )
        if self.bn_recalibration_steps < 0:
            raise ValueError("bn_recalibration_steps must be >= 0")
        if not 0 <= self.warmup_epochs <= self.epochs:
            raise ValueError(f"warmup_epochs must be in [0, epochs], got {self.warmup_epochs}")

    @property
    def arch_steps(self) -> int:
        """Architecture updates in the whole search (after warm-up)."""
        per_epoch = -(-self.steps_per_epoch // self.arch_update_every)
        return (self.epochs - self.warmup_epochs) * per_epoch

    def short_search_warning(self) -> str | None:
        """A message when the architecture phase is too short for the gates to commit.

        Adam moves a logit by about `arch_lr` per step at most, so `arch_steps · arch_lr` bounds
        how far any gate can get from uniform; below MIN_LOGIT_TRAVEL the most likely option
        stays well under 0.9 and the derived child is decided mostly by the latency target.
        """
        travel = self.arch_steps * self.arch_lr
        if travel >= MIN_LOGIT_TRAVEL:
            return None
        return (
            f"the architecture phase has {self.arch_steps} steps at arch_lr {self.arch_lr:g}: a "
            f"logit can move by about {travel:.2g} at most (< {MIN_LOGIT_TRAVEL:g}), so the gates "
            "cannot commit and the derived child follows the latency target more than the data. "
            "More search epochs or steps per epoch, or a larger arch_lr, let them commit."
        )


EpochHook = Callable[[int, dict], None]


class GateCommitment:
    """Tells when every gate of a supernet has committed to one option.

    A gate has committed when its most probable option holds at least `threshold` and led at
    the previous check too, so one epoch's swing does not end a search. Once all have, further
    epochs would derive the same child (with derive's threshold at or above 1 − `threshold`,
    parallel kernels keep the leader alone) and only cost time. Step 1's few kernel gates often
    commit early: they held >= 0.9 from the third of five epochs on at the low and middle
    targets of docs/results/21-run18-budget-objective-early-skips.md (read in 22-run19-*.md).
    """

    def __init__(self, model: tf.keras.Model, threshold: float):
        self.gates = gates_of(model)
        self.threshold = threshold
        self._leaders: list[int] | None = None

    def check(self) -> bool:
        """Records the current leaders; True when all have committed since the last check."""
        probs = [gate.probs().numpy() for gate in self.gates]
        leaders = [int(np.argmax(p)) for p in probs]
        committed = (
            bool(probs)
            and leaders == self._leaders
            and all(p.max() >= self.threshold for p in probs)
        )
        self._leaders = leaders
        return committed


def _decayed_kernels(model: tf.keras.Model) -> list[tf.Variable]:
    """Conv/depthwise kernels: the only variables that get weight decay (not BN, bias, gates)."""
    return [v for v in weight_variables(model) if "kernel" in v.name.split("/")[-1]]


class SearchLoop:
    """Alternating weight / architecture optimisation of a supernet."""

    def __init__(
        self,
        supernet: tf.keras.Model,
        expected_latency: ExpectedLatency,
        objective: Objective,
        temperature_schedule,
        config: SearchConfig,
        strategy: tf.distribute.Strategy | None = None,
    ):
        self.model = supernet
        self.latency = expected_latency
        self.objective = objective
        self.schedule = temperature_schedule
        self.config = config
        self.strategy = strategy or tf.distribute.get_strategy()
        self.weight_vars = weight_variables(supernet)
        self.arch_vars = arch_variables(supernet)
        self.decayed = _decayed_kernels(supernet)
        total_steps = config.epochs * config.steps_per_epoch
        with self.strategy.scope():
            schedule = tf.keras.optimizers.schedules.CosineDecay(config.weight_lr, total_steps)
            self.weight_opt = tf.keras.optimizers.SGD(
                schedule,
                momentum=config.weight_momentum,
                nesterov=True,
                global_clipnorm=config.grad_clip_norm,
            )
            self.arch_opt = tf.keras.optimizers.Adam(config.arch_lr, beta_1=0.5)
            # built now (not lazily) so a checkpoint restores their slots immediately
            self.weight_opt.build(self.weight_vars)
            self.arch_opt.build(self.arch_vars)
            self.epoch = tf.Variable(0, trainable=False, dtype=tf.int64, name="epoch")
            self.metrics = {
                name: tf.keras.metrics.Mean(name) for name in ("loss", "arch_loss", "latency_ms")
            }
            self.metrics["acc"] = tf.keras.metrics.SparseCategoricalAccuracy("acc")
            self.metrics["arch_acc"] = tf.keras.metrics.SparseCategoricalAccuracy("arch_acc")
        self.loss_fn = tf.keras.losses.CategoricalCrossentropy(
            from_logits=True,
            label_smoothing=config.label_smoothing,
            reduction=tf.keras.losses.Reduction.NONE,
        )
        self._weight_step = tf.function(self._distributed(self._weight_step_fn))
        self._arch_step = tf.function(self._distributed(self._arch_step_fn))
        self._predict = tf.function(
            lambda images: self.model(images, training=False), reduce_retracing=True
        )
        # traced (once) while the gates are "fixed": batch norm sees the argmax path in training
        # mode and updates its moving statistics; no variable but those changes
        self._recalibrate_step = tf.function(
            self._distributed(lambda images, labels: self.model(images, training=True))
        )
        self._batch_norms = [
            m for m in supernet.submodules if isinstance(m, tf.keras.layers.BatchNormalization)
        ]
        self._moving_stats = [
            v for bn in self._batch_norms for v in (bn.moving_mean, bn.moving_variance)
        ]

    # ---------------------------------------------------------------------------------- steps
    def _distributed(self, step_fn):
        def run(iterator):
            self.strategy.run(step_fn, args=next(iterator))

        return run

    def _ce(self, logits, labels):
        onehot = tf.one_hot(tf.cast(labels, tf.int32), tf.shape(logits)[-1])
        return tf.reduce_mean(self.loss_fn(onehot, logits))

    def _weight_step_fn(self, images, labels):
        replicas = self.strategy.num_replicas_in_sync
        with tf.GradientTape() as tape:
            logits = self.model(images, training=True)
            ce = self._ce(logits, labels)
            l2 = tf.add_n([tf.nn.l2_loss(v) for v in self.decayed]) if self.decayed else 0.0
            loss = (ce + self.config.weight_decay * l2) / replicas
        grads = tape.gradient(loss, self.weight_vars)
        self.weight_opt.apply_gradients(
            [(g, v) for g, v in zip(grads, self.weight_vars) if g is not None]
        )
        self.metrics["loss"].update_state(ce)
        self.metrics["acc"].update_state(labels, logits)

    def _arch_step_fn(self, images, labels):
        replicas = self.strategy.num_replicas_in_sync
        with tf.GradientTape() as tape:
            logits = self.model(images, training=True)
            ce = self._ce(logits, labels)
            latency = self.latency()
            loss = self.objective(ce, latency) / replicas
        grads = tape.gradient(loss, self.arch_vars)
        self.arch_opt.apply_gradients(
            [(g, v) for g, v in zip(grads, self.arch_vars) if g is not None]
        )
        self.metrics["arch_loss"].update_state(loss * replicas)
        self.metrics["arch_acc"].update_state(labels, logits)
        self.metrics["latency_ms"].update_state(latency)

    # ---------------------------------------------------------------------------------- epochs
    def temperature_for(self, epoch: int) -> float:
        arch_epochs = self.config.epochs - self.config.warmup_epochs
        return self.schedule(max(0, epoch - self.config.warmup_epochs), max(1, arch_epochs))

    def evaluate(self, dataset: tf.data.Dataset, recalibration=None) -> float:
        """Accuracy of the path the gates currently point to (argmax of every gate).

        That path is the child `derive()` would return, so this is the number to watch; mixing
        all options by their probabilities would score a network nobody deploys. Its batch norms
        first re-estimate their statistics on `bn_recalibration_steps` batches of
        `recalibration` (an iterator of distributed training batches): the supernet's moving
        statistics describe the sampled mixtures it trained on, not the argmax path. The
        statistics start from zero and are bias-corrected like Adam's moments, so a few batches
        give their average rather than a blend with the supernet's. Measured on a 2-epoch width
        search's supernet: 8 % with the supernet's statistics, 39 % recalibrated (30 % without
        the correction), 76 % training-mode accuracy; the rest of the gap is the weights, trained
        on mixtures. Statistics and gate modes are restored afterwards: evaluating changes nothing.
        """
        metric = tf.keras.metrics.SparseCategoricalAccuracy()
        saved_stats = [v.numpy() for v in self._moving_stats]
        try:
            with gate_modes(self.model, mode="fixed", inference="argmax"):
                self._recalibrate_batch_norms(recalibration)
                for images, labels in dataset:
                    metric.update_state(labels, self._predict(images))
        finally:
            for variable, value in zip(self._moving_stats, saved_stats):
                variable.assign(value)
        return float(metric.result())

    def _recalibrate_batch_norms(self, recalibration) -> None:
        """Bias-corrected batch-norm statistics of the current path over
        `bn_recalibration_steps` batches of `recalibration` (nothing when either is missing)."""
        steps = self.config.bn_recalibration_steps
        if recalibration is None or not steps:
            return
        for variable in self._moving_stats:
            variable.assign(tf.zeros_like(variable))
        for _ in range(steps):
            self._recalibrate_step(recalibration)
        for bn in self._batch_norms:
            correction = 1.0 - bn.momentum**steps
            bn.moving_mean.assign(bn.moving_mean / correction)
            bn.moving_variance.assign(bn.moving_variance / correction)

    def fit(
        self,
        train_ds: tf.data.Dataset,
        arch_ds: tf.data.Dataset,
        val_ds: tf.data.Dataset | None = None,
        hooks: Iterable[EpochHook] = (),
        progress: bool = True,
    ) -> list[dict]:
        """Runs the remaining epochs (resumes from `self.epoch`); returns per-epoch logs, the
        last with `committed` true where every gate committed before the final epoch."""
        train_it = iter(self.strategy.experimental_distribute_dataset(train_ds.repeat()))
        arch_it = iter(self.strategy.experimental_distribute_dataset(arch_ds.repeat()))
        # its own stream, so evaluating leaves the weight steps' batches as they were
        recalibration_it = iter(self.strategy.experimental_distribute_dataset(train_ds.repeat()))
        history = []
        cfg = self.config
        first = int(self.epoch.numpy())
        commitment = GateCommitment(self.model, cfg.stop_when_committed)
        if cfg.stop_when_committed and first > cfg.warmup_epochs:
            commitment.check()  # resumed: the gates as the last architecture epoch left them
        for epoch in range(first, cfg.epochs):
            tau = self.temperature_for(epoch)
            set_temperature(self.model, tau)
            warmup = epoch < cfg.warmup_epochs
            for metric in self.metrics.values():
                metric.reset_state()
            bar = tqdm(
                range(cfg.steps_per_epoch),
                disable=not progress,
                leave=True,
                desc=f"epoch {epoch + 1}/{cfg.epochs}{' warm-up' if warmup else ''}",
                dynamic_ncols=True,
            )
            for step in bar:
                self._weight_step(train_it)
                if not warmup and step % cfg.arch_update_every == 0:
                    self._arch_step(arch_it)
                if step % 10 == 0 or step == cfg.steps_per_epoch - 1:
                    bar.set_postfix(self._postfix(tau, warmup), refresh=False)
            logs = {name: float(m.result()) for name, m in self.metrics.items()}
            logs.update(
                epoch=epoch + 1,
                temperature=tau,
                warmup=warmup,
                expected_latency_ms=float(self.latency()),
            )
            if val_ds is not None:
                logs["val_acc"] = self.evaluate(val_ds, recalibration_it)
            committed = bool(cfg.stop_when_committed) and not warmup and commitment.check()
            logs["committed"] = committed
            # a committed search counts as finished, so a checkpoint written now resumes as done
            self.epoch.assign(cfg.epochs if committed else epoch + 1)
            history.append(logs)
            for hook in hooks:
                hook(epoch + 1, logs)
            if committed:
                break
        return history

    def _postfix(self, tau: float, warmup: bool) -> dict:
        post = {
            "loss": f"{float(self.metrics['loss'].result()):.3f}",
            "acc": f"{float(self.metrics['acc'].result()):.3f}",
        }
        if not warmup:
            post["lat_ms"] = f"{float(self.metrics['latency_ms'].result()):.3f}"
        post["tau"] = f"{tau:.2f}"
        return post

    def checkpoint(self) -> tf.train.Checkpoint:
        """Everything needed to resume: weights, gates (incl. RNG state), optimizers, epoch."""
        return tf.train.Checkpoint(
            model=self.model, weight_opt=self.weight_opt, arch_opt=self.arch_opt, epoch=self.epoch
        )
