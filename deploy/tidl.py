"""Check an exported graph against what TIDL on a TDA2x imports, and write its import inputs.

Why a static check: TIDL's import tool ships inside TI's (registration-gated) SDK and runs on
TI's host tools, so a graph that will not import should be caught where it is exported, layer by
layer, with the reason. The rules (op tables per import format, layer constraints) are the
Processor SDK Linux TIDL chapter's and TI E2E threads' (docs/TIDL.md), with the device limits
taken from the device profile (`ednas_tf.latency.profiles`, `tda2x`).

Format matters: ReLU6 is `Relu6` in a TF graph (TIDL's TF import maps it) but `Clip` in ONNX,
and TDA2x's ONNX import has no Clip, so a ReLU6 network passes as a frozen .pb and fails as ONNX.
tf2onnx folds an explicit zero Pad into the following Conv's pads, so an ONNX graph can pass
where the TF graph of the same model fails on Pad.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from deploy.export import load_graph_def, onnx_input_layout
from ednas_tf.io_utils import atomic_write_bytes, atomic_write_text
from ednas_tf.latency.profiles import DeviceProfile, get_profile

PASS, WARN, FAIL = "pass", "warn", "fail"
_SEVERITY = {PASS: 0, WARN: 1, FAIL: 2}

# TIDL layer constraints not held by the device profile (Processor SDK Linux TIDL, "Constraints
# on layer parameters").
CONV_STRIDES = (1, 2)
CONV_DILATIONS = (1, 2, 4)
POOL_STRIDES = (1, 2, 4)
GLOBAL_POOL_MAX = 64  # global pooling on feature maps up to 64x64
INNER_PRODUCT_MAX = 4096  # inner product: <= 4096 outputs, input size a multiple of 8
INNER_PRODUCT_ALIGN = 8

_REASONS = {
    "pad": "explicit Pad: TIDL on TDA2x rejects it ('Pad Layer is not supported', TI E2E "
    "1001590); use padding='same' in the conv",
    "cast": "Cast is not supported ('Op Type Cast is Not suported', TI E2E 955350)",
    "dynamic": "dynamic-shape op: export at a static batch of 1 so it folds into constants",
    "matmul": "MatMul (a Keras Dense layer) has no TIDL mapping in this format; use global "
    "average pooling + a 1x1 Conv2D classifier",
    "activation": "activation not supported on TDA2x (ReLU/ReLU6 only; no sigmoid, tanh, "
    "swish, hard-swish)",
    "mul": "element-wise Mul of two activations (hard-swish, swish, SE gating): TIDL maps Mul "
    "only as a per-channel Scale by a constant",
    "div": "division has no TIDL layer (hard-swish's x/6, normalisation)",
    "resize": "resize/upsample is not supported on TDA2x (deconvolution with stride 2 only)",
    "addv2": "AddV2 is TF2's name; TIDL's TF import (TF 1.12) knows Add "
    "(deploy.export.export_frozen_graph renames it)",
    "bn_v3": "FusedBatchNormV3 is newer than TIDL's TF 1.12 import; fold BN into the conv "
    "(deploy.merge)",
    "clip": "Clip (what ReLU6 becomes in ONNX) is not in the TDA2x ONNX op table: deploy a ReLU6 "
    "model as the TF frozen graph (Relu6 is mapped) or train with ReLU",
    "onnx_mul": "Mul is not in the TDA2x ONNX op table (hard-swish, swish, SE gating, scaling)",
    "squeeze": "not in the TDA2x ONNX op table (Reshape is, where TIDL coalesces it)",
}
_TF_UNSUPPORTED = {
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
_ONNX_UNSUPPORTED = {
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


@dataclasses.dataclass(frozen=True)
class Row:
    """One layer (graph node) of the report."""

    name: str
    op: str
    status: str
    reason: str


@dataclasses.dataclass
class TidlReport:
    """Per-layer verdicts on one exported graph; `passed` when no layer fails."""

    model: str
    format: str  # "tf" (frozen GraphDef) or "onnx"
    profile: str
    rows: list[Row]

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list[Row]:
        return [r for r in self.rows if r.status == FAIL]

    @property
    def warnings(self) -> list[Row]:
        return [r for r in self.rows if r.status == WARN]

    def op_counts(self) -> dict[str, int]:
        return dict(Counter(r.op for r in self.rows))

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "format": self.format,
            "profile": self.profile,
            "passed": self.passed,
            "num_layers": len(self.rows),
            "num_failures": len(self.failures),
            "num_warnings": len(self.warnings),
            "op_counts": self.op_counts(),
            "rows": [dataclasses.asdict(r) for r in self.rows],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def render_text(self, all_rows: bool = False) -> str:
        """Verdict, op counts, then the failing and warned layers (every layer with all_rows)."""
        verdict = "PASS" if self.passed else "FAIL"
        ops = ", ".join(f"{op} x{n}" for op, n in sorted(self.op_counts().items()))
        lines = [
            f"TIDL check ({self.profile}, {self.format}) of {self.model}: {verdict} — "
            f"{len(self.rows)} layers, {len(self.failures)} failing, "
            f"{len(self.warnings)} warned",
            f"  ops: {ops}",
        ]
        shown = self.rows if all_rows else [r for r in self.rows if r.status != PASS]
        width = max((len(r.name) for r in shown), default=0)
        lines += [f"  {r.status:4}  {r.name:{width}}  {r.op}: {r.reason}" for r in shown]
        return "\n".join(lines)

    def save(self, path: str | Path) -> Path:
        return atomic_write_text(path, self.to_json())


def save_reports(path: str | Path, reports: Sequence[TidlReport]) -> Path:
    """One JSON (tidl_report.json) for the checks of several formats of the same model."""
    data = {
        "passed_formats": [r.format for r in reports if r.passed],
        "reports": [r.to_dict() for r in reports],
    }
    return atomic_write_text(path, json.dumps(data, indent=2))


# ---------------------------------------------------------------------------------------------
# Rules shared by both formats: each returns problems as (status, reason) pairs.

Problems = list[tuple[str, str]]


def _verdict(description: str, problems: Problems) -> tuple[str, str]:
    if not problems:
        return PASS, description
    status = max((s for s, _ in problems), key=_SEVERITY.__getitem__)
    return status, f"{description}: " + "; ".join(reason for _, reason in problems)


def _channel_problems(profile: DeviceProfile, **channels: int | None) -> Problems:
    return [
        (FAIL, f"{value} {name} channels exceed the {profile.name} limit of {profile.max_channels}")
        for name, value in channels.items()
        if value is not None and value > profile.max_channels
    ]


def _kernel_problems(
    profile: DeviceProfile, kernel: tuple[int, int], dilations: tuple[int, int]
) -> Problems:
    """Kernel size and dilation limits shared by dense and depthwise convolutions."""
    problems: Problems = []
    if max(kernel) > profile.max_conv_kernel:
        limit = profile.max_conv_kernel
        problems.append((FAIL, f"kernel {kernel[0]}x{kernel[1]} exceeds {limit}x{limit}"))
    if any(d not in CONV_DILATIONS for d in dilations):
        problems.append((FAIL, f"dilation {dilations} (TIDL: 1, 2 or 4)"))
    return problems


def conv_verdict(
    profile: DeviceProfile,
    kernel: tuple[int, int],
    strides: tuple[int, int],
    dilations: tuple[int, int],
    c_in: int | None,
    c_out: int | None,
) -> tuple[str, str]:
    """Dense convolution: kernel <= 7x7, stride 1 or 2, dilation 1/2/4, <= 1024 channels."""
    problems = _kernel_problems(profile, kernel, dilations)
    if any(s not in CONV_STRIDES for s in strides):
        problems.append((FAIL, f"stride {strides} (TIDL: 1 or 2)"))
    problems += _channel_problems(profile, input=c_in, output=c_out)
    return _verdict(f"conv {kernel[0]}x{kernel[1]} s{strides[0]}, {c_in}->{c_out} ch", problems)


def _pairs(pairs) -> str:
    return ", ".join(f"{k}x{k} s{s}" for k, s in sorted(pairs, key=lambda p: (p[1], p[0])))


def depthwise_verdict(
    profile: DeviceProfile,
    kernel: tuple[int, int],
    strides: tuple[int, int],
    dilations: tuple[int, int],
    channels: int | None,
    multiplier: int,
) -> tuple[str, str]:
    """Depthwise: multiplier 1, square kernel, (kernel, stride) allowed by the profile; a pair
    outside the profile's TI-validated set passes with a warning."""
    problems = _kernel_problems(profile, kernel, dilations)
    if multiplier != 1 and (channels or 0) > 1:
        problems.append(
            (
                FAIL,
                f"channel multiplier {multiplier} (TIDL imports depthwise "
                "convolutions with multiplier 1 only)",
            )
        )
    if kernel[0] != kernel[1] or strides[0] != strides[1]:
        problems.append((FAIL, f"non-square kernel {kernel} or strides {strides}"))
    pair = (kernel[0], strides[0])
    if not profile.allows_depthwise(*pair):
        problems.append(
            (
                FAIL,
                f"depthwise {pair[0]}x{pair[0]} at stride {pair[1]} is not "
                f"allowed on {profile.name} (allowed: {_pairs(profile.depthwise)})",
            )
        )
    elif profile.validated_depthwise and pair not in profile.validated_depthwise:
        problems.append(
            (
                WARN,
                "allowed by rule, not TI-validated (TI validated depthwise "
                f"{_pairs(profile.validated_depthwise)})",
            )
        )
    problems += _channel_problems(profile, depthwise=channels)
    return _verdict(f"depthwise {kernel[0]}x{kernel[1]} s{strides[0]}, {channels} ch", problems)


def global_pool_verdict(height: int | None, width: int | None) -> tuple[str, str]:
    problems: Problems = []
    if height is None or width is None:
        problems.append((WARN, "input size unknown"))
    elif max(height, width) > GLOBAL_POOL_MAX:
        problems.append(
            (
                FAIL,
                f"global pooling on {height}x{width}: TIDL pools feature maps "
                f"up to {GLOBAL_POOL_MAX}x{GLOBAL_POOL_MAX}",
            )
        )
    return _verdict(f"global average pooling over {height}x{width}", problems)


def pool_verdict(
    kernel: tuple[int, int], strides: tuple[int, int], in_hw: tuple[int | None, int | None]
) -> tuple[str, str]:
    """Spatial pooling (stride 1/2/4); one whose window covers the whole map is global."""
    if tuple(kernel) == tuple(in_hw):
        return global_pool_verdict(*in_hw)
    problems: Problems = []
    if any(s not in POOL_STRIDES for s in strides):
        problems.append((FAIL, f"pooling stride {strides} (TIDL: 1, 2 or 4)"))
    return _verdict(f"pool {kernel[0]}x{kernel[1]} s{strides[0]}", problems)


def input_verdict(
    profile: DeviceProfile, shape: Sequence[int | None], channels_axis: int
) -> tuple[str, str]:
    """A single static image: rank 4, batch 1, known size, channels within the limit."""
    shape = list(shape)
    text = "x".join("?" if d is None else str(d) for d in shape)
    problems: Problems = []
    if len(shape) != 4:
        problems.append((FAIL, f"rank {len(shape)} input (TIDL takes one N x C x H x W image)"))
    elif any(d is None or d < 1 for d in shape):
        problems.append((FAIL, "dynamic input size: export with a static [1, H, W, C] input"))
    else:
        if shape[0] != 1:
            problems.append((FAIL, f"batch {shape[0]} (TIDL processes one frame: batch 1)"))
        problems += _channel_problems(profile, input=shape[channels_axis])
    return _verdict(f"input {text}", problems)


def reshape_verdict(
    in_shape: Sequence[int | None] | None, out_shape: Sequence[int | None] | None, constant: bool
) -> tuple[str, str]:
    """A constant-shape reshape that only adds/removes size-1 axes moves no data: TIDL coalesces
    it. One that moves data is supported only where TIDL can coalesce it (before inner product or
    softmax)."""
    if not constant:
        return FAIL, _REASONS["dynamic"]
    if in_shape is None or out_shape is None or None in (*in_shape, *out_shape):
        return WARN, "reshape of unknown shapes: supported only where TIDL coalesces it"
    if [d for d in in_shape if d != 1] == [d for d in out_shape if d != 1]:
        return PASS, f"reshape {list(in_shape)} -> {list(out_shape)} (drops size-1 axes)"
    return WARN, (
        f"reshape {list(in_shape)} -> {list(out_shape)} moves data: supported only "
        "where TIDL coalesces it (before inner product/softmax)"
    )


def add_verdict(num_constant_operands: int) -> tuple[str, str]:
    if num_constant_operands:
        return WARN, (
            "Add of a constant: TIDL's Add is an element-wise sum of two layers; a "
            "constant offset imports only where it folds into a bias"
        )
    return PASS, "element-wise add"


def concat_verdict(on_channels: bool) -> tuple[str, str]:
    if on_channels:
        return PASS, "concat on channels"
    return FAIL, "Concat only on the channel axis"


def inner_product_verdict(in_features: int | None, out_features: int | None) -> tuple[str, str]:
    problems: Problems = []
    if out_features is not None and out_features > INNER_PRODUCT_MAX:
        problems.append((FAIL, f"{out_features} outputs exceed {INNER_PRODUCT_MAX}"))
    if in_features is not None and in_features % INNER_PRODUCT_ALIGN:
        problems.append(
            (FAIL, f"{in_features} inputs: TIDL needs a multiple of {INNER_PRODUCT_ALIGN}")
        )
    return _verdict(f"inner product {in_features}->{out_features}", problems)


def _passes(description: str) -> Callable[..., tuple[str, str]]:
    return lambda *_: (PASS, description)


def _unsupported(op: str, table: dict[str, str], fmt: str) -> tuple[str, str]:
    key = table.get(op)
    return FAIL, _REASONS[key] if key else f"{op} is not in the TIDL {fmt} op table"


# ---------------------------------------------------------------------------------------------
# TensorFlow frozen GraphDef


def _tf_shape(tensor) -> list[int | None] | None:
    return tensor.shape.as_list() if tensor.shape.rank is not None else None


def _tf_hw(op, values: Sequence[int]) -> tuple[int, int]:
    """(H, W) entries of an NHWC/NCHW attribute such as strides or ksize."""
    nchw = op.get_attr("data_format") == b"NCHW"
    return (values[2], values[3]) if nchw else (values[1], values[2])


def _tf_in_hw(op) -> tuple[int | None, int | None]:
    shape = _tf_shape(op.inputs[0]) or [None] * 4
    return _tf_hw(op, shape) if len(shape) == 4 else (None, None)


def _is_const(tensor) -> bool:
    return tensor.op.type == "Const"


def _tf_conv(op, profile):
    kh, kw, c_in, c_out = op.inputs[1].shape.as_list()
    return conv_verdict(
        profile,
        (kh, kw),
        _tf_hw(op, op.get_attr("strides")),
        _tf_hw(op, op.get_attr("dilations")),
        c_in,
        c_out,
    )


def _tf_depthwise(op, profile):
    kh, kw, channels, multiplier = op.inputs[1].shape.as_list()
    return depthwise_verdict(
        profile,
        (kh, kw),
        _tf_hw(op, op.get_attr("strides")),
        _tf_hw(op, op.get_attr("dilations")),
        channels,
        multiplier,
    )


def _tf_pool(op, profile):
    return pool_verdict(
        _tf_hw(op, op.get_attr("ksize")), _tf_hw(op, op.get_attr("strides")), _tf_in_hw(op)
    )


def _tf_mean(op, profile):
    import tensorflow as tf

    axes = tf.get_static_value(op.inputs[1])
    shape = _tf_shape(op.inputs[0])
    if axes is None or shape is None or len(shape) != 4:
        return FAIL, "Mean over non-constant axes or a non-image tensor"
    if sorted(int(a) % 4 for a in np.ravel(axes)) != [1, 2]:
        return (
            FAIL,
            f"Mean over axes {np.ravel(axes).tolist()}: TIDL maps Mean to global "
            "pooling over the spatial axes only",
        )
    return global_pool_verdict(shape[1], shape[2])


def _tf_reshape(op, profile):
    constant = op.type == "Squeeze" or _is_const(op.inputs[1])
    return reshape_verdict(_tf_shape(op.inputs[0]), _tf_shape(op.outputs[0]), constant)


def _tf_mul(op, profile):
    constants = [t for t in op.inputs if _is_const(t)]
    channels = (_tf_shape(op.outputs[0]) or [None])[-1]
    if len(constants) == 1 and constants[0].shape.num_elements() in (1, channels):
        return PASS, "scale by a per-channel constant (TIDL Scale)"
    return FAIL, _REASONS["mul"]


def _tf_concat(op, profile):
    import tensorflow as tf

    axis = tf.get_static_value(op.inputs[-1])
    rank = len(_tf_shape(op.outputs[0]) or [])
    return concat_verdict(axis is not None and rank == 4 and int(axis) % 4 == 3)


_TF_RULES: dict[str, Callable] = {
    "Placeholder": lambda op, profile: input_verdict(profile, _tf_shape(op.outputs[0]) or [], 3),
    "Conv2D": _tf_conv,
    "DepthwiseConv2dNative": _tf_depthwise,
    "BiasAdd": _passes("bias (fused into the conv)"),
    "Add": lambda op, profile: add_verdict(sum(_is_const(t) for t in op.inputs)),
    "Mul": _tf_mul,
    "FusedBatchNorm": _passes("batch norm (folded into the conv: foldBnInConv2D)"),
    "FusedBatchNormV2": _passes("batch norm (folded into the conv: foldBnInConv2D)"),
    "Relu": _passes("ReLU"),
    "Relu6": _passes("ReLU6"),
    "MaxPool": _tf_pool,
    "AvgPool": _tf_pool,
    "ConcatV2": _tf_concat,
    "Slice": _passes("slice"),
    "Squeeze": _tf_reshape,
    "Reshape": _tf_reshape,
    "Softmax": _passes("softmax"),
    "Mean": _tf_mean,
    "Identity": _passes("no-op (removed by optimize_for_inference)"),
}


def check_tf(graph_def_or_path, profile: str | DeviceProfile = "tda2x") -> TidlReport:
    """Checks a TF frozen GraphDef (or .pb path) node by node; Const nodes are not rows."""
    import tensorflow as tf

    profile = get_profile(profile) if isinstance(profile, str) else profile
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
        rule = _TF_RULES.get(op.type)
        status, reason = (
            rule(op, profile) if rule else _unsupported(op.type, _TF_UNSUPPORTED, "TensorFlow")
        )
        rows.append(Row(op.name, op.type, status, reason))
    return TidlReport(name, "tf", profile.name, rows)


# ---------------------------------------------------------------------------------------------
# ONNX


@dataclasses.dataclass
class _OnnxGraph:
    """Shapes and constants of an ONNX graph, for the rules."""

    shapes: dict[str, list[int | None]]
    constants: dict[str, np.ndarray]

    def shape(self, name: str) -> list[int | None] | None:
        return self.shapes.get(name)

    def in_hw(self, node) -> tuple[int | None, int | None]:
        shape = self.shape(node.input[0]) or [None] * 4
        return (shape[2], shape[3]) if len(shape) == 4 else (None, None)


def _onnx_graph(model) -> _OnnxGraph:
    import onnx
    from onnx import numpy_helper

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
    return _OnnxGraph(shapes, constants)


def _attr(node, name: str, default=None):
    import onnx

    for attribute in node.attribute:
        if attribute.name == name:
            return onnx.helper.get_attribute_value(attribute)
    return default


def _onnx_conv(node, graph: _OnnxGraph, profile):
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


def _onnx_pool(node, graph, profile):
    kernel = tuple(_attr(node, "kernel_shape"))
    return pool_verdict(kernel, tuple(_attr(node, "strides", [1, 1])), graph.in_hw(node))


def _onnx_gemm(node, graph, profile):
    weight = graph.constants.get(node.input[1])
    if weight is None:
        return FAIL, "Gemm weights are not constant"
    rows, cols = weight.shape
    in_features, out_features = (cols, rows) if _attr(node, "transB", 0) else (rows, cols)
    return inner_product_verdict(in_features, out_features)


def _onnx_concat(node, graph, profile):
    rank = len(graph.shape(node.output[0]) or [])
    return concat_verdict(rank == 4 and int(_attr(node, "axis", 0)) % 4 == 1)


_ONNX_RULES: dict[str, Callable] = {
    "Conv": _onnx_conv,
    "MaxPool": _onnx_pool,
    "AveragePool": _onnx_pool,
    "GlobalAveragePool": lambda node, graph, profile: global_pool_verdict(*graph.in_hw(node)),
    "Relu": _passes("ReLU"),
    "Concat": _onnx_concat,
    "Reshape": lambda node, graph, profile: reshape_verdict(
        graph.shape(node.input[0]), graph.shape(node.output[0]), node.input[1] in graph.constants
    ),
    "Transpose": lambda *_: (WARN, "Transpose: supported only where TIDL coalesces it"),
    "Add": lambda node, graph, profile: add_verdict(sum(i in graph.constants for i in node.input)),
    "Sum": _passes("element-wise sum"),
    "ArgMax": _passes("argmax"),
    "BatchNormalization": _passes("batch norm (folded into the conv: foldBnInConv2D)"),
    "Gemm": _onnx_gemm,
    "Softmax": _passes("softmax"),
    "Dropout": _passes("no-op at inference"),
}


def check_onnx(model_or_path, profile: str | DeviceProfile = "tda2x") -> TidlReport:
    """Checks an ONNX model (or path): its graph inputs, then every node (Constant excepted)."""
    import onnx

    profile = get_profile(profile) if isinstance(profile, str) else profile
    model, name = model_or_path, "ONNX model"
    if isinstance(model_or_path, (str, Path)):
        model, name = onnx.load(str(model_or_path)), str(model_or_path)
    graph = _onnx_graph(model)
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
        rule = _ONNX_RULES.get(node.op_type)
        status, reason = (
            rule(node, graph, profile)
            if rule
            else _unsupported(node.op_type, _ONNX_UNSUPPORTED, "ONNX")
        )
        rows.append(Row(node.name or node.output[0], node.op_type, status, reason))
    return TidlReport(name, "onnx", profile.name, rows)


def check_file(path: str | Path, profile: str | DeviceProfile = "tda2x") -> TidlReport:
    """check_tf for a .pb, check_onnx for a .onnx."""
    suffix = Path(path).suffix.lower()
    if suffix == ".pb":
        return check_tf(path, profile)
    if suffix == ".onnx":
        return check_onnx(path, profile)
    raise ValueError(
        f"{path}: TIDL on TDA2x imports a frozen .pb or .onnx (and Caffe), not "
        f"{suffix or 'this file'}"
    )


# ---------------------------------------------------------------------------------------------
# Import inputs: config and calibration frames

MODEL_TYPES = {1: "TensorFlow", 2: "ONNX"}  # 0 is Caffe, which this project does not export
IMPORT_KEYS = (
    "randParams", "modelType", "quantizationStyle", "quantRoundAdd", "numParamBits",
    "inElementType", "inWidth", "inHeight", "inNumChannels", "rawSampleInData",
    "numSampleInData", "foldBnInConv2D", "inputNetFile", "outputNetFile", "outputParamsFile",
    "sampleInData", "tidlStatsTool", "inMean", "inScale", "conv2dKernelType",
)  # fmt: skip
_U8_TO_UNIT = 1.0 / 255.0


def _numbers(values: Sequence[float]) -> str:
    return " ".join(f"{float(v):.10g}" for v in values)


def write_import_config(
    path: str | Path,
    *,
    model_path: str,
    model_type: int,
    input_shape: Sequence[int],
    num_sample_in_data: int,
    sample_in_data: str = "sample_in.raw",
    num_param_bits: int = 8,
    in_element_type: int = 0,
    in_mean: Sequence[float] | None = None,
    in_scale: Sequence[float] | None = None,
    quant_round_add: int = 50,
    conv2d_kernel_type: int = 1,
    output_net_file: str = "tidl_net.bin",
    output_params_file: str = "tidl_param.bin",
    tidl_stats_tool: str = "eve_test_dl_algo_ref.out",
) -> Path:
    """Writes the config of TIDL's `tidl_model_import.out` (tidl_import.txt).

    input_shape: (H, W, C) of the network input. The network takes float images in [0, 1] and
    TIDL is fed uint8 planar frames (inElementType 0), so the default input transform is
    float = (u8 - inMean) * inScale with inMean = 0 and inScale = 1/255 per channel (TIDL's
    mean-then-scale order). inputParamsFile names a Caffe .caffemodel; TF and ONNX files hold their
    weights, so the key is omitted. Paths are written as given (the import tool resolves them
    from its working directory). quantizationStyle is 1 (dynamic): the only style TDA2x runs.
    """
    if model_type not in MODEL_TYPES:
        raise ValueError(f"model_type must be 1 (TensorFlow) or 2 (ONNX), got {model_type}")
    if not 4 <= num_param_bits <= 12:
        raise ValueError(f"numParamBits must be in [4, 12], got {num_param_bits}")
    if in_element_type not in (0, 1):
        raise ValueError(f"inElementType must be 0 (u8) or 1 (s8), got {in_element_type}")
    if num_sample_in_data < 1:
        raise ValueError("numSampleInData must be >= 1")
    height, width, channels = (int(d) for d in input_shape)
    in_mean = [0.0] * channels if in_mean is None else list(in_mean)
    in_scale = [_U8_TO_UNIT] * channels if in_scale is None else list(in_scale)
    if len(in_mean) != channels or len(in_scale) != channels:
        raise ValueError(f"inMean/inScale need {channels} values (one per channel)")
    values = {
        "randParams": 0,
        "modelType": model_type,
        "quantizationStyle": 1,
        "quantRoundAdd": quant_round_add,
        "numParamBits": num_param_bits,
        "inElementType": in_element_type,
        "inWidth": width,
        "inHeight": height,
        "inNumChannels": channels,
        "rawSampleInData": 1,
        "numSampleInData": num_sample_in_data,
        "foldBnInConv2D": 1,
        "inputNetFile": f'"{model_path}"',
        "outputNetFile": f'"{output_net_file}"',
        "outputParamsFile": f'"{output_params_file}"',
        "sampleInData": f'"{sample_in_data}"',
        "tidlStatsTool": f'"{tidl_stats_tool}"',
        "inMean": _numbers(in_mean),
        "inScale": _numbers(in_scale),
        "conv2dKernelType": conv2d_kernel_type,
    }
    header = [
        f"# TIDL import config ({MODEL_TYPES[model_type]} model), written by deploy/tidl.py.",
        "# Input: uint8 planar frames (C planes of H x W per frame, numSampleInData frames in",
        "# sampleInData); the network expects float = (u8 - inMean) * inScale, i.e. [0, 1].",
        "# inputParamsFile is Caffe-only and omitted: the model file holds its weights.",
        "# conv2dKernelType: 0 sparse / 1 dense (per TIDL layer after import; one value here).",
    ]
    body = [f"{key} = {values[key]}" for key in IMPORT_KEYS]
    return atomic_write_text(path, "\n".join(header + body) + "\n")


def read_import_config(path: str | Path) -> dict[str, str]:
    """key -> raw value of a TIDL import config (comments skipped, quotes stripped)."""
    config = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            config[key.strip()] = value.strip().strip('"')
    return config


def images_to_uint8(images: np.ndarray) -> np.ndarray:
    """[0, 1] float images -> uint8 (the frames TIDL is fed)."""
    return np.round(np.clip(np.asarray(images, np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)


def write_sample_raw(path: str | Path, images_uint8: np.ndarray) -> Path:
    """TIDL calibration data: uint8 frames, planar (C x H x W per frame), back to back."""
    images = np.asarray(images_uint8)
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"need uint8 [N, H, W, C] frames, got {images.dtype} {images.shape}")
    return atomic_write_bytes(path, np.ascontiguousarray(images.transpose(0, 3, 1, 2)).tobytes())
