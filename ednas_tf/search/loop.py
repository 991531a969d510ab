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

import tensorflow as tf

from ednas_tf.checkpointing import (
    CheckpointKeeper,
    CheckpointPolicy,
    Progress,
    ResumableRun,
    ScaledSchedule,
    nonfinite_code,
)
from ednas_tf.distribute import barrier, run_summed
from ednas_tf.layers.gumbel import (
    arch_variables,
    gate_modes,
    weight_variables,
)
from ednas_tf.precision import (
    DEFAULT_PRECISION,
    check_precision,
    checked_gradients,
    for_precision,
    scaled_loss,
    unscaled_gradients,
)
from ednas_tf.search.epochs import GateCommitment, SearchEpochs  # noqa: F401 (re-exported)
from ednas_tf.search.expected import ExpectedLatency
from ednas_tf.search.objectives import Objective
from ednas_tf.streams import as_stream

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
    # Keras dtype policy of the supernet (ednas_tf.precision); float16 scales the weight loss
    precision: str = DEFAULT_PRECISION

    def __post_init__(self):
        check_precision(self.precision)
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
            # epoch, step in it, learning-rate scale (halved by a rollback), rollbacks
            self.progress = Progress.create()
            self.epoch = self.progress.epoch
            schedule = tf.keras.optimizers.schedules.CosineDecay(config.weight_lr, total_steps)
            self.weight_opt = for_precision(
                tf.keras.optimizers.SGD(
                    ScaledSchedule(schedule, self.progress.lr_scale),
                    momentum=config.weight_momentum,
                    nesterov=True,
                    global_clipnorm=config.grad_clip_norm,
                ),
                config.precision,
            )
            self.arch_opt = tf.keras.optimizers.Adam(
                ScaledSchedule(config.arch_lr, self.progress.lr_scale), beta_1=0.5
            )
            # built now (not lazily) so a checkpoint restores their slots immediately
            self.weight_opt.build(self.weight_vars)
            self.arch_opt.build(self.arch_vars)
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
            lambda images, labels: self.strategy.run(
                lambda x, y: self.model(x, training=True), args=(images, labels)
            )
        )
        self._batch_norms = [
            m for m in supernet.submodules if isinstance(m, tf.keras.layers.BatchNormalization)
        ]
        self._moving_stats = [
            v for bn in self._batch_norms for v in (bn.moving_mean, bn.moving_variance)
        ]

    # ---------------------------------------------------------------------------------- steps
    def _distributed(self, step_fn):
        """`step_fn` on every replica's share of a batch; its non-finite flags, summed."""

        def run(images, labels):
            return run_summed(self.strategy, step_fn, images, labels)

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
            scaled = scaled_loss(self.weight_opt, loss)
        grads = unscaled_gradients(self.weight_opt, tape.gradient(scaled, self.weight_vars))
        self.weight_opt.apply_gradients(
            [(g, v) for g, v in zip(grads, self.weight_vars) if g is not None]
        )
        self.metrics["loss"].update_state(ce)
        self.metrics["acc"].update_state(labels, logits)
        return nonfinite_code(loss, checked_gradients(self.weight_opt, grads),
                              weights=self.model.variables)

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
        return nonfinite_code(loss, grads, self.arch_vars)  # the gate logits as updated

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
            self._recalibrate_step(*next(recalibration))
        for bn in self._batch_norms:
            correction = 1.0 - bn.momentum**steps
            bn.moving_mean.assign(bn.moving_mean / correction)
            bn.moving_variance.assign(bn.moving_variance / correction)

    def fit(
        self,
        train,
        arch,
        val_ds: tf.data.Dataset | None = None,
        hooks: Iterable[EpochHook] = (),
        progress: bool = True,
        keeper: CheckpointKeeper | None = None,
        policy: CheckpointPolicy | None = None,
        on_restore: Callable[[int], None] | None = None,
        label: str = "",
        point: str = "search",
        until_epoch: int | None = None,
    ) -> list[dict]:
        """Runs the remaining epochs (resumes from `self.progress`, or from `keeper`'s newest
        checkpoint under `policy`); returns per-epoch logs, the last with `committed` true where
        every gate committed before the final epoch.

        `train`, `arch`: streams (`ednas_tf.streams.BatchStream`) or batched datasets; a stream
        regenerates the batches of any step, so a resumed search sees what the uninterrupted one
        saw. `on_restore(epoch)`: told the epoch a checkpoint put the loop back at. `point`:
        the steps' test pause point (`ednas_tf.testpoint`). `until_epoch`: stop (checkpointed)
        after this many epochs, the schedules still those of `config.epochs` (a shared warm-up:
        ednas_tf.search.warmup)."""
        task = SearchEpochs(
            self,
            as_stream(train, self.strategy),
            as_stream(arch, self.strategy),
            val_ds,
            hooks,
            progress,
            on_restore,
        )
        run = ResumableRun(
            task,
            self.progress,
            self.config.epochs if until_epoch is None else until_epoch,
            self.config.steps_per_epoch,
            keeper,
            policy or CheckpointPolicy(every_steps=0),
            label,
            barrier(self.strategy),
            point,
        )
        run.run()
        return task.history

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
        """Everything needed to resume exactly: weights, gates (incl. their generators' state),
        optimizers, the epoch's running metrics and the position (epoch, step, lr scale)."""
        return tf.train.Checkpoint(
            model=self.model,
            weight_opt=self.weight_opt,
            arch_opt=self.arch_opt,
            metrics=tf.train.Checkpoint(**self.metrics),
            **self.progress.trackables(),
        )
