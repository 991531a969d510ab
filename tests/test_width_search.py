"""Stage-width search: one width decision per group, masks in the supernet, exact children."""

import numpy as np
import pytest
import tensorflow as tf

from ednas_tf.arch import ConvSpec
from ednas_tf.cost.macs import MacsProxy
from ednas_tf.cost.network import child_latency, space_latency_bounds
from ednas_tf.inherit import inherit_model
from ednas_tf.layers.gumbel import gates_of, set_gate_mode
from ednas_tf.model import build, width_gates
from ednas_tf.presets import preset_space
from ednas_tf.profiles import get_profile
from ednas_tf.search.derive import DeriveOptions, derive
from ednas_tf.search.expected import ExpectedLatency
from ednas_tf.search.objectives import Objective
from ednas_tf.search.runner import gate_rows, summary_table
from ednas_tf.space import BlockSpace, Choice, SearchSpace


@pytest.fixture(scope="module")
def space():
    return preset_space("tiny", input_shape=(12, 12, 1), profile="tda2x", stage_widths=(0.5, 1.5))


def _randomise_bn(model):
    """Non-trivial BN statistics, so a wrong channel slice cannot pass by accident."""
    for w in model.weights:
        if "moving_variance" in w.name or "gamma" in w.name:
            w.assign(tf.random.uniform(w.shape, 0.5, 1.5))
        elif "moving_mean" in w.name or "beta" in w.name:
            w.assign(tf.random.normal(w.shape, stddev=0.3))


def _one_hot_gates(model, rng):
    for gate in gates_of(model):
        gate.logits.assign(tf.one_hot(rng.integers(gate.num_options), gate.num_options) * 30.0)


def test_narrow_stage_options_stay_near_their_multiplier():
    """At width 0.5 the first stage has 8 channels: 1.25x must not round up to a doubling."""
    half = preset_space("small", input_shape=(32, 32, 1), width=0.5, stage_widths=(0.75, 1.25))
    plain = preset_space("small", input_shape=(32, 32, 1), width=0.5)
    groups = half.width_groups()
    assert groups["s1"] == (8, 12) and groups["s3"] == (12, 16, 20)
    assert groups["s5"] == (40, 48, 64)  # 32 channels and up: multiples of 8
    assert [b.channels for b in half.blocks] == [b.channels for b in plain.blocks]


def test_preset_groups_share_one_width_per_stage(space):
    # below 32 channels the options round to multiples of 4, the stage's own width as without
    assert space.width_groups() == {"s1": (4, 8, 12), "s2": (8, 16, 24), "s3": (12, 24, 40)}
    by_name = {b.name: b for b in space.blocks}
    assert by_name["s2b2"].width_group == by_name["s2b1"].width_group == "s2"
    assert not by_name["s2b1"].residual  # a group's first block never adds its input
    step1 = space.step_space(1)
    assert not step1.width_groups()
    assert [b.channels for b in step1.blocks] == [b.channels for b in space.blocks]
    assert space.step_space(2).width_groups() == space.width_groups()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_hot_gates_give_the_derived_child_exactly(space, seed):
    rng = np.random.default_rng(seed)
    tf.keras.utils.set_random_seed(seed)
    supernet = build(space, seed=seed)
    x = tf.random.normal((2, *space.input_shape))
    supernet(x)
    _randomise_bn(supernet)
    _one_hot_gates(supernet, rng)
    latency = MacsProxy()
    arch = derive(supernet, space, latency, options=DeriveOptions(mode="argmax"))
    child = build(arch)
    child(x)
    inherit_model(supernet, child, arch.search["source_blocks"])
    set_gate_mode(supernet, inference="argmax")
    got, want = supernet(x, training=False), child(x, training=False)
    assert np.max(np.abs(got.numpy() - want.numpy())) <= 1e-4
    expected = float(ExpectedLatency(supernet, space, latency)())
    assert expected == pytest.approx(child_latency(arch, latency), rel=1e-5)
    widths = {g: int(np.argmax(gate.probs())) for g, gate in width_gates(supernet).items()}
    for group, index in widths.items():
        kept = [b for b in arch.search["source_blocks"] if b.startswith(group + "b")]
        if kept:
            assert arch.search["widths"][group] == space.width_groups()[group][index]


def test_gradients_reach_width_gates_and_bounds_hold(space):
    supernet = build(space, seed=0)
    expected = ExpectedLatency(supernet, space, MacsProxy())
    logits = [gate.logits for gate in width_gates(supernet).values()]
    x = tf.random.normal((2, *space.input_shape))
    with tf.GradientTape(persistent=True) as tape:
        value = expected()
        loss = tf.reduce_sum(supernet(x, training=True) ** 2)
    for grads in (tape.gradient(value, logits), tape.gradient(loss, logits)):
        assert all(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)
    low, high = expected.bounds()
    assert low < float(value) < high
    assert space_latency_bounds(space, MacsProxy()) == pytest.approx((low, high), rel=1e-6)
    narrowest = space.child(
        {
            b.name: {
                "kernel": (3,),
                "expansion": min(b.expansion_options),
                "skip": b.searches_skip,
                "channels": min(b.width_options),
            }
            for b in space.blocks
        }
    )
    assert child_latency(narrowest, MacsProxy()) == pytest.approx(low, rel=1e-6)


def test_latency_target_fit_moves_widths(space):
    supernet = build(space, seed=0)
    latency = MacsProxy()
    low, high = space_latency_bounds(space, latency)
    chosen = set()
    for fraction in (0.1, 0.5, 0.9):
        target = low + fraction * (high - low)
        arch = derive(
            supernet,
            space,
            latency,
            Objective("target", target_ms=target),
            DeriveOptions(tolerance=0.05),
        )
        assert abs(arch.predicted_latency_ms / target - 1) <= 0.05, fraction
        chosen.add(tuple(sorted(arch.search["widths"].items())))
    assert len(chosen) > 1  # not every target is met by the same widths


def test_child_has_no_residual_where_the_supernet_has_none():
    stem = ConvSpec(3, 16, 1)
    blocks = [
        BlockSpace("a", 16, 1, (3,), 2.0, residual=False, channel_options=(8, 16), width_group="a"),
        BlockSpace("b", 16, 1, (3,), 2.0, channel_options=(8, 16), width_group="a"),
    ]
    space = SearchSpace((8, 8, 3), 4, stem, blocks, None, get_profile("tda2x"))
    arch = space.child({"a": {"channels": 16}, "b": {"channels": 16}})
    assert [b.residual for b in arch.blocks] == [False, True]
    assert arch.blocks[0].encode().endswith("_noskip")


def test_width_groups_are_checked():
    stem, profile = ConvSpec(3, 16, 1), get_profile("tda2x")
    skip = Choice((False, True))
    with pytest.raises(ValueError, match="width group"):  # skip across two groups
        SearchSpace(
            (8, 8, 3),
            4,
            stem,
            [
                BlockSpace("a", 16, 2, (3,), 2.0, channel_options=(8, 16), width_group="a"),
                BlockSpace(
                    "b", 16, 1, (3,), 2.0, skip=skip, channel_options=(8, 16), width_group="b"
                ),
            ],
            None,
            profile,
        )
    with pytest.raises(ValueError, match="one run"):
        SearchSpace(
            (8, 8, 3),
            4,
            stem,
            [
                BlockSpace("a", 16, 2, (3,), 2.0, channel_options=(8, 16), width_group="a"),
                BlockSpace("b", 24, 2, (3,), 2.0),
                BlockSpace("c", 16, 2, (3,), 2.0, channel_options=(8, 16), width_group="a"),
            ],
            None,
            profile,
        )
    with pytest.raises(ValueError, match="stage widths"):
        preset_space("tiny", stage_widths=(0.0, 1.0))


def test_gates_csv_rows_and_arch_record_widths(space):
    supernet = build(space, seed=0)
    rows = gate_rows(supernet, step=2, epoch=0)
    width_rows = [r for r in rows if r["choice"] == "width"]
    assert {r["block"] for r in width_rows} == {"s1", "s2", "s3"}
    assert sum(r["prob"] for r in width_rows if r["block"] == "s2") == pytest.approx(1, abs=1e-3)
    arch = derive(supernet, space, MacsProxy())
    assert set(arch.gate_probs["s3"]["width"]) == {"12", "24", "40"}
    table = summary_table(arch).splitlines()
    start = next(i for i, line in enumerate(table) if line.startswith("width probabilities"))
    assert f"s3 {arch.search['widths']['s3']}" in table[start]
    assert [line.split()[0] for line in table[start + 1 : start + 4]] == ["s1", "s2", "s3"]
    assert "12:" in table[start + 3] and "40:" in table[start + 3]


def test_tuner_samples_one_width_per_group(space):
    import keras_tuner as kt

    from ednas_tf.baselines.tuner import hp_name, sample_child

    hp = kt.HyperParameters()
    arch = sample_child(hp, space)
    assert {name for name in hp.values if name.endswith("/width")} == {
        hp_name(g, "width") for g in space.width_groups()
    }
    hp.values[hp_name("s3", "width")] = 40
    hp.values[hp_name("s3b2", "skip")] = False
    arch = sample_child(hp, space)
    assert arch.blocks[-1].channels == arch.blocks[-2].channels == 40
