"""SearchLoop: the argmax path is scored with batch-norm statistics of its own; a search stops
once its gates have committed."""

import numpy as np
import pytest

from ednas_tf.cost.macs import MacsProxy
from ednas_tf.data import batched, load_splits
from ednas_tf.layers.gumbel import gates_of
from ednas_tf.model import build
from ednas_tf.presets import preset_space
from ednas_tf.search.expected import ExpectedLatency
from ednas_tf.search.loop import GateCommitment, SearchConfig, SearchLoop
from ednas_tf.search.objectives import make_objective
from ednas_tf.search.schedules import make_schedule


class StatsSpy:
    """A validation set that records the moving statistics in force when scoring starts."""

    def __init__(self, dataset, loop):
        self.dataset, self.loop, self.seen = dataset, loop, None

    def __iter__(self):
        self.seen = [v.numpy().copy() for v in self.loop._moving_stats]
        return iter(self.dataset)


def _tiny_loop(config: SearchConfig, leader_logit: float | None = None):
    """A search loop over the tiny space on synthetic data, with its training, architecture and
    validation batches; `leader_logit`: every gate starts leading with option 0 by that much."""
    splits = load_splits("synthetic", image_size=16, limit=300)
    space = preset_space(
        "tiny", input_shape=splits.input_shape, num_classes=splits.num_classes
    ).step_space(2)
    model = build(space, seed=0)
    if leader_logit is not None:
        for gate in gates_of(model):
            gate.logits.assign(np.eye(gate.num_options, dtype="float32")[0] * leader_logit)
    loop = SearchLoop(
        model,
        ExpectedLatency(model, space, MacsProxy()),
        make_objective(),
        make_schedule("exponential"),
        config,
    )
    train = batched(splits.train, 16, training=True, drop_remainder=True)
    arch = batched(splits.arch, 16, training=True)
    return loop, train, arch, batched(splits.val, 32, training=False)


@pytest.fixture(scope="module")
def searched():
    config = SearchConfig(epochs=1, warmup_epochs=1, steps_per_epoch=3, bn_recalibration_steps=4)
    loop, train, arch, val = _tiny_loop(config)
    logs = loop.fit(train, arch, val, progress=False)
    return loop, train, val, logs


def test_fit_reports_the_argmax_path_accuracy(searched):
    _, _, _, logs = searched
    assert 0.0 <= logs[-1]["val_acc"] <= 1.0


def test_evaluate_recalibrates_then_restores_everything(searched):
    loop, train, val, _ = searched
    assert loop._moving_stats  # the supernet's batch norms
    before = [v.numpy().copy() for v in loop.model.variables]
    spy = StatsSpy(val, loop)
    accuracy = loop.evaluate(spy, iter(train.repeat()))
    assert 0.0 <= accuracy <= 1.0
    saved = [v.numpy() for v in loop._moving_stats]
    changed = [not np.allclose(s, b) for s, b in zip(spy.seen, saved)]
    assert sum(changed) > len(changed) // 2  # scored with statistics of the argmax path
    after = [v.numpy() for v in loop.model.variables]
    assert all(np.array_equal(a, b) for a, b in zip(after, before))  # evaluating changes nothing
    assert {(g.mode, g.inference) for g in gates_of(loop.model)} == {("soft", "probs")}


def test_recalibrated_statistics_are_the_batch_average_whatever_the_step_count(searched):
    """On one repeated batch, bias-corrected statistics are that batch's after 2 or 8 steps; a
    plain moving average would still be a blend with its starting value."""
    loop, train, val, _ = searched
    one_batch = train.take(1).cache().repeat()  # the same augmented batch every time
    seen = []
    for steps in (2, 8):
        loop.config.bn_recalibration_steps = steps
        spy = StatsSpy(val, loop)
        loop.evaluate(spy, iter(one_batch))
        seen.append(spy.seen)
    loop.config.bn_recalibration_steps = 4
    for short, long in zip(*seen):
        np.testing.assert_allclose(short, long, rtol=1e-3, atol=1e-5)


def test_without_recalibration_the_supernet_statistics_score(searched):
    loop, _, val, _ = searched
    spy = StatsSpy(val, loop)
    loop.evaluate(spy, recalibration=None)
    assert all(np.array_equal(s, v.numpy()) for s, v in zip(spy.seen, loop._moving_stats))
    with pytest.raises(ValueError):
        SearchConfig(bn_recalibration_steps=-1)


# ------------------------------------------------------------------- stopping once committed
def test_gate_commitment_needs_the_same_confident_leader_twice():
    loop, *_ = _tiny_loop(SearchConfig(), leader_logit=6.0)
    gates = gates_of(loop.model)
    commitment = GateCommitment(loop.model, threshold=0.9)
    assert not commitment.check()  # nothing to compare with yet
    assert commitment.check()
    gates[0].logits.assign(np.eye(gates[0].num_options, dtype="float32")[-1] * 6.0)
    assert not commitment.check()  # one gate changed its leader
    assert commitment.check()
    gates[-1].logits.assign(np.zeros(gates[-1].num_options, dtype="float32"))
    assert not commitment.check()  # one gate back to uniform: not committed
    assert not GateCommitment(loop.model, threshold=0.99).check()


@pytest.mark.parametrize("threshold,epochs_run", [(0.9, 3), (0.0, 5)])
def test_fit_stops_after_the_gates_commit(threshold, epochs_run):
    """Committed gates (and an architecture step too small to move them) stop the search after
    the second architecture epoch; the epoch counter says finished, so a resume runs nothing."""
    config = SearchConfig(
        epochs=5,
        warmup_epochs=1,
        steps_per_epoch=2,
        arch_lr=1e-6,
        bn_recalibration_steps=0,
        stop_when_committed=threshold,
    )
    loop, train, arch, _ = _tiny_loop(config, leader_logit=6.0)
    logs = loop.fit(train, arch, progress=False)
    assert len(logs) == epochs_run
    assert [entry["committed"] for entry in logs] == [False] * (epochs_run - 1) + [bool(threshold)]
    assert logs[-1]["epoch"] == epochs_run
    assert int(loop.epoch.numpy()) == 5
    assert loop.fit(train, arch, progress=False) == []


def test_uncommitted_gates_run_every_epoch():
    config = SearchConfig(epochs=3, warmup_epochs=1, steps_per_epoch=2, bn_recalibration_steps=0)
    loop, train, arch, _ = _tiny_loop(config, leader_logit=0.0)
    assert len(loop.fit(train, arch, progress=False)) == 3


def test_stop_threshold_must_be_a_probability():
    with pytest.raises(ValueError, match="stop_when_committed"):
        SearchConfig(stop_when_committed=1.5)
