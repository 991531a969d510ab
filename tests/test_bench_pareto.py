"""The Pareto benchmark's keras.applications baselines train under our recipe."""

import tensorflow as tf

from bench.pareto import keras_app
from ednas_tf.layers.blocks import BN_MOMENTUM


def test_keras_app_batch_norms_use_our_momentum():
    model = keras_app("mbv2", 0.35, 32, (32, 32, 1), 10)
    inner = model.get_layer(index=-1)
    norms = [la for la in inner.layers if isinstance(la, tf.keras.layers.BatchNormalization)]
    assert norms and all(la.momentum == BN_MOMENTUM for la in norms)
    assert model.output_shape == (None, 10)
