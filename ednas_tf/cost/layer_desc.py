"""Framework-neutral description of the layers a latency model needs to cost.

The analytic TDA2x model (``tda2x.py``) only needs shapes, kernel geometry and the op kind of
each layer TIDL would execute. This module reduces any built ``tf.keras`` model to that list so
the cost model never touches Keras internals. Layers TIDL folds into the previous convolution
(BatchNorm, ReLU/ReLU6, bias) or that cost nothing once imported (Reshape, Flatten, Dropout,
ZeroPadding2D which becomes conv padding) are skipped.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import tensorflow as tf  # ednas_tf/__init__ has selected Keras 2

OPS = (
    "conv", "depthwise", "deconv", "pool", "global_pool", "add", "concat", "fc", "softmax", "other",
)
"""Op kinds. "deconv" is TIDL's Deconvolution layer (Keras Conv2DTranspose, or a bilinear
UpSampling2D, which TIDL runs as a frozen bilinear depthwise 4x4/2 deconvolution)."""

# Layers folded into the neighbouring TIDL layer or removed by the importer: no cost of their own.
_FREE_LAYERS = (
    tf.keras.layers.InputLayer,
    tf.keras.layers.BatchNormalization,
    tf.keras.layers.ReLU,
    tf.keras.layers.Reshape,
    tf.keras.layers.Flatten,
    tf.keras.layers.Dropout,
    tf.keras.layers.SpatialDropout2D,
    tf.keras.layers.ZeroPadding2D,
    tf.keras.layers.Cropping2D,
    tf.keras.layers.Rescaling,
    tf.keras.layers.Normalization,
    tf.keras.layers.Permute,
)
# Activations TIDL fuses into the producing layer (its ReLU/ReLU6/PReLU support).
_FUSED_ACTIVATIONS = frozenset({"linear", "relu", "relu6"})


@dataclass(frozen=True)
class LayerDesc:
    """One layer as TIDL would execute it; shapes are NHWC without the batch axis.

    ``cin`` is the total input channels (the sum over inputs for concat), ``n_inputs`` the number
    of input tensors (add/concat), ``groups`` the convolution groups (``cin`` for depthwise).
    """

    op: str
    in_h: int
    in_w: int
    out_h: int
    out_w: int
    cin: int
    cout: int
    kernel_h: int = 1
    kernel_w: int = 1
    stride: int = 1
    groups: int = 1
    dilation: int = 1
    n_inputs: int = 1
    name: str = ""

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"unknown op {self.op!r}; expected one of {OPS}")
        if min(self.in_h, self.in_w, self.out_h, self.out_w, self.cin, self.cout) < 1:
            raise ValueError(f"non-positive shape in {self}")
        if self.groups < 1 or self.cin % self.groups:
            raise ValueError(
                f"groups={self.groups} does not divide cin={self.cin} in {self.name!r}"
            )

    @property
    def in_pixels(self) -> int:
        return self.in_h * self.in_w

    @property
    def out_pixels(self) -> int:
        return self.out_h * self.out_w

    @property
    def macs(self) -> int:
        """Multiply-accumulates as TI's MMAC figures count them (0 for pooling, add, ...)."""
        taps = self.kernel_h * self.kernel_w
        if self.op == "conv":
            return self.out_pixels * self.cout * (self.cin // self.groups) * taps
        if self.op == "depthwise":
            return self.out_pixels * self.cout * taps
        if self.op == "deconv":  # Caffe convention: every input pixel scatters one kernel.
            return self.in_pixels * self.cout * (self.cin // self.groups) * taps
        if self.op == "fc":
            return self.in_pixels * self.cin * self.cout
        return 0

    @property
    def in_bytes(self) -> int:
        """8-bit activations read; add reads each of its inputs, concat reads ``cin`` in total."""
        per_input = self.in_pixels * self.cin
        return per_input * (self.n_inputs if self.op == "add" else 1)

    @property
    def out_bytes(self) -> int:
        """8-bit activations written."""
        return self.out_pixels * self.cout

    @property
    def weight_bytes(self) -> int:
        """8-bit weights (TIDL's default numParamBits = 8); biases are ignored."""
        taps = self.kernel_h * self.kernel_w
        if self.op in ("conv", "deconv"):
            return taps * (self.cin // self.groups) * self.cout
        if self.op == "depthwise":
            return taps * self.cout
        if self.op == "fc":
            return self.cin * self.cout
        return 0

    @property
    def dense_flow_eligible(self) -> bool:
        """TIDL's "dense" convolution kernel exists only for 1x1 and 3x3 stride-1 convolutions."""
        return (
            self.op == "conv"
            and self.stride == 1
            and (self.kernel_h, self.kernel_w) in ((1, 1), (3, 3))
        )


# --------------------------------------------------------------------------------------------
# Keras model walking
# --------------------------------------------------------------------------------------------


def _shape_list(shape: Any) -> list[tuple]:
    """Normalise a Keras shape (tuple, TensorShape or list of them) to a list of tuples."""
    if isinstance(shape, tf.TensorShape):
        return [tuple(shape.as_list())]
    if isinstance(shape, list) and shape and not isinstance(shape[0], (int, type(None))):
        return [tuple(tf.TensorShape(s).as_list()) for s in shape]
    return [tuple(tf.TensorShape(shape).as_list())]


def _hwc(shape: tuple, layer_name: str) -> tuple[int, int, int]:
    """(H, W, C) of a batched shape; rank-2 (N, C) tensors become 1x1xC."""
    dims = shape[1:]
    if len(dims) == 1:
        dims = (1, 1, dims[0])
    if len(dims) != 3 or any(d is None for d in dims):
        raise ValueError(
            f"layer {layer_name!r} has shape {shape}; build the model with a fixed input size"
        )
    return int(dims[0]), int(dims[1]), int(dims[2])


def _io_shapes(layer: tf.keras.layers.Layer) -> tuple[list[tuple], tuple]:
    """Input shapes (one per input tensor) and the output shape of a layer's first call."""
    try:
        ins = _shape_list(layer.get_input_shape_at(0))
        outs = _shape_list(layer.get_output_shape_at(0))
    except (RuntimeError, ValueError) as err:
        raise ValueError(
            f"layer {layer.name!r} has no recorded shapes: describe a functional or Sequential "
            "model (subclassed models do not record their layers' shapes)"
        ) from err
    return ins, outs[0]


def _pair(value: Any) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _activation_name(layer: tf.keras.layers.Layer) -> str:
    act = getattr(layer, "activation", None)
    return getattr(act, "__name__", str(act)) if act is not None else "linear"


def _base(layer: tf.keras.layers.Layer, op: str, name: str | None = None, **kw: Any) -> LayerDesc:
    """A LayerDesc from the layer's recorded input/output shapes."""
    ins, out = _io_shapes(layer)
    ih, iw, ic = _hwc(ins[0], layer.name)
    oh, ow, oc = _hwc(out, layer.name)
    kw.setdefault("cin", ic if op != "concat" else sum(_hwc(s, layer.name)[2] for s in ins))
    kw.setdefault("n_inputs", len(ins))
    return LayerDesc(op=op, in_h=ih, in_w=iw, out_h=oh, out_w=ow, cout=oc,
                     name=name or layer.name, **kw)


def _activation_tail(layer: tf.keras.layers.Layer) -> list[LayerDesc]:
    """A non-fusable activation attached to a conv/dense layer becomes its own layer."""
    act = _activation_name(layer)
    if act in _FUSED_ACTIVATIONS:
        return []
    _, out = _io_shapes(layer)
    h, w, c = _hwc(out, layer.name)
    op = "softmax" if act == "softmax" else "other"
    return [LayerDesc(op=op, in_h=h, in_w=w, out_h=h, out_w=w, cin=c, cout=c,
                      name=f"{layer.name}/{act}")]


def _describe_conv(layer: tf.keras.layers.Conv2D) -> list[LayerDesc]:
    kh, kw = _pair(layer.kernel_size)
    desc = _base(layer, "conv", kernel_h=kh, kernel_w=kw, stride=_pair(layer.strides)[0],
                 groups=int(getattr(layer, "groups", 1)), dilation=_pair(layer.dilation_rate)[0])
    return [desc, *_activation_tail(layer)]


def _describe_depthwise(layer: tf.keras.layers.DepthwiseConv2D) -> list[LayerDesc]:
    kh, kw = _pair(layer.kernel_size)
    ins, _ = _io_shapes(layer)
    cin = _hwc(ins[0], layer.name)[2]
    desc = _base(layer, "depthwise", kernel_h=kh, kernel_w=kw, stride=_pair(layer.strides)[0],
                 groups=cin, dilation=_pair(layer.dilation_rate)[0])
    return [desc, *_activation_tail(layer)]


def _describe_separable(layer: tf.keras.layers.SeparableConv2D) -> list[LayerDesc]:
    """SeparableConv2D = depthwise (with depth_multiplier) followed by a 1x1 convolution."""
    kh, kw = _pair(layer.kernel_size)
    ins, out = _io_shapes(layer)
    ih, iw, ic = _hwc(ins[0], layer.name)
    oh, ow, oc = _hwc(out, layer.name)
    mid = ic * int(layer.depth_multiplier)
    dw = LayerDesc(op="depthwise", in_h=ih, in_w=iw, out_h=oh, out_w=ow, cin=ic, cout=mid,
                   kernel_h=kh, kernel_w=kw, stride=_pair(layer.strides)[0], groups=ic,
                   dilation=_pair(layer.dilation_rate)[0], name=f"{layer.name}/depthwise")
    pw = LayerDesc(op="conv", in_h=oh, in_w=ow, out_h=oh, out_w=ow, cin=mid, cout=oc,
                   name=f"{layer.name}/pointwise")
    return [dw, pw, *_activation_tail(layer)]


def _describe_deconv(layer: tf.keras.layers.Conv2DTranspose) -> list[LayerDesc]:
    kh, kw = _pair(layer.kernel_size)
    desc = _base(layer, "deconv", kernel_h=kh, kernel_w=kw, stride=_pair(layer.strides)[0])
    return [desc, *_activation_tail(layer)]


def _describe_upsampling(layer: tf.keras.layers.UpSampling2D) -> list[LayerDesc]:
    """Bilinear xS upsampling = the frozen depthwise (2S)x(2S)/S deconvolution of Caffe-Jacinto."""
    s = _pair(layer.size)[0]
    ins, _ = _io_shapes(layer)
    c = _hwc(ins[0], layer.name)[2]
    return [_base(layer, "deconv", kernel_h=2 * s, kernel_w=2 * s, stride=s, groups=c)]


def _describe_pool(layer: tf.keras.layers.Layer) -> list[LayerDesc]:
    kh, kw = _pair(layer.pool_size)
    return [_base(layer, "pool", kernel_h=kh, kernel_w=kw, stride=_pair(layer.strides)[0])]


def _describe_global_pool(layer: tf.keras.layers.Layer) -> list[LayerDesc]:
    ins, _ = _io_shapes(layer)
    h, w, _ = _hwc(ins[0], layer.name)
    return [_base(layer, "global_pool", kernel_h=h, kernel_w=w, stride=max(h, w))]


def _describe_dense(layer: tf.keras.layers.Dense) -> list[LayerDesc]:
    return [_base(layer, "fc"), *_activation_tail(layer)]


def _describe_activation(layer: tf.keras.layers.Layer) -> list[LayerDesc]:
    if isinstance(layer, tf.keras.layers.Softmax):
        return [_base(layer, "softmax")]
    act = _activation_name(layer)
    if act in _FUSED_ACTIVATIONS:
        return []
    return [_base(layer, "softmax" if act == "softmax" else "other")]


def _describe_other(layer: tf.keras.layers.Layer) -> list[LayerDesc]:
    """Unknown or TIDL-unsupported layers (Multiply, sigmoid, ...): costed as elementwise passes.

    A custom layer holding weights (a composite block) would be badly under-costed that way, so
    it is flagged: describe the model after converting it to standard layers.
    """
    if layer.weights:
        warnings.warn(
            f"layer {layer.name!r} ({type(layer).__name__}) is not a standard Keras layer; "
            "it is costed as an elementwise pass, which ignores its weights",
            stacklevel=3,
        )
    return [_base(layer, "other")]


_DISPATCH: tuple[tuple[type, Any], ...] = (
    (tf.keras.layers.SeparableConv2D, _describe_separable),
    (tf.keras.layers.DepthwiseConv2D, _describe_depthwise),
    (tf.keras.layers.Conv2DTranspose, _describe_deconv),
    (tf.keras.layers.Conv2D, _describe_conv),
    (tf.keras.layers.UpSampling2D, _describe_upsampling),
    ((tf.keras.layers.MaxPooling2D, tf.keras.layers.AveragePooling2D), _describe_pool),
    ((tf.keras.layers.GlobalAveragePooling2D, tf.keras.layers.GlobalMaxPooling2D),
     _describe_global_pool),
    (tf.keras.layers.Dense, _describe_dense),
    (tf.keras.layers.Add, lambda layer: [_base(layer, "add")]),
    (tf.keras.layers.Concatenate, lambda layer: [_base(layer, "concat")]),
    ((tf.keras.layers.Activation, tf.keras.layers.Softmax), _describe_activation),
)


def _walk(layers: Iterable[tf.keras.layers.Layer]) -> list[LayerDesc]:
    descs: list[LayerDesc] = []
    for layer in layers:
        if isinstance(layer, tf.keras.Model):
            descs.extend(_walk(layer.layers))
            continue
        if isinstance(layer, _FREE_LAYERS):
            continue
        handler = next((fn for cls, fn in _DISPATCH if isinstance(layer, cls)), _describe_other)
        descs.extend(handler(layer))
    return descs


def describe_keras_model(model: tf.keras.Model) -> list[LayerDesc]:
    """Flatten a built tf.keras model (nested models included) into TIDL-executed layers.

    Layers appear in the model's topological order. The model needs a fixed input size.
    """
    if not model.built:
        raise ValueError("build the model (fixed input shape) before describing it")
    return _walk(model.layers)


def total_macs(descs: Iterable[LayerDesc]) -> int:
    """Sum of MACs, the figure TI's tables call MMAC (x1e6)."""
    return sum(d.macs for d in descs)
