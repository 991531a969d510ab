import math

import numpy as np
import pytest
import tensorflow as tf

from deploy.merge import merge_model
from deploy.qat import (
    PowerOfTwoQuantizer,
    QatConfig,
    load_qat_model,
    pow2_quantizer_scales,
    pow2_scale,
    quantize_for_training,
    run_qat,
    save_qat_model,
)
from ednas_tf.arch import ArchSpec
from ednas_tf.data import load_splits
from ednas_tf.model import build

ARCH = {
    "input_shape": [16, 16, 1],
    "num_classes": 4,
    "stem": "conv_k3_c8_s1",
    "blocks": ["ir_k3+5_e1_c8_s1", "ir_k3_e3_c16_s2", "ir_k7_e3_c16_s1"],
}


@pytest.fixture(scope="module")
def merged():
    return merge_model(build(ArchSpec.from_dict(ARCH)))


@pytest.fixture(scope="module")
def splits():
    return load_splits("synthetic", image_size=16, limit=256)


def test_pow2_scale():
    assert float(pow2_scale(tf.constant(6.0), 255.0)) == 2.0**-5
    assert float(pow2_scale(tf.constant(1.0), 127.0)) == 2.0**-6


@pytest.mark.parametrize("signed", [True, False])
def test_pow2_quantizer_values_sit_on_a_power_of_two_grid(signed):
    layer = tf.keras.layers.Layer()
    quantizer = PowerOfTwoQuantizer(signed=signed)
    variables = quantizer.build((100,), "x", layer)
    x = tf.random.uniform((100,), -3.0 if signed else 0.0, 3.0)
    y = quantizer(x, True, variables).numpy()
    step = 2.0**-5  # 3.0 / 127 -> 2^-5 ; 3.0 / 255 -> 2^-6 but rounded up to cover the range
    step = float(pow2_scale(tf.reduce_max(tf.abs(x)), 127.0 if signed else 255.0))
    assert np.allclose(np.round(y / step), y / step, atol=1e-4)
    assert np.max(np.abs(y - x.numpy())) <= step / 2 + 1e-6


@pytest.mark.parametrize("scheme", ["tfmot", "pow2"])
def test_qat_runs_and_converts_to_int8(merged, splits, scheme, tmp_path):
    model, report = run_qat(
        merged,
        splits,
        QatConfig(scheme=scheme, epochs=1, batch_size=32, steps_per_epoch=3),
        verbose=0,
    )
    assert 0 <= report["qat_acc"] <= 1 and report["scheme"] == scheme
    path = save_qat_model(model, tmp_path / "qat.h5")
    restored = load_qat_model(path)
    x = tf.random.uniform((2, 16, 16, 1))
    assert np.allclose(restored(x), model(x), atol=1e-5)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    images = [x[i : i + 1] for i in range(2)]
    converter.representative_dataset = lambda: ([img] for img in images)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    assert len(converter.convert()) > 1000


def test_pow2_scales_are_powers_of_two(merged, splits):
    model, _ = run_qat(
        merged,
        splits,
        QatConfig(scheme="pow2", epochs=1, batch_size=32, steps_per_epoch=2),
        verbose=0,
    )
    scales = pow2_quantizer_scales(model)
    weights = [k for k in scales if "kernel" in k]
    outputs = [k for k in scales if k.endswith("/output")]
    assert len(weights) >= 8 and len(outputs) >= 6
    for name, scale in scales.items():
        exponent = math.log2(scale)
        assert abs(exponent - round(exponent)) < 1e-6, (name, scale)


def test_unknown_scheme(merged):
    with pytest.raises(ValueError, match="scheme"):
        quantize_for_training(merged, "fp8")
