"""Search spaces as data: blocks whose kernel set, expansion and skip are ints or `Choice`s.

The same description builds the supernet (every `Choice` becomes a gate) and, once each choice is
resolved, the child (`ArchSpec`) — see `ednas_tf.model.build`. A space is always restricted by a
`DeviceProfile`, so every network the search can derive is one the target accepts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from ednas_tf.arch import ArchSpec, BlockSpec, ConvSpec
from ednas_tf.latency.profiles import DeviceProfile, get_profile


@dataclasses.dataclass(frozen=True)
class Choice:
    """A searchable decision between `values` (a single value is a constant, not a choice)."""

    values: tuple
    name: str = ""

    def __post_init__(self):
        if not self.values:
            raise ValueError(f"Choice {self.name!r} needs at least one value")
        object.__setattr__(self, "values", tuple(self.values))


def _values(x: Any) -> tuple:
    return x.values if isinstance(x, Choice) else (x,)


@dataclasses.dataclass(frozen=True)
class BlockSpace:
    """One inverted-residual block of a search space.

    kernel: a `Choice` over single kernel sizes (searched with a meta-kernel gate) or a fixed kernel
      set, e.g. (3,) or (3, 7) (parallel kernels, merged at deploy).
    expansion: a `Choice` over expansion ratios (> 1; searched with channel masks) or a number.
    skip: `Choice((False, True))` makes the whole block optional (gated identity); needs stride 1
      and equal in/out channels. False: the block is always there.
    joint: one gate over (kernel, expansion) pairs instead of two independent gates (step 2).
    """

    name: str
    channels: int
    stride: int
    kernel: Choice | tuple[int, ...]
    expansion: Choice | float
    skip: Choice | bool = False
    residual: bool = True
    joint: bool = False

    @property
    def kernel_options(self) -> list[tuple[int, ...]]:
        """Each option is a kernel set; a searched kernel offers single sizes."""
        if isinstance(self.kernel, Choice):
            return [(int(k),) for k in self.kernel.values]
        return [tuple(self.kernel)]

    @property
    def expansion_options(self) -> list[float]:
        return [float(e) for e in _values(self.expansion)]

    @property
    def searches_kernel(self) -> bool:
        return isinstance(self.kernel, Choice) and len(self.kernel.values) > 1

    @property
    def searches_expansion(self) -> bool:
        return isinstance(self.expansion, Choice) and len(self.expansion.values) > 1

    @property
    def searches_skip(self) -> bool:
        return isinstance(self.skip, Choice) and len(set(self.skip.values)) > 1

    @property
    def is_searchable(self) -> bool:
        return self.searches_kernel or self.searches_expansion or self.searches_skip

    def fixed(
        self,
        kernel: Sequence[int] | None = None,
        expansion: float | None = None,
        skip: bool = False,
    ) -> "BlockSpace":
        """A copy with the given decisions made (None: keep the current value/choice)."""
        return dataclasses.replace(
            self,
            kernel=tuple(sorted(kernel)) if kernel is not None else self.kernel,
            expansion=float(expansion) if expansion is not None else self.expansion,
            skip=skip,
        )

    @classmethod
    def from_spec(cls, spec: BlockSpec, name: str) -> "BlockSpace":
        return cls(
            name=name,
            channels=spec.channels,
            stride=spec.stride,
            kernel=spec.kernel,
            expansion=spec.expansion,
            skip=False,
            residual=spec.residual,
        )

    def validate(self) -> None:
        for e in self.expansion_options:
            if e < 1 or (self.searches_expansion and e <= 1):
                raise ValueError(
                    f"{self.name}: searched expansions must be > 1 (e1 means no expand conv), "
                    f"got {self.expansion_options}"
                )
        for option in self.kernel_options:
            if any(k % 2 == 0 or k < 1 for k in option):
                raise ValueError(f"{self.name}: kernel sizes must be odd, got {option}")


@dataclasses.dataclass(frozen=True)
class StageDef:
    """MobileNetV2-style stage: `repeats` blocks, the first one with `stride`."""

    channels: int
    repeats: int
    stride: int
    expansion: Choice | float


@dataclasses.dataclass
class SearchSpace:
    """A supernet description: stem, searchable blocks, head, restricted by a device profile."""

    input_shape: tuple[int, int, int]
    num_classes: int
    stem: ConvSpec
    blocks: list[BlockSpace]
    head: ConvSpec | None
    profile: DeviceProfile
    activation: str = "relu6"
    early_fraction: float = 0.5  # blocks whose input is >= this fraction of the input size: step 1

    def __post_init__(self):
        names = [b.name for b in self.blocks]
        if len(set(names)) != len(names):
            raise ValueError(f"block names must be unique, got {names}")
        self.blocks = [self.profile.restrict(b) for b in self.blocks]
        for b in self.blocks:
            b.validate()
        self.profile.check_activation(self.activation)

    def input_resolutions(self) -> list[tuple[int, int]]:
        """(H, W) of the feature map entering each block."""
        h, w = self.input_shape[:2]
        h, w = -(-h // self.stem.stride), -(-w // self.stem.stride)
        sizes = []
        for block in self.blocks:
            sizes.append((h, w))
            h, w = -(-h // block.stride), -(-w // block.stride)
        return sizes

    def early_block_names(self) -> list[str]:
        """High-resolution feature-extraction blocks, searched first (step 1)."""
        limit = self.early_fraction * self.input_shape[0]
        return [b.name for b, (h, _) in zip(self.blocks, self.input_resolutions()) if h >= limit]

    def replace_blocks(self, blocks: list[BlockSpace]) -> "SearchSpace":
        return dataclasses.replace(self, blocks=blocks)

    def step_space(
        self,
        step: int,
        fixed_kernels: dict[str, tuple[int, ...]] | None = None,
        default_kernel: int = 3,
    ) -> "SearchSpace":
        """The space searched in step 1 or step 2 of the two-step E-DNAS search.

        Step 1 searches only the kernel sets of the early (high-resolution) blocks; every other
        decision is held at a reference value (kernel `default_kernel`, largest expansion, no skip).
        Step 2 fixes the early kernels (from step 1's `fixed_kernels`, else `default_kernel`) and
        searches one joint (kernel, expansion) gate per remaining block, plus skips.
        """
        early = set(self.early_block_names())
        fixed_kernels = fixed_kernels or {}
        blocks = []
        for b in self.blocks:
            if step == 1:
                kernel = None if b.name in early else (default_kernel,)
                expansion = max(b.expansion_options)
                blocks.append(b.fixed(kernel=kernel, expansion=expansion, skip=False))
            elif step == 2:
                if b.name in early:
                    kernel = fixed_kernels.get(b.name, (default_kernel,))
                    blocks.append(b.fixed(kernel=kernel, skip=False))
                else:
                    blocks.append(dataclasses.replace(b, joint=True))
            else:
                raise ValueError(f"step must be 1 or 2, got {step}")
        return self.replace_blocks(blocks)

    def random_child(self, rng, skip_prob: float = 0.3) -> ArchSpec:
        """A uniformly random kernel option and expansion per block; blocks that may be skipped
        are skipped with `skip_prob` (rng: a numpy Generator). For latency checks and
        calibration, which need many plausible children."""
        decisions = {}
        for block in self.blocks:
            kernels, expansions = block.kernel_options, block.expansion_options
            decisions[block.name] = {
                "kernel": kernels[rng.integers(len(kernels))],
                "expansion": expansions[rng.integers(len(expansions))],
                "skip": bool(block.searches_skip and rng.random() < skip_prob),
            }
        return self.child(decisions)

    def child(self, decisions: dict[str, dict[str, Any]], **arch_fields) -> ArchSpec:
        """Resolves every choice; decisions[name] holds "kernel", "expansion" and "skip"."""
        blocks = []
        for b in self.blocks:
            d = decisions.get(b.name, {})
            if d.get("skip", False):
                continue
            kernel = d.get("kernel", b.kernel_options[0] if not b.searches_kernel else None)
            expansion = d.get(
                "expansion", b.expansion_options[0] if not b.searches_expansion else None
            )
            if kernel is None or expansion is None:
                raise ValueError(f"{b.name}: no decision for a searched choice")
            blocks.append(
                BlockSpec(
                    kernel=tuple(sorted(kernel)),
                    expansion=float(expansion),
                    channels=b.channels,
                    stride=b.stride,
                    residual=b.residual,
                )
            )
        return ArchSpec(
            input_shape=tuple(self.input_shape),
            num_classes=self.num_classes,
            stem=self.stem,
            blocks=blocks,
            head=self.head,
            activation=self.activation,
            device=self.profile.name,
            **arch_fields,
        )

    def largest_child(self) -> ArchSpec:
        """Every block at its largest kernel and expansion: the supernet's cost reference."""
        return self.child(
            {
                b.name: {
                    "kernel": (max(max(o) for o in b.kernel_options),),
                    "expansion": max(b.expansion_options),
                    "skip": False,
                }
                for b in self.blocks
            }
        )


def _round_channels(channels: float, divisor: int = 8) -> int:
    """MobileNet rounding: multiple of `divisor`, never below 90 % of the request."""
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * channels:
        rounded += divisor
    return rounded


def _stages_to_blocks(
    stages: Sequence[StageDef], kernels: Sequence[int], width: float, search_skip: bool
) -> list[BlockSpace]:
    blocks = []
    in_channels = None
    for s, stage in enumerate(stages, start=1):
        channels = _round_channels(stage.channels * width)
        for r in range(stage.repeats):
            stride = stage.stride if r == 0 else 1
            can_skip = search_skip and stride == 1 and in_channels == channels
            blocks.append(
                BlockSpace(
                    name=f"s{s}b{r + 1}",
                    channels=channels,
                    stride=stride,
                    kernel=Choice(tuple(kernels), name="kernel"),
                    expansion=stage.expansion,
                    skip=Choice((False, True), name="skip") if can_skip else False,
                )
            )
            in_channels = channels
    return blocks


_EXPANSIONS = Choice((3.0, 4.0, 6.0), name="expansion")

# Stage tables (channels, repeats, first stride, expansion). MobileNetV2's layout; for small inputs
# the early strides are 1 (the CIFAR variant) so the network still has spatial extent to search.
PRESET_STAGES: dict[str, tuple[int, tuple[StageDef, ...], int | None]] = {
    # name: (stem stride, stages, head channels)
    "small": (
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
    "tiny": (
        1,
        (
            StageDef(8, 1, 1, 1.0),
            StageDef(16, 2, 2, _EXPANSIONS),
            StageDef(24, 2, 2, _EXPANSIONS),
        ),
        None,
    ),
    "imagenet": (
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
    ),
}


def preset_space(
    preset: str = "small",
    *,
    input_shape: Sequence[int] = (32, 32, 3),
    num_classes: int = 10,
    profile: str | DeviceProfile = "tda2x",
    width: float = 1.0,
    kernels: Sequence[int] = (3, 5, 7),
    search_skip: bool = True,
    activation: str = "relu6",
) -> SearchSpace:
    """A MobileNetV2-style space: 'tiny' (tests), 'small' (28–64 px) or 'imagenet' (224 px)."""
    if preset not in PRESET_STAGES:
        raise ValueError(f"unknown preset {preset!r}; available: {sorted(PRESET_STAGES)}")
    if width <= 0:
        raise ValueError(f"width must be > 0, got {width}")
    stem_stride, stages, head_channels = PRESET_STAGES[preset]
    profile = get_profile(profile) if isinstance(profile, str) else profile
    stem_channels = (
        _round_channels(32 * width)
        if preset == "imagenet"
        else _round_channels(stages[0].channels * width * 2)
    )
    return SearchSpace(
        input_shape=tuple(int(d) for d in input_shape),
        num_classes=num_classes,
        stem=ConvSpec(kernel=3, channels=stem_channels, stride=stem_stride),
        blocks=_stages_to_blocks(stages, kernels, width, search_skip),
        head=ConvSpec(kernel=1, channels=_round_channels(head_channels * max(width, 1.0)))
        if head_channels
        else None,
        profile=profile,
        activation=activation,
    )
