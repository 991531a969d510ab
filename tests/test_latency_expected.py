import numpy as np
import pytest
import tensorflow as tf

from ednas_tf.latency.expected import ExpectedLatency, child_latency, space_latency_bounds
from ednas_tf.latency.macs import MacsProxy
from ednas_tf.layers.gumbel import gates_of
from ednas_tf.model import build
from ednas_tf.search.derive import derive
from ednas_tf.search.objectives import check_target, make_objective
from ednas_tf.space import preset_space


@pytest.fixture(scope="module")
def space():
    return preset_space("tiny", input_shape=(16, 16, 1), num_classes=4).step_space(2)


def test_expected_latency_equals_child_latency_when_one_hot(space):
    model = build(space, seed=0)
    rng = np.random.default_rng(0)
    for gate in gates_of(model):
        gate.logits.assign(tf.one_hot(rng.integers(gate.num_options), gate.num_options) * 30.0)
    latency = MacsProxy()
    expected = float(ExpectedLatency(model, space, latency)())
    child = derive(model, space, latency, mode="argmax")
    assert expected == pytest.approx(child_latency(child, latency), rel=1e-5)
    assert child.predicted_latency_ms == pytest.approx(expected, rel=1e-5)


def test_expected_latency_is_differentiable_and_within_bounds(space):
    model = build(space, seed=0)
    expected = ExpectedLatency(model, space, MacsProxy())
    arch_vars = [g.logits for g in gates_of(model)]
    with tf.GradientTape() as tape:
        value = expected()
    grads = tape.gradient(value, arch_vars)
    assert all(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)
    low, high = expected.bounds()
    assert low < float(value) < high
    assert space_latency_bounds(space, MacsProxy()) == pytest.approx((low, high), rel=1e-6)


def test_unreachable_target_is_refused_with_both_bounds(space):
    low, high = space_latency_bounds(space, MacsProxy())
    check_target((low + high) / 2, (low, high))
    for target in (low / 2, high * 2):
        with pytest.raises(ValueError) as err:
            check_target(target, (low, high))
        assert f"{low:.4g}" in str(err.value) and f"{high:.4g}" in str(err.value)


def test_objectives():
    ce, lat = tf.constant(1.0), tf.constant(4.0)
    assert float(make_objective(target_ms=2.0)(ce, lat)) == pytest.approx(1.0 + 0.5 * 1.0)
    assert make_objective().kind == "fbnet"
    fbnet = make_objective("fbnet")
    assert float(fbnet(ce, lat)) == pytest.approx(0.2 * np.log1p(4.0) ** 0.6)
    additive = make_objective("additive", latency_weight=0.2)
    assert float(additive(ce, lat)) == pytest.approx(1.0 + 0.2 * np.log(4.0))
    with pytest.raises(ValueError):
        make_objective("target")


def test_target_from_fraction():
    from ednas_tf.search.objectives import target_from_fraction

    assert target_from_fraction((2.0, 6.0), 0.25) == pytest.approx(3.0)
    with pytest.raises(ValueError):
        target_from_fraction((2.0, 6.0), 1.5)


def test_derive_fits_the_child_to_a_latency_target(space):
    model = build(space, seed=0)
    latency = MacsProxy()
    low, high = space_latency_bounds(space, latency)
    for fraction in (0.2, 0.5, 0.8):
        target = low + fraction * (high - low)
        child = derive(model, space, latency, target_ms=target, tolerance=0.05)
        assert abs(child.predicted_latency_ms / target - 1) <= 0.05, (fraction, child)
        assert child.search["target_fit"]["target_ms"] == target


def test_target_fit_changes_options_before_dropping_a_block_the_gates_keep(space):
    """Near-uniform gates: the most likely option of each gate has a slight edge, the skip gate
    says 'keep' (0.7). Meeting a target 20 % below the argmax child must not drop the block —
    a pair gate near uniform makes each single pair improbable, but the keep/skip decision is the
    skip gate's, and that one says keep."""
    model = build(space, seed=0)
    for block in (la for la in model.layers if la.name in {b.name for b in space.blocks}):
        for kind, gate in block.gates().items():
            if kind == "skip":
                gate.logits.assign([0.0, float(np.log(0.3 / 0.7))])
            else:
                gate.logits.assign(np.eye(gate.num_options)[-1] * 0.1)  # the largest option
    latency = MacsProxy()
    argmax = derive(model, space, latency)
    assert [b.name for b in space.blocks if b.searches_skip]  # the space has a skippable block
    target = 0.8 * argmax.predicted_latency_ms
    child = derive(model, space, latency, target_ms=target, tolerance=0.02)
    assert abs(child.predicted_latency_ms / target - 1) <= 0.02
    assert child.search["target_fit"]["moves"] >= 1
    assert child.search["source_blocks"] == [b.name for b in space.blocks]  # none dropped
