import numpy as np
import pytest
import tensorflow as tf

from ednas_tf.layers.gumbel import GumbelSoftmaxGate
from ednas_tf.layers.meta_kernel import MetaKernelDepthwiseConv2D, pad_kernel_to


def _per_size_sum(layer, x, weights):
    """Reference: one depthwise conv per size with its own kernel, outputs weighted and summed."""
    total = 0.0
    for w, kernel in zip(weights, layer.kernels):
        out = tf.nn.depthwise_conv2d(x, kernel, (1, layer.strides, layer.strides, 1), "SAME")
        total += w * out
    return total


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("size", [16, 15])
def test_merged_conv_equals_sum_of_per_size_convs(stride, size):
    layer = MetaKernelDepthwiseConv2D((3, 5, 7), strides=stride)
    x = tf.random.normal((2, size, size, 6))
    weights = tf.constant([0.2, 0.5, 0.3])
    merged = layer(x, size_weights=weights)
    reference = _per_size_sum(layer, x, weights.numpy())
    assert merged.shape == reference.shape
    assert np.max(np.abs(merged - reference)) <= 1e-5


def test_parallel_set_merges_to_plain_sum():
    layer = MetaKernelDepthwiseConv2D((3, 7))
    x = tf.random.normal((1, 12, 12, 4))
    out = layer(x)  # no gate: every branch weight 1 (re-param block)
    plain = tf.nn.depthwise_conv2d(x, layer.merged_kernel(active=(3, 7)), (1, 1, 1, 1), "SAME")
    assert np.max(np.abs(out - plain)) <= 1e-5
    assert np.max(np.abs(out - _per_size_sum(layer, x, [1.0, 1.0]))) <= 1e-5
    only7 = layer.merged_kernel(active=(7,))
    assert np.allclose(only7, layer.kernels[1])


def test_per_channel_weights():
    layer = MetaKernelDepthwiseConv2D((3, 5), strides=1)
    x = tf.random.normal((1, 9, 9, 3))
    weights = tf.constant([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5]])
    out = layer(x, size_weights=weights).numpy()
    ref3 = tf.nn.depthwise_conv2d(x, layer.kernels[0], (1, 1, 1, 1), "SAME").numpy()
    ref5 = tf.nn.depthwise_conv2d(x, layer.kernels[1], (1, 1, 1, 1), "SAME").numpy()
    assert np.allclose(out[..., 0], ref3[..., 0], atol=1e-5)
    assert np.allclose(out[..., 1], ref5[..., 1], atol=1e-5)
    assert np.allclose(out[..., 2], 0.5 * (ref3 + ref5)[..., 2], atol=1e-5)


def test_gradients_reach_every_kernel_and_the_gate_logits():
    gate = GumbelSoftmaxGate(3, seed=1)
    layer = MetaKernelDepthwiseConv2D((3, 5, 7), gate=gate)
    x = tf.random.normal((2, 8, 8, 4))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(layer(x, training=True)))
    grads = tape.gradient(loss, layer.kernels + [gate.logits])
    for g in grads:
        assert g is not None and float(tf.reduce_max(tf.abs(g))) > 0


def test_pad_kernel_centres_and_rejects_even_difference():
    k = tf.ones((3, 3, 1, 1))
    padded = pad_kernel_to(k, 7).numpy()[..., 0, 0]
    assert padded.sum() == 9 and padded[2:5, 2:5].sum() == 9
    with pytest.raises(ValueError):
        pad_kernel_to(k, 6)


def test_get_config_round_trips():
    gate = GumbelSoftmaxGate(2, mode="hard", seed=3, option_names=["k3", "k5"])
    layer = MetaKernelDepthwiseConv2D((3, 5), strides=2, gate=gate, name="mk")
    clone = MetaKernelDepthwiseConv2D.from_config(layer.get_config())
    assert clone.sizes == (3, 5) and clone.strides == 2
    assert clone.gate.mode == "hard" and clone.gate.option_names == ["k3", "k5"]
    assert clone.get_config() == layer.get_config()


def test_rejects_bad_sizes():
    with pytest.raises(ValueError, match="odd"):
        MetaKernelDepthwiseConv2D((3, 4))
    with pytest.raises(ValueError, match="strides"):
        MetaKernelDepthwiseConv2D((3,), strides=3)
