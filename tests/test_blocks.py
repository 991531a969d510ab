import numpy as np
import pytest
import tensorflow as tf

from ednas_tf.inherit import inherit_block
from ednas_tf.layers.blocks import InvertedResidual
from ednas_tf.layers.gumbel import gate_modes, set_gate_mode

X = None


def _input(channels=8, size=10):
    return tf.random.normal((2, size, size, channels))


def _randomise_bn(layer):
    """Non-trivial BN statistics so a wrong channel slice cannot pass by accident."""
    for w in layer.weights:
        if "moving_variance" in w.name or "gamma" in w.name:
            w.assign(tf.random.uniform(w.shape, 0.5, 1.5))
        elif "moving_mean" in w.name or "beta" in w.name:
            w.assign(tf.random.normal(w.shape, stddev=0.3))


def _force(gate, index):
    gate.logits.assign(tf.one_hot(index, gate.num_options) * 20.0)


def _child(kernel, expansion, channels=8, stride=1):
    return InvertedResidual(channels, stride, kernel_sizes=kernel, expansions=(expansion,))


@pytest.mark.parametrize("joint", [False, True])
@pytest.mark.parametrize("k_index,e_index", [(0, 0), (1, 2), (2, 1)])
def test_one_hot_gates_give_the_child_exactly(joint, k_index, e_index):
    sizes, expansions = (3, 5, 7), (3.0, 4.0, 6.0)
    supernet = InvertedResidual(
        8,
        1,
        kernel_sizes=sizes,
        search_kernel=True,
        expansions=expansions,
        search_skip=True,
        joint=joint,
    )
    x = _input()
    supernet(x)
    _randomise_bn(supernet)
    child = _child((sizes[k_index],), expansions[e_index])
    child(x)
    inherit_block(supernet, child)
    if joint:
        _force(supernet.pair_gate, k_index * len(expansions) + e_index)
    else:
        _force(supernet.kernel_gate, k_index)
        _force(supernet.expansion_gate, e_index)
    _force(supernet.skip_gate, 0)
    set_gate_mode(supernet, inference="argmax")
    got, want = supernet(x, training=False), child(x, training=False)
    assert np.max(np.abs(got - want)) <= 1e-5
    # and the skip option is the identity
    _force(supernet.skip_gate, 1)
    assert np.max(np.abs(supernet(x, training=False) - x)) <= 1e-6


def test_fixed_parallel_kernel_set_and_stride():
    block = InvertedResidual(16, 2, kernel_sizes=(3, 7), expansions=(6.0,))
    y = block(_input())
    assert y.shape == (2, 5, 5, 16)
    assert not block.gates() and block.kernel_options == [(3, 7)]


def test_gradients_reach_gates_in_training():
    block = InvertedResidual(
        8,
        1,
        kernel_sizes=(3, 5, 7),
        search_kernel=True,
        expansions=(3.0, 6.0),
        search_skip=True,
        joint=True,
    )
    x = _input()
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(block(x, training=True)))
    names = [g.logits for g in block.gates().values()]
    for grad in tape.gradient(loss, names):
        assert grad is not None and float(tf.reduce_max(tf.abs(grad))) > 0


def test_joint_probabilities_are_a_distribution():
    block = InvertedResidual(
        8, 1, kernel_sizes=(3, 5), search_kernel=True, expansions=(3.0, 6.0), joint=True
    )
    block(_input())
    probs = block.joint_probs().numpy()
    assert probs.shape == (2, 2) and abs(probs.sum() - 1) < 1e-6


def test_a_skip_that_changes_shape_is_a_projection():
    """Where stride or width changes, the skipped block's identity is 1x1 conv + BN
    (NAS-Bench-Macro's downsampling identity), and the skip gate picks it."""
    block = InvertedResidual(16, 2, expansions=(3.0,), search_skip=True)
    x = _input(channels=8)
    block(x)
    assert block.shortcut is not None and block.shortcut_config().stride == 2
    block.skip_gate.logits.assign([-1e4, 1e4])
    with gate_modes(block, mode="fixed", inference="argmax"):
        np.testing.assert_allclose(
            block(x, training=False).numpy(),
            block.shortcut(x, training=False).numpy(),
            rtol=1e-5,
            atol=1e-6,
        )
    same = InvertedResidual(8, 1, expansions=(3.0,), search_skip=True)
    same(x)
    assert same.shortcut is None  # the identity itself


def test_searched_expansion_must_exceed_one():
    with pytest.raises(ValueError, match="> 1"):
        InvertedResidual(8, 1, expansions=(1.0, 6.0))
