"""The TIDL layer rules common to both import formats, and the device limits they apply.

Why shared: a convolution, a pooling or an input is the same TIDL layer whether it arrives as a
TF node or an ONNX node, so its limits are checked once here and the per-format modules
(`tf_rules`, `onnx_rules`) only read the layer's parameters out of their graph. The rules are the
Processor SDK Linux TIDL chapter's ("Constraints on layer parameters") and TI E2E threads'
(docs/TIDL.md); the channel, kernel and depthwise limits come from the device profile
(`ednas_tf.profiles`, `tda2x`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from deploy.tidl.report import FAIL, PASS, SEVERITY, WARN
from ednas_tf.profiles import DeviceProfile, get_profile

# TIDL layer constraints not held by the device profile (Processor SDK Linux TIDL, "Constraints
# on layer parameters").
CONV_STRIDES = (1, 2)
CONV_DILATIONS = (1, 2, 4)
POOL_STRIDES = (1, 2, 4)
GLOBAL_POOL_MAX = 64  # global pooling on feature maps up to 64x64
INNER_PRODUCT_MAX = 4096  # inner product: <= 4096 outputs, input size a multiple of 8
INNER_PRODUCT_ALIGN = 8

# Why an op fails, keyed by the op tables of both formats (tf_rules, onnx_rules).
REASONS = {
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

# Each rule collects its problems as (status, reason) pairs; the worst status is the layer's.
Problems = list[tuple[str, str]]
Verdict = tuple[str, str]  # (status, reason) of one layer


def _verdict(description: str, problems: Problems) -> Verdict:
    """The worst problem's status, with every reason, so one row names all a layer's faults."""
    if not problems:
        return PASS, description
    status = max((s for s, _ in problems), key=SEVERITY.__getitem__)
    return status, f"{description}: " + "; ".join(reason for _, reason in problems)


def _channel_problems(profile: DeviceProfile, **channels: int | None) -> Problems:
    """Channel counts over the profile's limit; an unknown count (None) is not held against."""
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
) -> Verdict:
    """Dense convolution: kernel <= 7x7, stride 1 or 2, dilation 1/2/4, <= 1024 channels."""
    problems = _kernel_problems(profile, kernel, dilations)
    if any(s not in CONV_STRIDES for s in strides):
        problems.append((FAIL, f"stride {strides} (TIDL: 1 or 2)"))
    problems += _channel_problems(profile, input=c_in, output=c_out)
    return _verdict(f"conv {kernel[0]}x{kernel[1]} s{strides[0]}, {c_in}->{c_out} ch", problems)


def _pairs(pairs: Iterable[tuple[int, int]]) -> str:
    """(kernel, stride) pairs as "3x3 s1, 5x5 s1": the reason names what is allowed."""
    return ", ".join(f"{k}x{k} s{s}" for k, s in sorted(pairs, key=lambda p: (p[1], p[0])))


def depthwise_verdict(
    profile: DeviceProfile,
    kernel: tuple[int, int],
    strides: tuple[int, int],
    dilations: tuple[int, int],
    channels: int | None,
    multiplier: int,
) -> Verdict:
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


def global_pool_verdict(height: int | None, width: int | None) -> Verdict:
    """Global pooling (a Mean, a GlobalAveragePool or a whole-map pool): maps up to 64x64."""
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
) -> Verdict:
    """Spatial pooling (stride 1/2/4); one whose window covers the whole map is global."""
    if tuple(kernel) == tuple(in_hw):
        return global_pool_verdict(*in_hw)
    problems: Problems = []
    if any(s not in POOL_STRIDES for s in strides):
        problems.append((FAIL, f"pooling stride {strides} (TIDL: 1, 2 or 4)"))
    return _verdict(f"pool {kernel[0]}x{kernel[1]} s{strides[0]}", problems)


def input_verdict(
    profile: DeviceProfile, shape: Sequence[int | None], channels_axis: int
) -> Verdict:
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
) -> Verdict:
    """A constant-shape reshape that only adds/removes size-1 axes moves no data: TIDL coalesces
    it. One that moves data is supported only where TIDL can coalesce it (before inner product or
    softmax)."""
    if not constant:
        return FAIL, REASONS["dynamic"]
    if in_shape is None or out_shape is None or None in (*in_shape, *out_shape):
        return WARN, "reshape of unknown shapes: supported only where TIDL coalesces it"
    if [d for d in in_shape if d != 1] == [d for d in out_shape if d != 1]:
        return PASS, f"reshape {list(in_shape)} -> {list(out_shape)} (drops size-1 axes)"
    return WARN, (
        f"reshape {list(in_shape)} -> {list(out_shape)} moves data: supported only "
        "where TIDL coalesces it (before inner product/softmax)"
    )


def add_verdict(num_constant_operands: int) -> Verdict:
    """Add of two layers passes; a constant operand imports only where it folds into a bias."""
    if num_constant_operands:
        return WARN, (
            "Add of a constant: TIDL's Add is an element-wise sum of two layers; a "
            "constant offset imports only where it folds into a bias"
        )
    return PASS, "element-wise add"


def concat_verdict(on_channels: bool) -> Verdict:
    """TIDL concatenates on the channel axis only (the caller knows its format's layout)."""
    if on_channels:
        return PASS, "concat on channels"
    return FAIL, "Concat only on the channel axis"


def inner_product_verdict(in_features: int | None, out_features: int | None) -> Verdict:
    """Inner product (ONNX Gemm): <= 4096 outputs, inputs a multiple of 8."""
    problems: Problems = []
    if out_features is not None and out_features > INNER_PRODUCT_MAX:
        problems.append((FAIL, f"{out_features} outputs exceed {INNER_PRODUCT_MAX}"))
    if in_features is not None and in_features % INNER_PRODUCT_ALIGN:
        problems.append(
            (FAIL, f"{in_features} inputs: TIDL needs a multiple of {INNER_PRODUCT_ALIGN}")
        )
    return _verdict(f"inner product {in_features}->{out_features}", problems)


def passes(description: str) -> Callable[..., Verdict]:
    """A rule for an op TIDL maps as is, whatever its parameters (either format's signature)."""
    return lambda *_: (PASS, description)


# Ops both formats map as is, with the same wording in either report.
BATCH_NORM = passes("batch norm (folded into the conv: foldBnInConv2D)")
RELU = passes("ReLU")
SOFTMAX = passes("softmax")


def unsupported(op: str, table: dict[str, str], fmt: str) -> Verdict:
    """The verdict on an op no rule maps: the table's reason, else "not in the op table"."""
    key = table.get(op)
    return FAIL, REASONS[key] if key else f"{op} is not in the TIDL {fmt} op table"


def resolve_profile(profile: str | DeviceProfile) -> DeviceProfile:
    """Callers name a profile ("tda2x") or pass one; the rules need the object."""
    return get_profile(profile) if isinstance(profile, str) else profile
