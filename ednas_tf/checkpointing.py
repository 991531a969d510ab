"""Checkpoints a long run resumes from exactly, and the loop that writes them.

A run (a search step, a training, a QAT fine-tuning) is epochs of steps. `ResumableRun` drives
them for a `StepTask` and, under a `CheckpointPolicy`:

* writes a checkpoint every `every_steps` steps and at every epoch end: the model, optimizers,
  gate generators, metrics, the position (epoch, step) and whatever the task adds as JSON; the
  data position is the step count, from which the task regenerates the same batch order
  (`ednas_tf.streams`);
* writes it atomically (`CheckpointKeeper`: TF's write into a temporary folder, then a rename)
  and keeps the last two; a truncated or corrupt newest one falls back to the one before with a
  one-line warning;
* on SIGINT / SIGTERM (`InterruptGuard`) finishes the current step, writes a checkpoint and raises
  `Interrupted` ("interrupted at epoch E step S; re-run the same command to continue");
* stops at a non-finite loss, gradient or gate logit with `NonFiniteError` (a ValueError naming
  the step), or with `on_nan="rollback"` restarts from the last good checkpoint with the learning
  rates halved (`ScaledSchedule`), at most `max_rollbacks` times; a retry writes no checkpoint
  until an epoch past the failed step, so a second failure goes further back.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import tensorflow as tf

from ednas_tf import testpoint
from ednas_tf.io_utils import json_text
from ednas_tf.rundir import chief_path

ON_NAN = ("fail", "rollback")
CKPT_DIR = "ckpt"  # the folder of a run's checkpoints, beside its outputs
DEFAULT_EVERY_STEPS = 200
# what a step function returns: 0, or which number was not finite
NONFINITE_KINDS = {1: "loss", 2: "gradient", 3: "gate logit", 4: "weight or batch-norm statistic"}
_PREFIX = "ckpt-"


@dataclasses.dataclass
class CheckpointPolicy:
    """every_steps: a checkpoint every this many steps (and at every epoch end; 0: epoch ends
    only); resume: continue from the newest checkpoint; on_nan: "fail" or "rollback"."""

    every_steps: int = DEFAULT_EVERY_STEPS
    resume: bool = True
    on_nan: str = "fail"
    max_rollbacks: int = 3

    def __post_init__(self):
        if self.every_steps < 0:
            raise ValueError(f"checkpoint_every_steps must be >= 0, got {self.every_steps}")
        if self.on_nan not in ON_NAN:
            raise ValueError(f"on_nan must be one of {ON_NAN}, got {self.on_nan!r}")
        if self.max_rollbacks < 0:
            raise ValueError(f"max_rollbacks must be >= 0, got {self.max_rollbacks}")


class Interrupted(KeyboardInterrupt):
    """SIGINT / SIGTERM ended a run after its checkpoint; `exit_status` is 130 / 143."""

    def __init__(self, signum: int, epoch: int, step: int):
        self.signum, self.epoch, self.step = signum, epoch, step
        self.message = (
            f"interrupted at epoch {epoch} step {step}; re-run the same command to continue"
        )
        self.exit_status = 128 + signum
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class NonFiniteError(ValueError):
    """A non-finite loss, gradient or gate logit stopped a run."""


class CheckpointError(ValueError):
    """No checkpoint of a run can be read, or they belong to other settings."""


class ScaledSchedule(tf.keras.optimizers.schedules.LearningRateSchedule):
    """`base` (a schedule or a number) times `scale`, a variable a rollback halves."""

    def __init__(self, base, scale: tf.Variable):
        self.base, self.scale = base, scale

    def __call__(self, step):
        base = self.base(step) if callable(self.base) else tf.constant(self.base, tf.float32)
        return base * tf.cast(self.scale, base.dtype)

    def get_config(self):
        return {"base": self.base, "scale": float(self.scale.numpy())}


def _all_finite(tensors) -> tf.Tensor:
    checks = [  # integer variables (counters, seeds) are finite by type
        tf.reduce_all(tf.math.is_finite(getattr(t, "values", t)))
        for t in tensors if t is not None and t.dtype.is_floating
    ]
    return tf.reduce_all(tf.stack(checks)) if checks else tf.constant(True)


def nonfinite_code(loss, grads: Sequence = (), gates: Sequence = (),
                   weights: Sequence = ()) -> tf.Tensor:
    """Which of `loss`, `grads`, `gates`, `weights` hold a non-finite number: four floats, 1.0
    where so (floats, so replicas can add theirs up; `first_nonfinite` reads them).

    `weights` (the model's variables after the step) catches what the loss cannot: a batch
    norm normalises huge activations to a finite loss while its moving variance overflows, and
    an update can overflow a weight from finite gradients; either would be saved silently."""
    finite = tf.stack([_all_finite([loss]), _all_finite(grads), _all_finite(gates),
                       _all_finite(weights)])
    return 1.0 - tf.cast(finite, tf.float32)


def first_nonfinite(flags) -> int:
    """0 when `flags` (from nonfinite_code, maybe summed over replicas) are all zero, else the
    NONFINITE_KINDS key of the first non-finite kind."""
    values = [float(v) for v in tf.reshape(flags, [-1]).numpy()]
    return next((index + 1 for index, value in enumerate(values) if value > 0), 0)


class CheckpointKeeper:
    """Numbered checkpoints `ckpt-N/` in `directory`, each written whole or not at all.

    A save writes TF's checkpoint and a `meta.json` (file sizes, the task's JSON state) into
    `.ckpt-N.tmp/`, then renames it: a kill at any moment leaves the previous checkpoints intact.
    The last `keep` are kept. `fingerprint`: settings a resumed run must share (a mismatch is a
    CheckpointError, not a silent mix of two runs).

    A multi-worker run's non-chief writes into its scratch copy of the chief's folder
    (`ednas_tf.rundir.worker_output`) but resumes and rolls back from the chief's checkpoints
    (`source`), so every worker restarts at the same step even if a kill caught them apart."""

    def __init__(self, checkpoint: tf.train.Checkpoint, directory, keep: int = 2, fingerprint=None):
        self.checkpoint, self.directory, self.keep = checkpoint, Path(directory), keep
        self.source = chief_path(self.directory)
        self.fingerprint = json.loads(json_text(fingerprint)) if fingerprint else None

    def paths(self) -> list[Path]:
        """The complete checkpoints a restore reads (the chief's), oldest first."""
        return self._complete(self.source)

    @staticmethod
    def _complete(directory: Path) -> list[Path]:
        if not directory.is_dir():
            return []
        found = []
        for path in directory.iterdir():
            number = path.name[len(_PREFIX) :]
            if path.is_dir() and path.name.startswith(_PREFIX) and number.isdigit():
                found.append((int(number), path))
        return [path for _, path in sorted(found)]

    def save(self, state: dict[str, Any]) -> Path:
        paths = self._complete(self.directory)
        number = int(paths[-1].name[len(_PREFIX) :]) + 1 if paths else 1
        self.directory.mkdir(parents=True, exist_ok=True)
        for stale in self.directory.glob(f".{_PREFIX}*.tmp"):
            shutil.rmtree(stale, ignore_errors=True)  # a write a kill cut short
        tmp = self.directory / f".{_PREFIX}{number}.tmp"
        self.checkpoint.write(str(tmp / "state"))
        sizes = {p.name: p.stat().st_size for p in sorted(tmp.iterdir())}
        meta = {"files": sizes, "state": state, "fingerprint": self.fingerprint}
        (tmp / "meta.json").write_text(json_text(meta, indent=None))
        final = self.directory / f"{_PREFIX}{number}"
        os.replace(tmp, final)
        for old in self._complete(self.directory)[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def _read(self, path: Path) -> dict[str, Any]:
        meta = json.loads((path / "meta.json").read_text())
        for name, size in meta["files"].items():
            actual = (path / name).stat().st_size
            if actual != size:
                raise ValueError(f"{name} has {actual} bytes, {size} were written")
        if self.fingerprint and meta.get("fingerprint") != self.fingerprint:
            raise CheckpointError(
                f"{self.source} holds checkpoints of a run with different settings; use "
                "--noresume to start over or another --output_dir"
            )
        self.checkpoint.read(str(path / "state")).assert_existing_objects_matched()
        return meta["state"]

    def restore(self, back: int = 0) -> tuple[dict[str, Any], Path] | None:
        """(state, path) of the newest readable checkpoint (`back` > 0: skipping that many of
        the newest while an older one is left), None when there is none; a newest one that
        cannot be read is skipped with a one-line warning."""
        paths = self.paths()
        paths = paths[: max(1, len(paths) - back)]
        bad = []
        for path in reversed(paths):
            try:
                state = self._read(path)
            except CheckpointError:
                raise
            except Exception as err:  # noqa: BLE001 -- any damage: fall back to the one before
                reason = " ".join(str(err).split())[:200] or type(err).__name__
                bad.append(f"{path} ({reason})")
                continue
            for unreadable in bad:
                print(
                    f"warning: checkpoint {unreadable} is unreadable; resuming from {path}",
                    file=sys.stderr,
                    flush=True,
                )
            return state, path
        if bad:
            raise CheckpointError(
                f"no checkpoint in {self.source} can be read: {'; '.join(bad)}. Use "
                "--noresume to start over"
            )
        return None

    def clear(self) -> None:
        """Forget every checkpoint this process wrote (a run started over with --noresume)."""
        for path in self._complete(self.directory):
            shutil.rmtree(path, ignore_errors=True)


class InterruptGuard:
    """While active, SIGINT and SIGTERM only set `signum`; the loop ends at the next step
    boundary. A second signal stops at once. Outside the main thread it does nothing."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum, frame):
        if self.signum is not None:  # asked twice: no more waiting
            self._restore()
            raise KeyboardInterrupt
        self.signum = signum

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def __enter__(self) -> InterruptGuard:
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        self._restore()


@dataclasses.dataclass
class Progress:
    """Where a run is, as variables its checkpoint holds: the epoch and the steps done in it,
    the learning-rate scale and the rollbacks taken so far."""

    epoch: tf.Variable
    step: tf.Variable
    lr_scale: tf.Variable
    rollbacks: tf.Variable

    @classmethod
    def create(cls) -> Progress:
        def var(value, dtype, name):
            return tf.Variable(value, trainable=False, dtype=dtype, name=name)

        return cls(
            var(0, tf.int64, "epoch"),
            var(0, tf.int64, "step"),
            var(1.0, tf.float32, "lr_scale"),
            var(0, tf.int64, "rollbacks"),
        )

    def trackables(self) -> dict[str, tf.Variable]:
        return {
            "epoch": self.epoch,
            "step": self.step,
            "lr_scale": self.lr_scale,
            "rollbacks": self.rollbacks,
        }

    def where(self) -> tuple[int, int]:
        return int(self.epoch.numpy()), int(self.step.numpy())


class StepTask(Protocol):
    """What `ResumableRun` drives. Epochs and steps are 0-based."""

    def seek(self, epoch: int, step: int) -> None:
        """Position the data so the next batch is that of (epoch, step)."""

    def begin_epoch(self, epoch: int, step: int) -> None:
        """Before the steps of `epoch` (from `step`: > 0 when resumed inside it)."""

    def step(self, epoch: int, step: int) -> int:
        """One step; 0 or the NONFINITE_KINDS key of a non-finite number."""

    def end_epoch(self, epoch: int) -> bool:
        """After the last step of `epoch`; True ends the run early."""

    def state(self) -> dict[str, Any]:
        """JSON the checkpoint keeps beside the variables."""

    def restored(self, state: dict[str, Any], epoch: int) -> None:
        """After a restore (a resume or a rollback) to `state`, at `epoch`."""


class ResumableRun:
    """Runs `epochs` × `steps_per_epoch` steps of a task, checkpointed (see the module doc)."""

    def __init__(
        self,
        task: StepTask,
        progress: Progress,
        epochs: int,
        steps_per_epoch: int,
        keeper: CheckpointKeeper | None,
        policy: CheckpointPolicy,
        label: str = "",
        barrier: Callable[[], None] | None = None,
        point: str = "train",
    ):
        """`barrier`: returns once every worker of a multi-worker run has called it (see
        `start`); None for one process. `point`: this run's test pause point
        (`ednas_tf.testpoint`), reached after every step."""
        self.task, self.progress, self.keeper, self.policy = task, progress, keeper, policy
        self.barrier, self.point = barrier, point
        self.epochs, self.steps_per_epoch = epochs, steps_per_epoch
        self.label = f"{label}: " if label else ""
        self._back = 0  # checkpoints a rollback skips: its last one failed before a new one
        # steps done before which a retry writes no checkpoint (see `_rollback`)
        self._probation = 0

    def _save(self, done: int | None = None) -> None:
        """A checkpoint after `done` steps (None: the current step, whatever the probation)."""
        if self.keeper is not None and (done is None or done >= self._probation):
            self.keeper.save(self.task.state())
            self._back = 0  # a rollback now starts from this one

    def _restore(self, back: int = 0) -> Path | None:
        found = self.keeper.restore(back) if self.keeper is not None else None
        if found is None:
            return None
        state, path = found
        self.task.restored(state, self.progress.where()[0])
        return path

    def start(self) -> None:
        """Resume from the newest checkpoint (policy.resume), else write the first one, so a
        rollback always has somewhere to go. Every worker reads the chief's checkpoints before
        the chief writes one (the barrier), so all of them decide alike."""
        if self.keeper is None:
            return
        path = self._restore() if self.policy.resume else None
        if self.barrier is not None:
            self.barrier()
        if path is not None:
            epoch, step = self.progress.where()
            where = "finished" if epoch >= self.epochs else f"epoch {epoch + 1} step {step}"
            print(f"{self.label}resumed from {path} ({where})", flush=True)
            return
        self.keeper.clear()
        self._save()

    def run(self) -> None:
        self.start()
        testpoint.reached(self.point, 0)  # before the first step: a signal still stops at once
        with InterruptGuard() as guard:
            while True:
                try:
                    self._epochs(guard)
                    return
                except NonFiniteError as err:
                    self._rollback(err)

    def _epochs(self, guard: InterruptGuard) -> None:
        epoch, step = self.progress.where()
        self.task.seek(epoch, step)
        while epoch < self.epochs:
            self.task.begin_epoch(epoch, step)
            for index in range(step, self.steps_per_epoch):
                code = self.task.step(epoch, index)
                if code:
                    raise NonFiniteError(self._nonfinite(code, epoch, index))
                self.progress.step.assign(index + 1)
                done = epoch * self.steps_per_epoch + index + 1
                testpoint.reached(self.point, done, lambda: guard.signum is not None)
                if guard.signum is not None:
                    self._save()
                    raise Interrupted(guard.signum, epoch + 1, index + 1)
                every = self.policy.every_steps
                if every and done % every == 0 and index + 1 < self.steps_per_epoch:
                    self._save(done)
            stop = self.task.end_epoch(epoch)
            epoch, step = (self.epochs if stop else epoch + 1), 0
            self.progress.epoch.assign(epoch)
            self.progress.step.assign(0)
            self._save(None if epoch >= self.epochs else epoch * self.steps_per_epoch)
            if guard.signum is not None and epoch < self.epochs:
                raise Interrupted(guard.signum, epoch + 1, 0)

    def _nonfinite(self, code: int, epoch: int, index: int) -> str:
        kind = NONFINITE_KINDS.get(int(code), "number")
        rollbacks = int(self.progress.rollbacks.numpy())
        if self.policy.on_nan == "rollback" and self.keeper is not None:
            hint = f"after {rollbacks} rollbacks with halved learning rates"
        elif self.keeper is None:
            hint = "no checkpoint to roll back to"
        else:
            hint = "--on_nan=rollback restarts from the last good checkpoint, learning rates halved"
        return f"{self.label}non-finite {kind} at epoch {epoch + 1} step {index + 1} ({hint})"

    def _rollback(self, err: NonFiniteError) -> None:
        rollbacks = int(self.progress.rollbacks.numpy())
        scale = float(self.progress.lr_scale.numpy())
        if (
            self.policy.on_nan != "rollback"
            or self.keeper is None
            or rollbacks >= self.policy.max_rollbacks
        ):
            raise err
        # no checkpoint since the last rollback: its start was already doomed, go one further back
        back = self._back
        epoch, step = self.progress.where()
        failed_at = epoch * self.steps_per_epoch + step  # steps done before the failed one
        path = self._restore(back)
        if path is None:
            raise err
        self._back = back + 1
        # The steps just before a divergence are on their way to it, though still finite: a retry
        # writes no checkpoint until it is an epoch past the failed step, so a second failure
        # goes further back rather than to a checkpoint of the doomed retry.
        self._probation = max(self._probation, failed_at + 1 + self.steps_per_epoch)
        self.progress.lr_scale.assign(scale / 2)
        self.progress.rollbacks.assign(rollbacks + 1)
        epoch, step = self.progress.where()
        print(
            f"warning: {err.args[0].split(' (')[0]}; rolled back to {path} (epoch {epoch + 1} "
            f"step {step}) with the learning rates x{scale / 2:g} (rollback {rollbacks + 1} of "
            f"{self.policy.max_rollbacks})",
            file=sys.stderr,
            flush=True,
        )
