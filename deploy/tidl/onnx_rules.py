"""TIDL check of an ONNX model, node by node, for TIDL's ONNX import.

Why its own rules: the TDA2x ONNX op table is narrower than the TF one (no Clip, so no ReLU6; no
Mul, so no Scale), convolutions of every kind are one `Conv` node told apart by `group`, and
parameters live in attributes and initializers. This module reads each node's parameters out of
the ONNX graph; the limits are `rules`' (docs/TIDL.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from deploy.export import onnx_input_layout
from deploy.tidl.report import FAIL, WARN, Row, TidlReport
from deploy.tidl.rules import (
    BATCH_NORM,
    RELU,
    SOFTMAX,
    Verdict,
    add_verdict,
    concat_verdict,
    conv_verdict,
    depthwise_verdict,
    global_pool_verdict,
    inner_product_verdict,
    input_verdict,
    passes,
    pool_verdict,
    reshape_verdict,
    resolve_profile,
    unsupported,
)
from ednas_tf.profiles import DeviceProfile

# ONNX ops with no TIDL mapping on TDA2x, keyed to their reason in `rules.REASONS`.
ONNX_UNSUPPORTED = {
    "Clip": "clip",
    "Mul": "onnx_mul",
    "Pad": "pad",
    "Cast": "cast",
    **dict.fromkeys(("Shape", "Gather", "Slice", "Expand", "ConstantOfShape"), "dynamic"),
    "MatMul": "matmul",
    **dict.fromkeys(
        ("Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Elu", "Selu", "LeakyRelu"), "activation"
    ),
    "Div": "div",
    **dict.fromkeys(("Resize", "Upsample"), "resize"),
    **dict.fromkeys(("Squeeze", "Unsqueeze", "Flatten"), "squeeze"),
}


@dataclasses.dataclass
class OnnxGraph:
    """Shapes and constants of an ONNX graph, for the rules."""

    shapes: dict[str, list[int | None]]
    constants: dict[str, np.ndarray]

    def shape(self, name: str) -> list[int | None] | None:
        return self.shapes.get(name)

    def in_hw(self, node: onnx.NodeProto) -> tuple[int | None, int | None]:
        """(H, W) of the node's NCHW image input, (None, None) where it is not known 4-D."""
        shape = self.shape(node.input[0]) or [None] * 4
        return (shape[2], shape[3]) if len(shape) == 4 else (None, None)


OnnxRule = Callable[[onnx.NodeProto, OnnxGraph, DeviceProfile], Verdict]


def onnx_graph(model: onnx.ModelProto) -> OnnxGraph:
    """Infers every tensor's shape and collects initializers and Constant nodes' values."""
    inferred = onnx.shape_inference.infer_shapes(model)
    graph = inferred.graph
    shapes = {}
    for info in (*graph.input, *graph.value_info, *graph.output):
        dims = info.type.tensor_type.shape.dim
        shapes[info.name] = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            value = next(a for a in node.attribute if a.name == "value")
            constants[node.output[0]] = numpy_helper.to_array(value.t)
    return OnnxGraph(shapes, constants)


def _attr(node: onnx.NodeProto, name: str, default: Any = None) -> Any:
    """A node attribute's value, or the ONNX default the caller names."""
    for attribute in node.attribute:
        if attribute.name == name:
            return onnx.helper.get_attribute_value(attribute)
    return default


def _conv(node: onnx.NodeProto, graph: OnnxGraph, profile: DeviceProfile) -> Verdict:
    """One ONNX Conv is a dense (group 1), depthwise (1 channel per group) or grouped conv."""
    weight = graph.constants.get(node.input[1])
    if weight is None or weight.ndim != 4:
        return FAIL, "Conv weights are not a constant 4-D tensor"
    c_out, per_group, kh, kw = weight.shape
    group = int(_attr(node, "group", 1))
    strides = tuple(_attr(node, "strides", [1, 1]))
    dilations = tuple(_attr(node, "dilations", [1, 1]))
    c_in = per_group * group
    if group == 1:
        return conv_verdict(profile, (kh, kw), strides, dilations, c_in, c_out)
    if per_group == 1:
        return depthwise_verdict(profile, (kh, kw), strides, dilations, c_in, c_out // group)
    return WARN, f"grouped conv ({group} groups): TIDL validates dense and depthwise conv only"


def _pool(node: onnx.NodeProto, graph: OnnxGraph, profile: DeviceProfile) -> Verdict:
    kernel = tuple(_attr(node, "kernel_shape"))
    return pool_verdict(kernel, tuple(_attr(node, "strides", [1, 1])), graph.in_hw(node))


def _gemm(node: onnx.NodeProto, graph: OnnxGraph, profile: DeviceProfile) -> Verdict:
    weight = graph.constants.get(node.input[1])
    if weight is None:
        return FAIL, "Gemm weights are not constant"
    rows, cols = weight.shape
    in_features, out_features = (cols, rows) if _attr(node, "transB", 0) else (rows, cols)
    return inner_product_verdict(in_features, out_features)


def _concat(node: onnx.NodeProto, graph: OnnxGraph, profile: DeviceProfile) -> Verdict:
    rank = len(graph.shape(node.output[0]) or [])
    return concat_verdict(rank == 4 and int(_attr(node, "axis", 0)) % 4 == 1)


ONNX_RULES: dict[str, OnnxRule] = {
    "Conv": _conv,
    "MaxPool": _pool,
    "AveragePool": _pool,
    "GlobalAveragePool": lambda node, graph, profile: global_pool_verdict(*graph.in_hw(node)),
    "Relu": RELU,
    "Concat": _concat,
    "Reshape": lambda node, graph, profile: reshape_verdict(
        graph.shape(node.input[0]), graph.shape(node.output[0]), node.input[1] in graph.constants
    ),
    "Transpose": lambda *_: (WARN, "Transpose: supported only where TIDL coalesces it"),
    "Add": lambda node, graph, profile: add_verdict(sum(i in graph.constants for i in node.input)),
    "Sum": passes("element-wise sum"),
    "ArgMax": passes("argmax"),
    "BatchNormalization": BATCH_NORM,
    "Gemm": _gemm,
    "Softmax": SOFTMAX,
    "Dropout": passes("no-op at inference"),
}


def check_onnx(
    model_or_path: onnx.ModelProto | str | Path, profile: str | DeviceProfile = "tda2x"
) -> TidlReport:
    """Checks an ONNX model (or path): its graph inputs, then every node (Constant excepted)."""
    profile = resolve_profile(profile)
    model, name = model_or_path, "ONNX model"
    if isinstance(model_or_path, (str, Path)):
        model, name = onnx.load(str(model_or_path)), str(model_or_path)
    graph = onnx_graph(model)
    channels_axis = 1 if onnx_input_layout(model) == "NCHW" else 3
    initializers = {t.name for t in model.graph.initializer}
    rows = [
        Row(i.name, "Input", *input_verdict(profile, graph.shape(i.name) or [], channels_axis))
        for i in model.graph.input
        if i.name not in initializers
    ]
    for node in model.graph.node:
        if node.op_type == "Constant":
            continue
        rule = ONNX_RULES.get(node.op_type)
        status, reason = (
            rule(node, graph, profile)
            if rule
            else unsupported(node.op_type, ONNX_UNSUPPORTED, "ONNX")
        )
        rows.append(Row(node.name or node.output[0], node.op_type, status, reason))
    return TidlReport(name, "onnx", profile.name, rows)
