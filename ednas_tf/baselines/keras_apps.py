"""keras.applications MobileNets as baselines, trained and measured as our children are.

The Pareto benchmark compares E-DNAS children with the published mobile networks at the same
input; these adapt them to the data (grey images repeated to three channels, optional resize)
and to our training recipe (batch-norm momentum).
"""

from __future__ import annotations

import tensorflow as tf

from ednas_tf.layers.blocks import BN_MOMENTUM

# keras.applications constructors that take a width multiplier `alpha`, by our short name.
_WIDTH_APPS = {
    "mbv1": tf.keras.applications.MobileNet,
    "mbv2": tf.keras.applications.MobileNetV2,
}


def _application(kind: str, alpha: float, shape: tuple[int, int, int], num_classes: int):
    """The bare keras.applications network (weights=None, logits out)."""
    common = dict(input_shape=shape, weights=None, classes=num_classes, classifier_activation=None)
    if kind in _WIDTH_APPS:
        return _WIDTH_APPS[kind](alpha=alpha, **common)
    if kind != "mbv3s":
        raise ValueError(f"unknown keras.applications kind {kind!r} (mbv1, mbv2 or mbv3s)")
    return tf.keras.applications.MobileNetV3Small(
        minimalistic=True, include_preprocessing=False, **common
    )


def keras_app(
    kind: str, alpha: float, image_size: int, input_shape, num_classes: int
) -> tf.keras.Model:
    """A keras.applications model (weights=None) behind a grey→RGB (and resize) adapter.

    `kind` is "mbv1" (MobileNetV1 at `alpha`), "mbv2" (MobileNetV2 at `alpha`) or "mbv3s"
    (MobileNetV3Small, minimalistic).
    Its batch norms get our blocks' momentum: keras.applications uses 0.999, whose moving
    statistics are still mostly their initial values after a few hundred steps, so a short run
    evaluated at chance (10 %) however well it trained (measured: the first reduced Pareto run)."""
    inputs = tf.keras.Input(input_shape, name="image")
    x = inputs
    if image_size != input_shape[0]:
        x = tf.keras.layers.Resizing(image_size, image_size, name="resize")(x)
    if input_shape[-1] == 1:
        x = tf.keras.layers.Concatenate(name="to_rgb")([x, x, x])
    app = _application(kind, alpha, (image_size, image_size, 3), num_classes)
    for layer in app.layers:  # same recipe as our children: see BN_MOMENTUM
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            layer.momentum = BN_MOMENTUM
    return tf.keras.Model(inputs, app(x), name=f"{kind}_{alpha:g}_{image_size}px")
