import numpy as np
import pytest
import tensorflow as tf

from deploy.merge import merge_model
from ednas_tf.arch import ArchSpec
from ednas_tf.data import load_splits
from ednas_tf.model import build
from ednas_tf.presets import preset_space

ARCH = {
    "input_shape": [20, 20, 3],
    "num_classes": 5,
    "stem": "conv_k3_c16_s1",
    "blocks": [
        "ir_k3+7_e1_c16_s1",
        "ir_k3_e4_c24_s2",
        "ir_k3+5+7_e3_c24_s1",
        "ir_k5_e6_c32_s2_noskip",
        "ir_k7_e2.5_c32_s1",
    ],
    "head": "conv_k1_c64_s1",
}


def _trained_like(model):
    """Random BN statistics/affine and kernels: what a trained model has, not init values."""
    rng = np.random.default_rng(0)
    for w in model.weights:
        name = w.name
        if "moving_variance" in name or "gamma" in name:
            w.assign(rng.uniform(0.5, 1.5, w.shape).astype(np.float32))
        elif "moving_mean" in name or "beta" in name or "bias" in name:
            w.assign(rng.normal(0, 0.2, w.shape).astype(np.float32))
    return model


@pytest.fixture(scope="module")
def models():
    child = _trained_like(build(ArchSpec.from_dict(ARCH)))
    return child, merge_model(child)


def test_merged_model_equals_child(models):
    child, merged = models
    x = tf.random.uniform((4, 20, 20, 3))
    diff = np.max(np.abs(child(x, training=False) - merged(x)))
    assert diff <= 1e-4


def test_merged_model_equals_child_on_real_images(models):
    child, merged = models
    splits = load_splits("synthetic", image_size=20, channels=3, limit=64)
    images = np.stack([x for x, _ in splits.test.take(32).as_numpy_iterator()])
    diff = np.max(np.abs(child(images, training=False) - merged(images)))
    assert diff <= 1e-4


def test_merged_model_has_one_depthwise_per_block_and_no_bn(models):
    _, merged = models
    kinds = [type(layer).__name__ for layer in merged.layers]
    assert kinds.count("DepthwiseConv2D") == len(ARCH["blocks"])
    assert "BatchNormalization" not in kinds
    assert all(not layer.__module__.startswith("ednas_tf") for layer in merged.layers)
    depthwise = [layer for layer in merged.layers if type(layer).__name__ == "DepthwiseConv2D"]
    assert [layer.kernel_size[0] for layer in depthwise] == [7, 3, 7, 5, 7]


def test_merge_refuses_a_supernet():
    supernet = build(preset_space("tiny", input_shape=(16, 16, 1)))
    with pytest.raises(ValueError, match="gates"):
        merge_model(supernet)
