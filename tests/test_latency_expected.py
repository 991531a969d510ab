import numpy as np
import pytest
import tensorflow as tf

from ednas_tf.cost.macs import MacsProxy
from ednas_tf.cost.network import child_latency, space_latency_bounds
from ednas_tf.layers.gumbel import gates_of
from ednas_tf.model import build
from ednas_tf.presets import preset_space
from ednas_tf.search.derive import DeriveOptions, derive
from ednas_tf.search.expected import ExpectedLatency
from ednas_tf.search.objectives import Objective, check_target, make_objective
from ednas_tf.search.target_fit import LatencyGoal


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
    child = derive(model, space, latency)
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


def test_a_budget_above_the_slowest_child_is_reachable_but_not_one_below_the_fastest(space):
    low, high = space_latency_bounds(space, MacsProxy())
    check_target(high * 2, (low, high), at_most=True)
    with pytest.raises(ValueError):
        check_target(low / 2, (low, high), at_most=True)


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
    with pytest.raises(ValueError, match="budget"):
        make_objective("budget")


def test_the_budget_objective_charges_only_latency_above_the_budget():
    budget = make_objective("budget", target_ms=2.0)
    assert budget.at_most and not make_objective(target_ms=2.0).at_most
    ce = tf.constant(1.0)
    assert float(budget(ce, tf.constant(4.0))) == pytest.approx(1.0 + 0.5 * 1.0)
    latency = tf.Variable(1.5)
    with tf.GradientTape() as tape:
        under = budget(ce, latency)
    assert float(under) == pytest.approx(1.0)
    assert float(tape.gradient(under, latency)) == 0.0  # no pull up to the budget


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
        child = derive(
            model,
            space,
            latency,
            Objective("target", target_ms=target),
            DeriveOptions(tolerance=0.05),
        )
        assert abs(child.predicted_latency_ms / target - 1) <= 0.05, (fraction, child)
        assert child.search["target_fit"]["target_ms"] == target


def test_a_budget_fit_keeps_a_child_under_it_and_brings_one_over_it_under(space):
    model = build(space, seed=0)
    latency = MacsProxy()
    argmax = derive(model, space, latency)
    roomy = derive(
        model, space, latency, Objective("budget", target_ms=1.5 * argmax.predicted_latency_ms)
    )
    assert roomy.blocks == argmax.blocks
    assert roomy.search["target_fit"]["moves"] == 0 and roomy.search["target_fit"]["at_most"]
    pulled = derive(
        model, space, latency, Objective("target", target_ms=1.5 * argmax.predicted_latency_ms)
    )
    assert pulled.predicted_latency_ms > argmax.predicted_latency_ms  # the target form grows it
    low, _ = space_latency_bounds(space, latency)
    tight = (low + argmax.predicted_latency_ms) / 2
    fitted = derive(
        model, space, latency, Objective("budget", target_ms=tight), DeriveOptions(tolerance=0.02)
    )
    assert fitted.predicted_latency_ms <= tight * 1.02
    assert fitted.search["target_fit"]["moves"] >= 1


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
    child = derive(
        model, space, latency, Objective("target", target_ms=target), DeriveOptions(tolerance=0.02)
    )
    assert abs(child.predicted_latency_ms / target - 1) <= 0.02
    assert child.search["target_fit"]["moves"] >= 1
    assert child.search["source_blocks"] == [b.name for b in space.blocks]  # none dropped


def test_a_budget_is_a_hard_ceiling_and_fill_grows_a_child_into_its_top_band():
    budget = LatencyGoal(10.0, tolerance=0.02, at_most=True)
    assert budget.met(10.0) and not budget.met(10.1) and budget.met(3.0)
    filled = LatencyGoal(10.0, tolerance=0.02, at_most=True, fill=True)
    assert filled.met(9.9) and not filled.met(9.7) and not filled.met(10.05)
    assert filled.distance(9.0) == pytest.approx(0.8)
    # crossing the ceiling is never a gain: 10.5 is farther than anything below the band
    assert filled.distance(10.5) > filled.distance(0.0)
