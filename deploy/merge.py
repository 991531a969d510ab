"""Merge a trained child into a plain Keras model: one kernel per depthwise layer, BN folded.

Two exact rewrites (in inference mode):
* parallel kernel sets: `Σ_k conv(x, W_k) = conv(x, Σ_k pad(W_k))` — the meta-kernel's
  `merged_kernel()` — so every block keeps exactly ONE depthwise conv at its largest size;
* batch norm after a conv: `γ·(conv(x, W) − μ)/√(σ²+ε) + β = conv(x, W·s) + (β − μ·s)` with
  `s = γ/√(σ²+ε)` per output channel.

The result holds only standard layers (Conv2D, DepthwiseConv2D, ReLU, Add, pooling, Reshape): what
TFMOT quantizes, the TFLite/ONNX converters take, and TIDL maps.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from ednas_tf.layers.blocks import ConvBnAct, InvertedResidual, SqueezeSpatial, activation_layer
from ednas_tf.precision import float32_policy


def fold_batch_norm(
    kernel: np.ndarray, bn: tf.keras.layers.BatchNormalization, depthwise: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Kernel and bias of conv+BN as one conv (output channels are the last kernel axis, or the
    third axis of a [k, k, C, 1] depthwise kernel)."""
    gamma, beta, mean, var = (
        w.numpy().astype(np.float64)
        for w in (bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance)
    )
    scale = gamma / np.sqrt(var + bn.epsilon)
    kernel = kernel.astype(np.float64)
    folded = kernel * (scale[None, None, :, None] if depthwise else scale)
    bias = beta - mean * scale
    return folded.astype(np.float32), bias.astype(np.float32)


class _Builder:
    """Rebuilds a child layer by layer as standard Keras layers with folded weights."""

    def __init__(self, activation: str):
        self.activation = activation
        self.assignments: list[tuple[tf.keras.layers.Layer, list[np.ndarray]]] = []

    def conv(self, x, kernel: np.ndarray, bias: np.ndarray, stride: int, name: str):
        layer = tf.keras.layers.Conv2D(
            kernel.shape[-1], kernel.shape[:2], strides=stride, padding="same", name=name
        )
        self.assignments.append((layer, [kernel, bias]))
        return layer(x)

    def depthwise(self, x, kernel: np.ndarray, bias: np.ndarray, stride: int, name: str):
        layer = tf.keras.layers.DepthwiseConv2D(
            kernel.shape[:2], strides=stride, padding="same", name=name
        )
        self.assignments.append((layer, [kernel, bias]))
        return layer(x)

    def act(self, x, name: str):
        return activation_layer(self.activation, name)(x)

    def conv_bn_act(self, x, layer: ConvBnAct):
        kernel, bias = fold_batch_norm(layer.conv.kernel.numpy(), layer.bn)
        return self.act(
            self.conv(x, kernel, bias, layer.stride, f"{layer.name}_conv"), f"{layer.name}_act"
        )

    def block(self, x, block: InvertedResidual):
        inputs = x
        if block.has_expand:
            kernel, bias = fold_batch_norm(block.expand.kernel.numpy(), block.expand_bn)
            x = self.act(
                self.conv(x, kernel, bias, 1, f"{block.name}_expand"), f"{block.name}_expand_act"
            )
        merged = block.depthwise.merged_kernel(active=block.kernel_sizes, dtype="float32")
        merged = merged.numpy()
        kernel, bias = fold_batch_norm(merged, block.depthwise_bn, depthwise=True)
        x = self.act(
            self.depthwise(x, kernel, bias, block.stride, f"{block.name}_depthwise"),
            f"{block.name}_depthwise_act",
        )
        kernel, bias = fold_batch_norm(block.project.kernel.numpy(), block.project_bn)
        x = self.conv(x, kernel, bias, 1, f"{block.name}_project")
        if block.adds_residual:
            x = tf.keras.layers.Add(name=f"{block.name}_add")([x, inputs])
        return x

    def assign(self) -> None:
        for layer, weights in self.assignments:
            layer.set_weights(weights)


def merge_model(child: tf.keras.Model) -> tf.keras.Model:
    """The deploy model of a trained child (built by `ednas_tf.model.build(arch)`).

    Refuses a supernet: its gates must be resolved by `derive()` first. The deployed model is
    float32 whatever precision policy the child was trained under (TFLite, TIDL and QAT start
    from float32 weights), so it is built under the float32 policy explicitly.
    """
    with float32_policy():
        return _merged(child)


def _merged(child: tf.keras.Model) -> tf.keras.Model:
    blocks = [layer for layer in child.layers if isinstance(layer, InvertedResidual)]
    if any(block.gates() for block in blocks):
        raise ValueError(
            "merge_model() takes a child; this model still has search gates "
            "(derive an ArchSpec and build it first)"
        )
    stem = child.get_layer("stem")
    builder = _Builder(stem.activation)
    inputs = tf.keras.Input(child.input_shape[1:], name="image")
    x = builder.conv_bn_act(inputs, stem)
    for block in blocks:
        x = builder.block(x, block)
    if any(layer.name == "head" for layer in child.layers):
        x = builder.conv_bn_act(x, child.get_layer("head"))
    x = tf.keras.layers.GlobalAveragePooling2D(keepdims=True, name="pool")(x)
    classifier = child.get_layer("classifier")
    x = builder.conv(x, *[w.numpy() for w in classifier.weights], 1, "classifier")
    logits = tf.keras.layers.Reshape((classifier.filters,), name="logits")(x)
    merged = tf.keras.Model(inputs, logits, name=f"{child.name}_merged")
    builder.assign()
    return merged


def merge_probe(probe: tf.keras.Model) -> tf.keras.Model:
    """The deploy form of a latency probe (`ednas_tf.measure.probes.probe_model`).

    Why: a board must time what the deployed child runs, so a probe takes the same rewrites as
    `merge_model` (BN folded, one depthwise kernel, the classifier's squeeze as a Reshape) before
    it is exported. Handles the probes' layer sequence: ConvBnAct, InvertedResidual, global
    pooling, the classifier Conv2D and SqueezeSpatial, and plain activations.
    """
    inputs = tf.keras.Input(probe.input_shape[1:], name="image")
    x, builder = inputs, None
    for layer in probe.layers[1:]:
        activation = getattr(layer, "activation", None)
        if builder is None and isinstance(activation, str):
            builder = _Builder(activation)
        if isinstance(layer, ConvBnAct):
            x = builder.conv_bn_act(x, layer)
        elif isinstance(layer, InvertedResidual):
            x = builder.block(x, layer)
        elif isinstance(layer, tf.keras.layers.GlobalAveragePooling2D):
            x = tf.keras.layers.GlobalAveragePooling2D(keepdims=True, name=layer.name)(x)
        elif isinstance(layer, tf.keras.layers.Conv2D):
            builder = builder or _Builder("relu")
            x = builder.conv(x, *[w.numpy() for w in layer.weights], 1, layer.name)
        elif isinstance(layer, SqueezeSpatial):
            x = tf.keras.layers.Reshape((x.shape[-1],), name=layer.name)(x)
        else:  # a layer without weights (the overhead probe's ReLU)
            x = layer.__class__.from_config(layer.get_config())(x)
    merged = tf.keras.Model(inputs, x, name=f"{probe.name}_merged")
    if builder is not None:
        builder.assign()
    return merged
