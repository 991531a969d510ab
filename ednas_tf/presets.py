"""Preset search spaces: MobileNetV2-style stage tables turned into a `SearchSpace`.

`preset_space` builds 'tiny', 'small', 'small_hires', 'imagenet' or 'imagenet_paper' for a
device's limits, with optional searched stage widths; the space itself (choices, blocks,
restriction) is `ednas_tf.space`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ednas_tf.arch import ConvSpec
from ednas_tf.limits import DeviceLimits, builtin_limits
from ednas_tf.space import BlockSpace, Choice, SearchSpace


@dataclasses.dataclass(frozen=True)
class StageDef:
    """MobileNetV2-style stage: `repeats` blocks, the first one with `stride`."""

    channels: int
    repeats: int
    stride: int
    expansion: Choice | float


def _round_channels(channels: float, divisor: int = 8) -> int:
    """MobileNet rounding: multiple of `divisor`, never below 90 % of the request."""
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * channels:
        rounded += divisor
    return rounded


# Below this many channels a stage's width options round to multiples of 4, not 8: at width 0.5
# the first stage has 8 channels, and "1.25x" rounded to a multiple of 8 is 16 — a doubling at
# full resolution that the latency fit then buys instead of keeping blocks
# (docs/results/09-runs04-06-stage-widths.md).
FINE_ROUNDING_BELOW = 32


def _stage_width_options(
    request: float, channels: int, stage_widths: Sequence[float]
) -> tuple[int, ...]:
    """Channel counts a stage searches: its own `channels` (multiplier 1, rounded as without
    widths, so fixed children keep their shape) and `request` x each other multiplier; no
    multipliers: `channels` alone."""
    options = {channels}
    for multiplier in stage_widths:
        if multiplier != 1.0:
            scaled = request * multiplier
            options.add(_round_channels(scaled, 4 if scaled < FINE_ROUNDING_BELOW else 8))
    return tuple(sorted(options))


def _stages_to_blocks(
    stages: Sequence[StageDef],
    kernels: Sequence[int],
    width: float,
    search_skip: bool,
    stage_widths: Sequence[float],
    pairs: tuple[tuple[int, float], ...] = (),
    skip_every_block: bool = False,
) -> list[BlockSpace]:
    """Blocks of a stage table; with `stage_widths`, each stage searches its output channels
    (one width group per stage; a stage whose first block adds its input joins the previous
    stage's group)."""
    blocks = []
    in_channels, group = None, ""
    for s, stage in enumerate(stages, start=1):
        channels = _round_channels(stage.channels * width)
        options = _stage_width_options(stage.channels * width, channels, stage_widths)
        for r in range(stage.repeats):
            stride = stage.stride if r == 0 else 1
            adds_input = stride == 1 and in_channels == channels
            starts_group = r == 0 and not adds_input
            if starts_group:
                group = f"s{s}"
            blocks.append(
                BlockSpace(
                    name=f"s{s}b{r + 1}",
                    channels=channels,
                    stride=stride,
                    kernel=Choice(tuple(kernels), name="kernel"),
                    expansion=stage.expansion,
                    skip=Choice((False, True), name="skip")
                    if search_skip and (adds_input or skip_every_block)
                    else False,
                    # a group's first block never adds its input, even where the widest
                    # widths of two groups happen to be equal
                    residual=not (starts_group and len(options) > 1),
                    channel_options=options if len(options) > 1 else (),
                    width_group=group if len(options) > 1 else "",
                    joint=bool(pairs),
                    pairs=pairs,
                )
            )
            in_channels = channels
    return blocks


_EXPANSIONS = Choice((3.0, 4.0, 6.0), name="expansion")
# Depthwise kernel sizes a preset offers; the device profile drops those it cannot run (host: 7).
DEFAULT_KERNELS = (3, 5, 7)


@dataclasses.dataclass(frozen=True)
class PresetDef:
    """A preset's network: stem stride, stage table, head channels (None: no head conv), stem
    channels (None: twice the first stage's) and which blocks step 1 searches (those whose input
    side is at least `early_fraction` of the image's; `SearchSpace.early_fraction`)."""

    stem_stride: int
    stages: tuple[StageDef, ...]
    head: int | None
    stem_channels: int | None = None
    early_fraction: float = 0.5
    # coupled (kernel, expansion) options of every searched block (empty: kernels x expansions)
    pairs: tuple[tuple[int, float], ...] = ()
    # every block may be skipped, a block that changes shape then becomes a 1x1 projection
    skip_every_block: bool = False


# Stage tables (channels, repeats, first stride, expansion). MobileNetV2's layout; for small inputs
# the early strides are 1 (the CIFAR variant) so the network still has spatial extent to search.
PRESET_STAGES: dict[str, PresetDef] = {
    "small": PresetDef(
        1,
        (
            StageDef(16, 1, 1, 1.0),
            StageDef(24, 2, 2, _EXPANSIONS),
            StageDef(32, 3, 2, _EXPANSIONS),
            StageDef(64, 3, 2, _EXPANSIONS),
            StageDef(96, 2, 1, _EXPANSIONS),
        ),
        320,
    ),
    "tiny": PresetDef(
        1,
        (
            StageDef(8, 1, 1, 1.0),
            StageDef(16, 2, 2, _EXPANSIONS),
            StageDef(24, 2, 2, _EXPANSIONS),
        ),
        None,
    ),
    "imagenet": PresetDef(
        2,
        (
            StageDef(16, 1, 1, 1.0),
            StageDef(24, 2, 2, _EXPANSIONS),
            StageDef(32, 3, 2, _EXPANSIONS),
            StageDef(64, 4, 2, _EXPANSIONS),
            StageDef(96, 3, 1, _EXPANSIONS),
            StageDef(160, 3, 2, _EXPANSIONS),
            StageDef(320, 1, 1, _EXPANSIONS),
        ),
        1280,
        stem_channels=32,
    ),
}


def _first_stride_moved_last(preset: PresetDef) -> PresetDef:
    """`preset` with its first strided stage at stride 1 and its last stage strided instead:
    the stages between run at twice the side and the network ends at the same resolution."""
    stages = preset.stages
    first = next(i for i, stage in enumerate(stages) if stage.stride == 2)
    moved = [
        dataclasses.replace(
            stage, stride=1 if i == first else 2 if i == len(stages) - 1 else stage.stride
        )
        for i, stage in enumerate(stages)
    ]
    return dataclasses.replace(preset, stages=tuple(moved))


# `small` with stage 2 at full resolution (ending at the same 4x4 at 32 px). Its children cost
# ~3x the host latency of `small`'s, little more on the TDA2x model (per-layer overhead dominates
# there), and are more accurate on Fashion-MNIST
# (docs/results/19-run16-capacity-resolution-hires.md)
PRESET_STAGES["small_hires"] = _first_stride_moved_last(PRESET_STAGES["small"])


def _scaled_stages(stages: Sequence[StageDef], factor: float) -> tuple[StageDef, ...]:
    """`stages` with every stage's channels times `factor`, rounded as `width` rounds them."""
    return tuple(
        dataclasses.replace(s, channels=_round_channels(s.channels * factor)) for s in stages
    )


# The E-DNAS paper's ImageNet setting (docs/PAPER_SETTING.md): a space whose range holds children
# of the paper's network's size (5.9 M parameters, 535 MMACs). MobileNetV2 1.4's channels (585
# MMACs: the nearest classic network), the head at TIDL's 1024-channel limit instead of 1792
# (about 1.1 M parameters fewer in head and classifier), stage 6 (160 channels at width 1) two
# blocks deeper to give parameters back for few MACs (at 7x7), and step 1 searching the kernels
# of every block whose input is at least 56 px (a quarter of 224): at 112 px the only stride-1
# block is the first, and TDA2x runs depthwise kernels above 3x3 at stride 1 only, so half the
# input side would leave step 1 one block to search.
_IMAGENET = PRESET_STAGES["imagenet"]
PAPER_WIDTH = 1.4
PRESET_STAGES["imagenet_paper"] = PresetDef(
    2,
    _scaled_stages(
        [
            dataclasses.replace(s, repeats=s.repeats + 2) if s.channels == 160 else s
            for s in _IMAGENET.stages
        ],
        PAPER_WIDTH,
    ),
    1024,
    stem_channels=_round_channels(32 * PAPER_WIDTH),
    early_fraction=0.25,
)


# NAS-Bench-Macro's space (Su et al., "Prioritized Architecture Sampling with Monte-Carlo Tree
# Search", CVPR 2021; public repository xiusu/NAS-Bench-Macro): a 3x3 stem to 32 channels at full
# resolution, three stages of 2, 3 and 3 layers, each first layer downsampling and doubling the
# channels, every layer one of identity, (3x3, expansion 3) and (5x5, expansion 6), then a 1x1 conv
# to 1280. Its table holds the CIFAR-10 accuracy of all 6,561 children (docs/NB_MACRO.md); no
# block is "early" (kernel and expansion are coupled), so the search is step 2 alone.
NB_MACRO_PAIRS = ((3, 3.0), (5, 6.0))
_NB_EXPANSION = Choice((3.0, 6.0), name="expansion")
PRESET_STAGES["nb_macro"] = PresetDef(
    1,
    (
        StageDef(64, 2, 2, _NB_EXPANSION),
        StageDef(128, 3, 2, _NB_EXPANSION),
        StageDef(256, 3, 2, _NB_EXPANSION),
    ),
    1280,
    stem_channels=32,
    early_fraction=float("inf"),
    pairs=NB_MACRO_PAIRS,
    skip_every_block=True,
)


def preset_space(
    preset: str = "small",
    *,
    input_shape: Sequence[int] = (32, 32, 3),
    num_classes: int = 10,
    profile: str | DeviceLimits = "tda2x",
    width: float = 1.0,
    kernels: Sequence[int] = DEFAULT_KERNELS,
    search_skip: bool = True,
    activation: str | None = None,
    stage_widths: Sequence[float] = (),
) -> SearchSpace:
    """A MobileNetV2-style space: 'tiny' (tests), 'small' (28–64 px), 'small_hires' (the same
    with stage 2 at full resolution), 'imagenet' (224 px), 'imagenet_paper' (224 px, the E-DNAS
    paper's network size within its range) or 'nb_macro' (NAS-Bench-Macro's space, 32 px; its
    coupled pairs replace `kernels`).

    kernels: depthwise sizes every block offers (one size: kernels are not searched, and the
    two-step search has no step 1); the device profile drops the sizes it cannot run.
    profile: the device's limits (a `DeviceProfile` or `DeviceLimits`), or the name of a built-in
    device (`ednas_tf.limits.BUILTIN`: tda2x, host, macs); a measured table's profile is passed
    as `ednas_tf.profiles.get_profile("lut:<path>")`.
    activation: relu or relu6; None: the device's default (relu on tda2x, whose ONNX import
    lacks ReLU6's Clip; relu6 on host).
    stage_widths: multipliers of each stage's channels to search (e.g. 0.75, 1, 1.25), on top of
    `width`; empty: every stage keeps its channels. The reference width 1 is always an option
    (step 1 searches at it).
    """
    if preset not in PRESET_STAGES:
        raise ValueError(f"unknown preset {preset!r}; available: {sorted(PRESET_STAGES)}")
    if width <= 0:
        raise ValueError(f"width must be > 0, got {width}")
    kernels = tuple(sorted({int(k) for k in kernels}))
    if not kernels:
        raise ValueError("kernels names no kernel size")
    if any(not w > 0 for w in stage_widths):
        raise ValueError(f"stage widths must be > 0, got {list(stage_widths)}")
    stage_widths = tuple(sorted({1.0, *(float(w) for w in stage_widths)})) if stage_widths else ()
    definition = PRESET_STAGES[preset]
    if definition.pairs:  # the preset's coupled pairs decide its kernels
        kernels = tuple(sorted({k for k, _ in definition.pairs}))
    profile = builtin_limits(profile) if isinstance(profile, str) else profile
    stem_channels = definition.stem_channels or definition.stages[0].channels * 2
    head_channels = definition.head
    return SearchSpace(
        input_shape=tuple(int(d) for d in input_shape),
        num_classes=num_classes,
        stem=ConvSpec(
            kernel=3, channels=_round_channels(stem_channels * width), stride=definition.stem_stride
        ),
        blocks=_stages_to_blocks(
            definition.stages,
            kernels,
            width,
            search_skip,
            stage_widths,
            definition.pairs,
            definition.skip_every_block,
        ),
        head=ConvSpec(kernel=1, channels=_round_channels(head_channels * max(width, 1.0)))
        if head_channels
        else None,
        profile=profile,
        activation=activation,
        early_fraction=definition.early_fraction,
    )
