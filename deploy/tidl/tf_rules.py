"""TIDL check of a TF frozen GraphDef (.pb), node by node, for TIDL's TF import.

Why its own rules: TIDL's TF import (TF 1.12 op names) maps ops the ONNX import does not, and the
other way round: ReLU6 is `Relu6` here (mapped) but `Clip` in ONNX (not on TDA2x), and an explicit
zero Pad stays a `Pad` node here (rejected) where tf2onnx folds it into the next Conv's pads.
This module reads each node's parameters out of the TF graph; the limits are `rules`'
(docs/TIDL.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from deploy.export import load_graph_def
from deploy.tidl.report import FAIL, PASS, Row, TidlReport
from deploy.tidl.rules import (
    BATCH_NORM,
    REASONS,
    RELU,
    SOFTMAX,
    Verdict,
    add_verdict,
    concat_verdict,
    conv_verdict,
    depthwise_verdict,
    global_pool_verdict,
    input_verdict,
    passes,
    pool_verdict,
    reshape_verdict,
    resolve_profile,
    unsupported,
)
from ednas_tf.profiles import DeviceProfile

# TF ops with no TIDL mapping, keyed to their reason in `rules.REASONS`.
TF_UNSUPPORTED = {
    **dict.fromkeys(("Pad", "PadV2", "MirrorPad"), "pad"),
    "Cast": "cast",
    **dict.fromkeys(("Shape", "StridedSlice", "Pack", "Fill", "Size", "Rank"), "dynamic"),
    **dict.fromkeys(("MatMul", "BatchMatMulV2"), "matmul"),
    **dict.fromkeys(("Sigmoid", "Tanh", "Elu", "Selu", "Softplus", "LeakyRelu"), "activation"),
    **dict.fromkeys(("RealDiv", "Div", "FloorDiv"), "div"),
    **dict.fromkeys(("ResizeBilinear", "ResizeNearestNeighbor"), "resize"),
    "AddV2": "addv2",
    "FusedBatchNormV3": "bn_v3",
}

TfRule = Callable[[tf.Operation, DeviceProfile], Verdict]


def _shape(tensor: tf.Tensor) -> list[int | None] | None:
    """The tensor's static shape, None where even its rank is unknown."""
    return tensor.shape.as_list() if tensor.shape.rank is not None else None


def _hw(op: tf.Operation, values: Sequence[int]) -> tuple[int, int]:
    """(H, W) entries of an NHWC/NCHW attribute such as strides or ksize."""
    nchw = op.get_attr("data_format") == b"NCHW"
    return (values[2], values[3]) if nchw else (values[1], values[2])


def _in_hw(op: tf.Operation) -> tuple[int | None, int | None]:
    """(H, W) of the op's image input, (None, None) where it is not a known 4-D tensor."""
    shape = _shape(op.inputs[0]) or [None] * 4
    return _hw(op, shape) if len(shape) == 4 else (None, None)


def _is_const(tensor: tf.Tensor) -> bool:
    return tensor.op.type == "Const"


def _conv_params(
    op: tf.Operation,
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], int | None, int | None]:
    """Kernel, strides, dilations and the weight's last two axes: (c_in, c_out) of a Conv2D's
    HWIO kernel, (channels, multiplier) of a depthwise one, in the order the verdicts take."""
    kh, kw, third, fourth = op.inputs[1].shape.as_list()
    strides, dilations = _hw(op, op.get_attr("strides")), _hw(op, op.get_attr("dilations"))
    return (kh, kw), strides, dilations, third, fourth


def _conv(op: tf.Operation, profile: DeviceProfile) -> Verdict:
    return conv_verdict(profile, *_conv_params(op))


def _depthwise(op: tf.Operation, profile: DeviceProfile) -> Verdict:
    return depthwise_verdict(profile, *_conv_params(op))


def _pool(op: tf.Operation, profile: DeviceProfile) -> Verdict:
    return pool_verdict(_hw(op, op.get_attr("ksize")), _hw(op, op.get_attr("strides")), _in_hw(op))


def _mean(op: tf.Operation, profile: DeviceProfile) -> Verdict:
    """Keras' global average pooling is a Mean: TIDL maps it only over the spatial axes."""
    axes = tf.get_static_value(op.inputs[1])
    shape = _shape(op.inputs[0])
    if axes is None or shape is None or len(shape) != 4:
        return FAIL, "Mean over non-constant axes or a non-image tensor"
    if sorted(int(a) % 4 for a in np.ravel(axes)) != [1, 2]:
        return (
            FAIL,
            f"Mean over axes {np.ravel(axes).tolist()}: TIDL maps Mean to global "
            "pooling over the spatial axes only",
        )
    return global_pool_verdict(shape[1], shape[2])


def _reshape(op: tf.Operation, profile: DeviceProfile) -> Verdict:
    constant = op.type == "Squeeze" or _is_const(op.inputs[1])
    return reshape_verdict(_shape(op.inputs[0]), _shape(op.outputs[0]), constant)


def _mul(op: tf.Operation, profile: DeviceProfile) -> Verdict:
    """Mul by a scalar or per-channel constant is TIDL's Scale layer; of two activations, none."""
    constants = [t for t in op.inputs if _is_const(t)]
    channels = (_shape(op.outputs[0]) or [None])[-1]
    if len(constants) == 1 and constants[0].shape.num_elements() in (1, channels):
        return PASS, "scale by a per-channel constant (TIDL Scale)"
    return FAIL, REASONS["mul"]


def _concat(op: tf.Operation, profile: DeviceProfile) -> Verdict:
    axis = tf.get_static_value(op.inputs[-1])
    rank = len(_shape(op.outputs[0]) or [])
    return concat_verdict(axis is not None and rank == 4 and int(axis) % 4 == 3)


TF_RULES: dict[str, TfRule] = {
    "Placeholder": lambda op, profile: input_verdict(profile, _shape(op.outputs[0]) or [], 3),
    "Conv2D": _conv,
    "DepthwiseConv2dNative": _depthwise,
    "BiasAdd": passes("bias (fused into the conv)"),
    "Add": lambda op, profile: add_verdict(sum(_is_const(t) for t in op.inputs)),
    "Mul": _mul,
    "FusedBatchNorm": BATCH_NORM,
    "FusedBatchNormV2": BATCH_NORM,
    "Relu": RELU,
    "Relu6": passes("ReLU6"),
    "MaxPool": _pool,
    "AvgPool": _pool,
    "ConcatV2": _concat,
    "Slice": passes("slice"),
    "Squeeze": _reshape,
    "Reshape": _reshape,
    "Softmax": SOFTMAX,
    "Mean": _mean,
    "Identity": passes("no-op (removed by optimize_for_inference)"),
}


def check_tf(
    graph_def_or_path: tf.compat.v1.GraphDef | str | Path, profile: str | DeviceProfile = "tda2x"
) -> TidlReport:
    """Checks a TF frozen GraphDef (or .pb path) node by node; Const nodes are not rows."""
    profile = resolve_profile(profile)
    graph_def = graph_def_or_path
    name = "GraphDef"
    if isinstance(graph_def_or_path, (str, Path)):
        graph_def, name = load_graph_def(graph_def_or_path), str(graph_def_or_path)
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    rows = []
    for op in graph.get_operations():
        if op.type == "Const":
            continue
        rule = TF_RULES.get(op.type)
        status, reason = (
            rule(op, profile) if rule else unsupported(op.type, TF_UNSUPPORTED, "TensorFlow")
        )
        rows.append(Row(op.name, op.type, status, reason))
    return TidlReport(name, "tf", profile.name, rows)
