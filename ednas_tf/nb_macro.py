"""NAS-Bench-Macro's 8-character codes and the `nb_macro` space's children.

NAS-Bench-Macro (Su et al., CVPR 2021; public repository xiusu/NAS-Bench-Macro) names each
network of its space by one digit per searchable layer: `0` identity (a 1x1 conv + BN where the
layer downsamples), `1` inverted residual with a 3x3 depthwise and expansion 3, `2` with a 5x5
depthwise and expansion 6. Its table gives every code's CIFAR-10 accuracy, so a searched child is
scored by looking its code up. An identity inside a stage removes the layer, so codes that differ
only in where a stage's identities sit are one network; the benchmark stores each under every
code with the same figures, and `code_of` returns the canonical one (identities last in their
stage, as the benchmark's own training script names them).
"""

from __future__ import annotations

from collections.abc import Sequence

from ednas_tf.arch import ArchSpec, BlockSpec, ProjSpec
from ednas_tf.presets import NB_MACRO_PAIRS, PRESET_STAGES, preset_space
from ednas_tf.space import SearchSpace

DIGITS = "012"
# digit -> (kernel, expansion) of the inverted residual; "0" is the identity
OPS: dict[str, tuple[int, float]] = {
    str(i + 1): (kernel, expansion) for i, (kernel, expansion) in enumerate(NB_MACRO_PAIRS)
}
STAGE_LAYERS: tuple[int, ...] = tuple(s.repeats for s in PRESET_STAGES["nb_macro"].stages)
CODE_LENGTH = sum(STAGE_LAYERS)


def check_code(code: str) -> str:
    """`code` if it is a valid 8-digit code (ValueError naming what is wrong)."""
    if not isinstance(code, str) or len(code) != CODE_LENGTH or set(code) - set(DIGITS):
        raise ValueError(
            f"a NAS-Bench-Macro code is {CODE_LENGTH} digits of {DIGITS}, got {code!r}"
        )
    return code


def canonical_code(code: str) -> str:
    """The code with each stage's identities after its other layers (the same network)."""
    check_code(code)
    out, start = [], 0
    for length in STAGE_LAYERS:
        first, rest = code[start], code[start + 1 : start + length]
        kept = [d for d in rest if d != "0"]
        out.append(first + "".join(kept) + "0" * (len(rest) - len(kept)))
        start += length
    return "".join(out)


def nb_macro_space(
    input_shape: Sequence[int] = (32, 32, 3),
    num_classes: int = 10,
    width: float = 1.0,
    profile="macs",
    activation: str = "relu",
) -> SearchSpace:
    """The benchmark's space (at `width` for a cheaper proxy; width 1 is the benchmark's)."""
    return preset_space(
        "nb_macro",
        input_shape=input_shape,
        num_classes=num_classes,
        profile=profile,
        width=width,
        activation=activation,
    )


def decisions_of(space: SearchSpace, code: str) -> dict[str, dict]:
    """`SearchSpace.child` decisions of a code (one digit per block of the `nb_macro` space)."""
    check_code(code)
    if len(space.blocks) != CODE_LENGTH:
        raise ValueError(f"the space has {len(space.blocks)} blocks, a code {CODE_LENGTH}")
    decisions = {}
    for block, digit in zip(space.blocks, code):
        if digit == "0":
            decisions[block.name] = {"skip": True}
        else:
            kernel, expansion = OPS[digit]
            decisions[block.name] = {"kernel": (kernel,), "expansion": expansion, "skip": False}
    return decisions


def arch_of(code: str, space: SearchSpace | None = None) -> ArchSpec:
    """The child network of a code (in `space`, default the benchmark's own)."""
    space = space or nb_macro_space()
    return space.child(decisions_of(space, code))


def _digit(block: BlockSpec | ProjSpec) -> str:
    if isinstance(block, ProjSpec):
        return "0"
    pair = (block.kernel, block.expansion)
    for digit, (kernel, expansion) in OPS.items():
        if pair == ((kernel,), expansion):
            return digit
    raise ValueError(f"block {block.encode()} is not a NAS-Bench-Macro layer")


def code_of(arch: ArchSpec) -> str:
    """The canonical code of an `nb_macro` child (ValueError for another network): every stage
    starts at a stride-2 layer (a block or its projection); its other layers are the blocks kept
    until the next one, the rest of the stage identities."""
    stages: list[list[str]] = []
    for block in arch.blocks:
        if block.stride == 2:
            stages.append([])
        elif not stages:
            raise ValueError("not an nb_macro child: its first layer does not downsample")
        stages[-1].append(_digit(block))
    if len(stages) != len(STAGE_LAYERS):
        raise ValueError(
            f"not an nb_macro child: {len(stages)} stages, the benchmark has {len(STAGE_LAYERS)}"
        )
    code = ""
    for digits, length in zip(stages, STAGE_LAYERS):
        if len(digits) > length or "0" in digits[1:]:
            raise ValueError(f"not an nb_macro child: stage layers {digits} (at most {length})")
        code += "".join(digits) + "0" * (length - len(digits))
    return code
