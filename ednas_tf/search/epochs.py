"""The search's epochs as a resumable task (`ednas_tf.checkpointing.StepTask`), and when to stop.

`SearchEpochs` is what `SearchLoop.fit` hands to `ResumableRun`: per step one weight step and,
after warm-up, one architecture step; per epoch the temperature, the logs, the argmax path's
accuracy and the commitment check. Its batches come from streams positioned by step count, so a
resumed search sees exactly the batches the uninterrupted one saw; the gates' leaders at the last
epoch end travel in the checkpoint, so the commitment check resumes as it was.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from ednas_tf.checkpointing import first_nonfinite
from ednas_tf.layers.gumbel import gates_of, set_temperature


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


class SearchEpochs:
    """The epochs of a `SearchLoop` (`loop`) over streams of weight and architecture batches."""

    def __init__(self, loop, train, arch, val, hooks, progress: bool, on_restore=None):
        self.loop, self.train, self.arch, self.val = loop, train, arch, val
        self.hooks, self.show, self.on_restore = list(hooks), progress, on_restore
        self.history: list[dict] = []
        self.commitment = GateCommitment(loop.model, loop.config.stop_when_committed)
        self._train_it = self._arch_it = self._bar = None
        self._tau, self._warmup = 0.0, False

    def arch_batches_before(self, epoch: int, step: int) -> int:
        """Architecture batches the search has taken before (epoch, step)."""
        cfg = self.loop.config
        per_epoch = -(-cfg.steps_per_epoch // cfg.arch_update_every)
        done = max(0, epoch - cfg.warmup_epochs) * per_epoch
        if epoch >= cfg.warmup_epochs:
            done += -(-step // cfg.arch_update_every)
        return done

    def seek(self, epoch: int, step: int) -> None:
        self._train_it = self.train.batches(epoch * self.loop.config.steps_per_epoch + step)
        self._arch_it = self.arch.batches(self.arch_batches_before(epoch, step))

    def begin_epoch(self, epoch: int, step: int) -> None:
        loop, cfg = self.loop, self.loop.config
        self._tau = loop.temperature_for(epoch)
        set_temperature(loop.model, self._tau)
        self._warmup = epoch < cfg.warmup_epochs
        if step == 0:  # resumed inside an epoch: its running metrics came with the checkpoint
            for metric in loop.metrics.values():
                metric.reset_state()
        self._bar = tqdm(
            total=cfg.steps_per_epoch,
            initial=step,
            disable=not self.show,
            leave=True,
            desc=f"epoch {epoch + 1}/{cfg.epochs}{' warm-up' if self._warmup else ''}",
            dynamic_ncols=True,
        )

    def step(self, epoch: int, step: int) -> int:
        loop, cfg = self.loop, self.loop.config
        code = first_nonfinite(loop._weight_step(*next(self._train_it)))
        if not code and not self._warmup and step % cfg.arch_update_every == 0:
            code = first_nonfinite(loop._arch_step(*next(self._arch_it)))
        self._bar.update(1)
        if step % 10 == 0 or step == cfg.steps_per_epoch - 1:
            self._bar.set_postfix(loop._postfix(self._tau, self._warmup), refresh=False)
        return code

    def end_epoch(self, epoch: int) -> bool:
        loop, cfg = self.loop, self.loop.config
        self._bar.close()
        logs = {name: float(m.result()) for name, m in loop.metrics.items()}
        logs.update(
            epoch=epoch + 1,
            temperature=self._tau,
            warmup=self._warmup,
            expected_latency_ms=float(loop.latency()),
        )
        if self.val is not None:
            # the recalibration batches of this epoch: those after the previous epochs' ones
            recalibration = self.train.batches(epoch * cfg.bn_recalibration_steps)
            logs["val_acc"] = loop.evaluate(self.val, recalibration)
        committed = bool(cfg.stop_when_committed) and not self._warmup and self.commitment.check()
        # a committed search counts as finished, so the checkpoint written now resumes as done
        logs["committed"] = committed
        self.history.append(logs)
        for hook in self.hooks:
            hook(epoch + 1, logs)
        return committed

    def state(self) -> dict[str, Any]:
        return {"leaders": self.commitment._leaders}

    def restored(self, state: dict[str, Any], epoch: int) -> None:
        self.commitment._leaders = state.get("leaders")
        self.history = [logs for logs in self.history if logs["epoch"] <= epoch]
        if self.on_restore is not None:
            self.on_restore(epoch)
