"""The Pareto benchmark's baselines: keras.applications train under our recipe, and
`--baselines` picks them in its order and refuses unknown names up front."""

import pytest
import tensorflow as tf

from bench.pareto import keras_app, selected_baselines
from ednas_tf.arch import ArchSpec
from ednas_tf.layers.blocks import BN_MOMENTUM
from ednas_tf.space import preset_space


def test_keras_app_batch_norms_use_our_momentum():
    model = keras_app("mbv2", 0.35, 32, (32, 32, 1), 10)
    inner = model.get_layer(index=-1)
    norms = [la for la in inner.layers if isinstance(la, tf.keras.layers.BatchNormalization)]
    assert norms and all(la.momentum == BN_MOMENTUM for la in norms)
    assert model.output_shape == (None, 10)


def _host_space():
    return preset_space("small", input_shape=(32, 32, 1), num_classes=10, profile="host")


def test_selected_baselines_follow_the_flag_order():
    picked = selected_baselines(_host_space(), "all_5x5,mbv2_a0.35_32px,all_3x3")
    assert [name for name, _ in picked] == ["all_5x5", "mbv2_a0.35_32px", "all_3x3"]
    assert isinstance(picked[0][1], ArchSpec)
    assert picked[1][1] == ("mbv2", 0.35, 32)


def test_selected_baselines_default_is_all_and_unknown_names_fail():
    space = _host_space()
    names = [name for name, _ in selected_baselines(space, None)]
    assert "cifar_mbv2_w1" in names and "all_7x7" not in names  # host has no 7x7
    with pytest.raises(SystemExit, match="all_7x7"):
        selected_baselines(space, "all_3x3,all_7x7")
