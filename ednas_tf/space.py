"""Search spaces as data: blocks whose kernel set, expansion and skip are ints or `Choice`s.

The same description builds the supernet (every `Choice` becomes a gate) and, once each choice is
resolved, the child (`ArchSpec`) — see `ednas_tf.model.build`. A space is always restricted by a
device's `DeviceLimits` (a `DeviceProfile` is one), so every network the search can derive is one
the target accepts. The preset spaces (MobileNetV2-style stage tables) are `ednas_tf.presets`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from ednas_tf.arch import ArchSpec, BlockSpec, ConvSpec, ProjSpec
from ednas_tf.limits import DeviceLimits


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
    skip: `Choice((False, True))` makes the whole block optional (gated identity); where the block
      changes stride or width, the identity is a 1x1 conv + BN projection (a `proj_...` block in
      the child). False: the block is always there.
    joint: one gate over (kernel, expansion) pairs instead of two independent gates (step 2).
    pairs: the (kernel, expansion) pairs the block offers when kernel and expansion are coupled
      (NAS-Bench-Macro: (3, 3) and (5, 6)); implies `joint`. Empty: every combination.
    channels: output channels at the reference width (what step 1 and a fixed block use).
    channel_options: searched output widths (the supernet is built at the widest and masks the
      rest); one decision per `width_group`, shared by every block of the group, because a
      residual add needs equal channels on both sides. Empty: channels are fixed.
    """

    name: str
    channels: int
    stride: int
    kernel: Choice | tuple[int, ...]
    expansion: Choice | float
    skip: Choice | bool = False
    residual: bool = True
    joint: bool = False
    channel_options: tuple[int, ...] = ()
    width_group: str = ""
    pairs: tuple[tuple[int, float], ...] = ()

    def offers(self, kernel: Sequence[int], expansion: float) -> bool:
        """Whether (kernel set, expansion) is one of the block's options."""
        if not self.pairs:
            return True
        return len(kernel) == 1 and (int(kernel[0]), float(expansion)) in self.pairs

    @property
    def pair_options(self) -> list[tuple[tuple[int, ...], float]]:
        """Every (kernel set, expansion) the block offers."""
        return [
            (k, e)
            for k in self.kernel_options
            for e in self.expansion_options
            if self.offers(k, e)
        ]

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
    def searches_channels(self) -> bool:
        return len(self.channel_options) > 1

    @property
    def width_options(self) -> tuple[int, ...]:
        """The output channel counts this block can end up with (one when not searched)."""
        return self.channel_options if self.searches_channels else (self.channels,)

    @property
    def max_channels(self) -> int:
        """Channels the supernet is built with."""
        return max(self.width_options)

    @property
    def is_searchable(self) -> bool:
        return (
            self.searches_kernel
            or self.searches_expansion
            or self.searches_skip
            or self.searches_channels
        )

    def fixed(
        self,
        kernel: Sequence[int] | None = None,
        expansion: float | None = None,
        skip: bool = False,
        channels: int | None = None,
    ) -> "BlockSpace":
        """A copy with the given decisions made (None: keep the current value/choice)."""
        widths = {} if channels is None else {"channels": int(channels), "channel_options": ()}
        return dataclasses.replace(
            self,
            kernel=tuple(sorted(kernel)) if kernel is not None else self.kernel,
            expansion=float(expansion) if expansion is not None else self.expansion,
            skip=skip,
            **widths,
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
        if self.pairs and not self.pair_options:
            raise ValueError(f"{self.name}: none of the pairs {self.pairs} is offered")
        if self.searches_channels:
            if not self.width_group:
                raise ValueError(f"{self.name}: searched channels need a width_group")
            if list(self.channel_options) != sorted(set(self.channel_options)):
                raise ValueError(
                    f"{self.name}: channel options must be distinct and ascending, "
                    f"got {self.channel_options}"
                )
            if min(self.channel_options) < 1:
                raise ValueError(f"{self.name}: channel options must be >= 1")


def restrict_block(block: BlockSpace, limits: DeviceLimits) -> BlockSpace:
    """Drops the kernel options the device cannot run; refuses a block with none left."""
    if block.max_channels > limits.max_channels:
        raise ValueError(
            f"{block.name}: {block.max_channels} channels exceed the {limits.name} "
            f"limit of {limits.max_channels}"
        )
    options = [
        o for o in block.kernel_options if all(limits.allows_depthwise(k, block.stride) for k in o)
    ]
    if not options:
        raise ValueError(
            f"{block.name}: no kernel option {block.kernel_options} is allowed at "
            f"stride {block.stride} on {limits.name} "
            f"(allowed: {sorted(limits.depthwise)})"
        )
    pairs = tuple(p for p in block.pairs if (p[0],) in options)
    if block.pairs and not pairs:
        raise ValueError(f"{block.name}: no pair of {block.pairs} is allowed on {limits.name}")
    if isinstance(block.kernel, Choice):
        kernel = Choice(tuple(o[0] for o in options), name=block.kernel.name)
        return dataclasses.replace(block, kernel=kernel, pairs=pairs)
    return block


@dataclasses.dataclass
class SearchSpace:
    """A supernet description: stem, searchable blocks, head, restricted by a device's limits
    (`profile`: a `DeviceLimits`, e.g. a `DeviceProfile`)."""

    input_shape: tuple[int, int, int]
    num_classes: int
    stem: ConvSpec
    blocks: list[BlockSpace]
    head: ConvSpec | None
    profile: DeviceLimits
    activation: str | None = None  # None: the device's (`DeviceLimits.default_activation`)
    early_fraction: float = 0.5  # blocks whose input is >= this fraction of the input size: step 1

    def __post_init__(self):
        names = [b.name for b in self.blocks]
        if len(set(names)) != len(names):
            raise ValueError(f"block names must be unique, got {names}")
        # validated before the profile drops the kernels it cannot run, so a bad size is an
        # error rather than silently dropped
        for b in self.blocks:
            b.validate()
        self.blocks = [restrict_block(b, self.profile) for b in self.blocks]
        self._check_width_groups()
        self.activation = self.activation or self.profile.default_activation
        self.profile.check_activation(self.activation)

    def _check_width_groups(self) -> None:
        """A width group is a run of blocks sharing one channel decision; a residual or skip
        across a group boundary would add tensors of different widths."""
        seen: dict[str, tuple[int, ...]] = {}
        previous = None
        for block, in_options in zip(self.blocks, self.input_channel_options()):
            group = block.width_group if block.searches_channels else ""
            if group:
                if group in seen and (previous is None or previous.width_group != group):
                    raise ValueError(f"width group {group!r} must be one run of blocks")
                if seen.setdefault(group, block.channel_options) != block.channel_options:
                    raise ValueError(f"{block.name}: channel options differ within {group!r}")
            in_group = previous.width_group if previous and previous.searches_channels else ""
            adds_input = block.searches_skip or (
                block.residual and block.stride == 1 and max(in_options) == block.max_channels
            )
            if adds_input and (in_group or group) and in_group != group:
                raise ValueError(
                    f"{block.name}: adds its input (residual or skip) but its width group "
                    f"{group or None!r} differs from its input's {in_group or None!r}"
                )
            previous = block

    def input_channel_options(self) -> list[tuple[int, ...]]:
        """The channel counts each block's input can have (the previous block's widths)."""
        options, current = [], (self.stem.channels,)
        for block in self.blocks:
            options.append(current)
            current = block.width_options
        return options

    def width_groups(self) -> dict[str, tuple[int, ...]]:
        """Searched width groups, in network order, with their channel options."""
        groups: dict[str, tuple[int, ...]] = {}
        for block in self.blocks:
            if block.searches_channels:
                groups.setdefault(block.width_group, block.channel_options)
        return groups

    def input_resolutions(self) -> list[tuple[int, int]]:
        """(H, W) of the feature map entering each block."""
        h, w = self.input_shape[:2]
        h, w = -(-h // self.stem.stride), -(-w // self.stem.stride)
        sizes = []
        for block in self.blocks:
            sizes.append((h, w))
            h, w = -(-h // block.stride), -(-w // block.stride)
        return sizes

    def searches_early_kernels(self) -> bool:
        """Whether step 1 has anything to search (some early block offers several kernels)."""
        early = set(self.early_block_names())
        return any(b.searches_kernel for b in self.blocks if b.name in early)

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
        decision is held at a reference value (kernel `default_kernel` — or the block's smallest
        size when it does not offer that one —, largest expansion, no skip, reference width).
        Step 2 fixes the early kernels (from step 1's `fixed_kernels`, else that reference
        kernel) and searches one joint (kernel, expansion) gate per remaining block, every
        block's skip (the early ones' too: dropping a high-resolution block is the largest
        saving a skip offers, and a black-box search over the whole space can take it) and
        stage widths.
        """
        early = set(self.early_block_names())
        fixed_kernels = fixed_kernels or {}

        def reference_kernel(block: BlockSpace) -> tuple[int, ...]:
            options = block.kernel_options
            return (default_kernel,) if (default_kernel,) in options else min(options)

        blocks = []
        for b in self.blocks:
            if step == 1:
                kernel = None if b.name in early else reference_kernel(b)
                expansion = max(b.expansion_options)
                blocks.append(
                    b.fixed(kernel=kernel, expansion=expansion, skip=False, channels=b.channels)
                )
            elif step == 2:
                if b.name in early:
                    kernel = fixed_kernels.get(b.name, reference_kernel(b))
                    blocks.append(b.fixed(kernel=kernel, skip=b.skip))
                else:
                    blocks.append(dataclasses.replace(b, joint=True))
            else:
                raise ValueError(f"step must be 1 or 2, got {step}")
        return self.replace_blocks(blocks)

    def random_decisions(
        self, rng, skip_prob: float | None = 0.3
    ) -> dict[str, dict[str, Any]]:
        """A uniformly random kernel option and expansion per block and width per width group;
        blocks that may be skipped are skipped with `skip_prob` (None: the skip is one more
        option, as likely as each (kernel, expansion) pair: a uniform draw of the benchmark
        codes) (rng: a numpy Generator). The decisions `child()` takes, so a sampler can also
        mutate them."""
        widths = {
            g: options[rng.integers(len(options))] for g, options in self.width_groups().items()
        }
        decisions = {}
        for block in self.blocks:
            pairs = block.pair_options
            if block.pairs:
                kernel, expansion = pairs[rng.integers(len(pairs))]
            else:  # independent draws (the stream every seeded sampler has always used)
                kernels, expansions = block.kernel_options, block.expansion_options
                kernel = kernels[rng.integers(len(kernels))]
                expansion = expansions[rng.integers(len(expansions))]
            decisions[block.name] = {
                "kernel": kernel,
                "expansion": expansion,
                "skip": bool(
                    block.searches_skip
                    and rng.random()
                    < (1 / (len(pairs) + 1) if skip_prob is None else skip_prob)
                ),
                "channels": widths.get(block.width_group, block.channels),
            }
        return decisions

    def random_child(self, rng, skip_prob: float = 0.3) -> ArchSpec:
        """A child of `random_decisions`: for latency checks and calibration, which need many
        plausible children."""
        return self.child(self.random_decisions(rng, skip_prob))

    def child(self, decisions: dict[str, dict[str, Any]], **arch_fields) -> ArchSpec:
        """Resolves every choice; decisions[name] holds "kernel", "expansion", "skip" and, for a
        searched width, "channels" (equal across the block's width group)."""
        blocks = []
        group_channels: dict[str, int] = {}
        in_max, in_channels = self.stem.channels, self.stem.channels
        for b in self.blocks:
            d = decisions.get(b.name, {})
            supernet_in_max, in_max = in_max, b.max_channels
            if d.get("skip", False):
                if b.stride != 1 or supernet_in_max != b.max_channels:
                    # the identity of a block that changes shape is its projection (the
                    # supernet's shapes decide, as they decide its residual)
                    blocks.append(ProjSpec(channels=b.channels, stride=b.stride))
                    in_channels = b.channels
                continue
            kernel = d.get("kernel", b.kernel_options[0] if not b.searches_kernel else None)
            expansion = d.get(
                "expansion", b.expansion_options[0] if not b.searches_expansion else None
            )
            channels = d.get("channels", b.channels if not b.searches_channels else None)
            if kernel is None or expansion is None or channels is None:
                raise ValueError(f"{b.name}: no decision for a searched choice")
            if int(channels) not in b.width_options:
                raise ValueError(f"{b.name}: {channels} channels is not one of {b.width_options}")
            if not b.offers(tuple(kernel), expansion):
                raise ValueError(
                    f"{b.name}: (kernel {tuple(kernel)}, expansion {expansion:g}) is not one of "
                    f"its pairs {b.pairs}"
                )
            if b.searches_channels:
                shared = group_channels.setdefault(b.width_group, int(channels))
                if shared != int(channels):
                    raise ValueError(
                        f"{b.name}: width group {b.width_group!r} is {shared} channels, "
                        f"not {channels}"
                    )
            # The child adds its input only where the supernet did: two widths may coincide in
            # the child across a boundary where the supernet's widest ones differ.
            supernet_adds = b.residual and b.stride == 1 and supernet_in_max == b.max_channels
            child_adds = b.stride == 1 and in_channels == int(channels)
            blocks.append(
                BlockSpec(
                    kernel=tuple(sorted(kernel)),
                    expansion=float(expansion),
                    channels=int(channels),
                    stride=b.stride,
                    residual=supernet_adds or not child_adds,
                )
            )
            in_channels = int(channels)
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

    def _extreme_child(self, pick, skip: bool) -> ArchSpec:
        """Every block at the `pick` (min or max) of its kernels, expansions and widths; every
        block that may be skipped skipped when `skip`."""
        decisions = {}
        for b in self.blocks:
            kernel, expansion = pick(b.pair_options, key=lambda p: (max(p[0]), p[1]))
            decisions[b.name] = {
                "kernel": (pick(kernel),),
                "expansion": expansion,
                "skip": skip and b.searches_skip,
                "channels": pick(b.width_options),
            }
        return self.child(decisions)

    def largest_child(self) -> ArchSpec:
        """Every block at its largest kernel and expansion: the supernet's cost reference."""
        return self._extreme_child(max, skip=False)

    def smallest_child(self) -> ArchSpec:
        """Every block at its smallest kernel, expansion and width, every optional block skipped:
        the other end of the space's range."""
        return self._extreme_child(min, skip=True)
