"""Checkpoints (atomic, keep two, fall back past a corrupt one), the resumable loop (interrupts,
non-finite steps, rollbacks), streams that regenerate any batch, and strict JSON outputs."""

import dataclasses
import json
import math
import os
import signal
import threading
import time

import numpy as np
import pytest
import tensorflow as tf

from ednas_tf import testpoint
from ednas_tf.arch import ArchSpec
from ednas_tf.checkpointing import (
    CheckpointError,
    CheckpointKeeper,
    CheckpointPolicy,
    Interrupted,
    NonFiniteError,
    Progress,
    ResumableRun,
    first_nonfinite,
    nonfinite_code,
)
from ednas_tf.data import load_splits
from ednas_tf.io_utils import json_text
from ednas_tf.model import build
from ednas_tf.precision import precision_policy
from ednas_tf.streams import BatchStream
from ednas_tf.train_loop import TrainEpochs
from ednas_tf.training import TrainConfig, train_model

FLOAT16_ARCH = {
    "input_shape": [16, 16, 1],
    "num_classes": 4,
    "stem": "conv_k3_c8_s1",
    "blocks": ["ir_k3+5_e1_c8_s1", "ir_k3_e3_c16_s2"],
}


class Toy:
    """A StepTask: w += lr_scale · x for the step's x (x from a list, so the position matters);
    a non-finite x at `bad` steps while lr_scale is above 0.3 (or above the step's value where
    `bad` is a dict); SIGINT sent to itself at step `interrupt_at`."""

    def __init__(self, progress, xs, bad=(), interrupt_at=None):
        self.progress, self.xs, self.interrupt_at = progress, xs, interrupt_at
        self.bad = dict(bad) if isinstance(bad, dict) else dict.fromkeys(bad, 0.3)
        self.w = tf.Variable(0.0)
        self.ended, self.position = [], 0

    def seek(self, epoch, step):
        self.position = epoch * 4 + step

    def begin_epoch(self, epoch, step):
        pass

    def step(self, epoch, step):
        x = self.xs[self.position]
        self.position += 1
        if float(self.progress.lr_scale.numpy()) > self.bad.get((epoch, step), math.inf):
            return 1
        self.w.assign_add(float(self.progress.lr_scale.numpy()) * x)
        if (epoch, step) == self.interrupt_at:
            os.kill(os.getpid(), signal.SIGINT)
        return 0

    def end_epoch(self, epoch):
        self.ended.append(epoch)
        return False

    def state(self):
        return {"ended": self.ended}

    def restored(self, state, epoch):
        self.ended = list(state["ended"])


def _run(tmp_path, policy, **toy):
    progress = Progress.create()
    task = Toy(progress, [float(i + 1) for i in range(12)], **toy)
    checkpoint = tf.train.Checkpoint(w=task.w, **progress.trackables())
    keeper = CheckpointKeeper(checkpoint, tmp_path / "ckpt", fingerprint={"toy": 1})
    return ResumableRun(task, progress, 3, 4, keeper, policy), task, keeper


def test_an_interrupted_run_resumes_to_the_same_end(tmp_path):
    run, task, keeper = _run(tmp_path, CheckpointPolicy(every_steps=3), interrupt_at=(1, 1))
    with pytest.raises(Interrupted, match="interrupted at epoch 2 step 2; re-run") as info:
        run.run()
    assert info.value.exit_status == 130 and len(keeper.paths()) == 2
    again, resumed, _ = _run(tmp_path, CheckpointPolicy(every_steps=3))
    again.run()
    assert float(resumed.w.numpy()) == sum(range(1, 13)) and resumed.ended == [0, 1, 2]


def test_a_signal_to_a_run_paused_at_a_step_ends_it_there(tmp_path, monkeypatch):
    """A test pause point (ednas_tf.testpoint) holds the loop after a step; the signal sent
    there is handled at that step boundary, as one sent while the step ran."""
    marker = tmp_path / "paused"
    monkeypatch.setattr(testpoint, "_fired", set())
    for name, value in testpoint.environ("train", 6, marker).items():
        monkeypatch.setenv(name, value)

    def interrupt_when_paused():
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        if marker.exists():  # else the run never paused: it ends, and the test fails
            os.kill(os.getpid(), signal.SIGINT)

    run, task, keeper = _run(tmp_path, CheckpointPolicy(every_steps=0))
    threading.Thread(target=interrupt_when_paused, daemon=True).start()
    with pytest.raises(Interrupted, match="interrupted at epoch 2 step 2; re-run"):
        run.run()
    assert float(task.w.numpy()) == sum(range(1, 7))


def test_a_corrupt_newest_checkpoint_falls_back_with_a_warning(tmp_path, capsys):
    run, task, keeper = _run(tmp_path, CheckpointPolicy(every_steps=1))
    run.run()
    newest, older = keeper.paths()[-1], keeper.paths()[-2]
    data = next(newest.glob("*.data-*"))
    data.write_bytes(data.read_bytes()[:3])
    state, path = keeper.restore()
    assert path == older
    assert f"warning: checkpoint {newest}" in capsys.readouterr().err
    data = next(older.glob("*.data-*"))
    data.write_bytes(b"")
    with pytest.raises(CheckpointError, match="--noresume"):
        keeper.restore()


def test_checkpoints_of_other_settings_are_refused(tmp_path):
    run, _, _ = _run(tmp_path, CheckpointPolicy())
    run.run()
    other = CheckpointKeeper(tf.train.Checkpoint(), tmp_path / "ckpt", fingerprint={"toy": 2})
    with pytest.raises(CheckpointError, match="different settings"):
        other.restore()


def test_a_non_finite_step_fails_with_one_line_naming_it(tmp_path):
    run, _, _ = _run(tmp_path, CheckpointPolicy(), bad={(1, 2)})
    with pytest.raises(NonFiniteError, match=r"non-finite loss at epoch 2 step 3 \(--on_nan"):
        run.run()
    assert issubclass(NonFiniteError, ValueError)


def test_rollback_halves_the_learning_rate_and_finishes(tmp_path, capsys):
    policy = CheckpointPolicy(every_steps=2, on_nan="rollback", max_rollbacks=3)
    run, task, _ = _run(tmp_path, policy, bad={(1, 2)})
    run.run()
    assert "rolled back to" in capsys.readouterr().err
    assert float(task.progress.lr_scale.numpy()) == 0.25  # two halvings pass the bad step
    assert int(task.progress.rollbacks.numpy()) == 2 and task.ended == [0, 1, 2]
    run, _, _ = _run(tmp_path / "b", dataclasses.replace(policy, max_rollbacks=1), bad={(1, 2)})
    with pytest.raises(NonFiniteError, match="after 1 rollbacks"):
        run.run()


def test_a_second_failure_soon_after_a_rollback_goes_back_past_the_retry(tmp_path, capsys):
    """The retry's own checkpoints do not count until it is an epoch past the failed step: a
    second failure goes back before the first one, not to a state already on its way to it."""
    policy = CheckpointPolicy(every_steps=1, on_nan="rollback", max_rollbacks=3)
    run, task, keeper = _run(tmp_path, policy, bad={(0, 2): 0.75, (1, 0): 0.3})
    run.run()
    warnings = [line for line in capsys.readouterr().err.splitlines() if "rolled back" in line]
    assert "(epoch 1 step 2) with the learning rates x0.5" in warnings[0]
    assert "(epoch 1 step 1) with the learning rates x0.25" in warnings[1]  # not epoch 2 step 0
    assert len(warnings) == 2 and task.ended == [0, 1, 2]
    assert float(task.w.numpy()) == 1 + 0.25 * sum(range(2, 13))


def test_nonfinite_code_names_the_first_kind():
    assert first_nonfinite(nonfinite_code(tf.constant(1.0), [tf.ones(2)])) == 0
    assert first_nonfinite(nonfinite_code(tf.constant(np.nan), [tf.ones(2)])) == 1
    assert first_nonfinite(nonfinite_code(tf.constant(1.0), [tf.constant([np.inf])])) == 2
    gates = [tf.constant([0.0, np.nan])]
    assert first_nonfinite(nonfinite_code(tf.constant(1.0), [None], gates)) == 3
    weights = [tf.Variable([1.0, np.inf]), tf.Variable(3, dtype=tf.int64)]
    assert first_nonfinite(nonfinite_code(tf.constant(1.0), [tf.ones(2)], weights=weights)) == 4
    assert first_nonfinite(nonfinite_code(tf.constant(1.0), weights=weights[1:])) == 0


def test_a_stream_regenerates_the_batches_from_any_position():
    images = tf.reshape(tf.range(40 * 4, dtype=tf.float32), (40, 2, 2, 1)) / 160.0
    ds = tf.data.Dataset.from_tensor_slices((images, tf.range(40)))
    stream = BatchStream(ds, 8, seed=3)
    first = [b for _, b in zip(range(13), stream.batches(0))]
    later = [b for _, b in zip(range(6), stream.batches(7))]  # across the pass boundary (5)
    for (x, y), (u, v) in zip(first[7:], later):
        np.testing.assert_array_equal(x.numpy(), u.numpy())
        np.testing.assert_array_equal(y.numpy(), v.numpy())
    pass0 = np.concatenate([b[1].numpy() for b in first[:5]])
    pass1 = np.concatenate([b[1].numpy() for b in first[5:10]])
    assert sorted(pass0) == list(range(40)) and list(pass0) != list(pass1)  # reshuffled
    with pytest.raises(ValueError, match="no full batch"):
        BatchStream(ds.take(3), 8)


def test_json_outputs_never_hold_nan(tmp_path):
    text = json_text({"a": [1.0, math.nan], "b": {"c": math.inf}})
    assert json.loads(text) == {"a": [1.0, None], "b": {"c": None}}
    arch = ArchSpec.from_dict(
        {
            "input_shape": [16, 16, 1],
            "num_classes": 4,
            "stem": "conv_k3_c8_s1",
            "blocks": ["ir_k3_e1_c8_s1"],
            "gate_probs": {"s1b1": {"kernel": {"3": math.nan}}},
        }
    )
    arch.save(tmp_path / "arch.json")
    json.loads((tmp_path / "arch.json").read_text(), parse_constant=pytest.fail)


def _float16_training(tmp_path, splits, interrupt_at=None):
    """A tiny child trained under mixed_float16 (loss-scaled SGD) with checkpoints in
    `tmp_path`; SIGINT after step `interrupt_at` (epoch, step). Returns model and optimizer."""
    config = TrainConfig(
        epochs=2, batch_size=16, warmup_epochs=0, steps_per_epoch=3, precision="mixed_float16"
    )
    tf.keras.utils.set_random_seed(0)
    with precision_policy(config.precision):
        model = build(ArchSpec.from_dict(FLOAT16_ARCH))
    original = TrainEpochs.step

    def step(task, epoch, index):
        code = original(task, epoch, index)
        if (epoch, index) == interrupt_at:
            os.kill(os.getpid(), signal.SIGINT)
        return code

    TrainEpochs.step = step
    try:
        task = train_model(
            model,
            splits.train,
            config,
            3,
            splits.num_classes,
            checkpoint_dir=tmp_path,
            policy=CheckpointPolicy(every_steps=2),
            verbose=0,
        )
    finally:
        TrainEpochs.step = original
    return model, task.optimizer


def test_a_loss_scaled_training_resumes_to_the_same_end(tmp_path):
    """float16's LossScaleOptimizer (its scale and the inner SGD's slots) travels in the
    checkpoint: an interrupted run ends with the uninterrupted run's weights and scale."""
    splits = load_splits("synthetic", image_size=16, limit=200, arch_fraction=0.0)
    whole, whole_opt = _float16_training(tmp_path / "whole", splits)
    with pytest.raises(Interrupted):
        _float16_training(tmp_path / "cut", splits, interrupt_at=(0, 1))
    resumed, resumed_opt = _float16_training(tmp_path / "cut", splits)
    assert isinstance(resumed_opt, tf.keras.mixed_precision.LossScaleOptimizer)
    assert float(resumed_opt.loss_scale) == float(whole_opt.loss_scale)
    assert int(resumed_opt.iterations) == int(whole_opt.iterations) == 6
    for a, b in zip(whole.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)
