"""What a child network, or any child of a search space, costs under a latency model.

The configurations (`ednas_tf.geometry`) of a child's stem, blocks, head and classifier, walking
its shapes (`arch_configs`), and of every option of every block of a space
(`space_option_configs`); a child's latency is the sum of its configurations' costs
(`child_latency`), and a space's extremes need no model built (`space_latency_bounds`). The
differentiable expected latency of a supernet is `ednas_tf.search.expected`.
"""

from __future__ import annotations

from ednas_tf.arch import ArchSpec, ProjSpec
from ednas_tf.cost.base import LatencyModel
from ednas_tf.geometry import BlockConfig, ConvConfig


def stem_config(input_shape, stem) -> ConvConfig:
    h, w, c = input_shape
    return ConvConfig(h, w, c, stem.channels, stem.kernel, stem.stride)


def tail_configs(
    head, last_channels: int, num_classes: int, final_hw: tuple[int, int]
) -> list[ConvConfig]:
    """Head conv (if any) and classifier after the last block."""
    configs, channels = [], last_channels
    if head is not None:
        configs.append(
            ConvConfig(
                final_hw[0], final_hw[1], last_channels, head.channels, head.kernel, head.stride
            )
        )
        channels = head.channels
        final_hw = configs[-1].out_hw
    configs.append(
        ConvConfig(final_hw[0], final_hw[1], channels, num_classes, 1, 1, kind="classifier")
    )
    return configs


def _fixed_configs(
    input_shape, stem, head, last_channels: int, num_classes: int, final_hw: tuple[int, int]
) -> list[ConvConfig]:
    return [
        stem_config(input_shape, stem),
        *tail_configs(head, last_channels, num_classes, final_hw),
    ]


def arch_configs(arch: ArchSpec) -> tuple[list[ConvConfig], list[BlockConfig | ConvConfig]]:
    """The stem/head/classifier configs and block configs of a child, walking its shapes (a
    `proj_...` block is a 1x1 `ConvConfig`)."""
    h, w, _ = arch.input_shape
    h, w = -(-h // arch.stem.stride), -(-w // arch.stem.stride)
    channels = arch.stem.channels
    blocks: list[BlockConfig | ConvConfig] = []
    for spec in arch.blocks:
        if isinstance(spec, ProjSpec):
            projection = ConvConfig(h, w, channels, spec.channels, 1, spec.stride)
            blocks.append(projection)
            (h, w), channels = projection.out_hw, spec.channels
            continue
        config = BlockConfig(
            h,
            w,
            channels,
            spec.channels,
            spec.stride,
            tuple(spec.kernel),
            spec.expansion,
            spec.residual,
        )
        blocks.append(config)
        (h, w), channels = config.out_hw, spec.channels
    fixed = _fixed_configs(
        arch.input_shape, arch.stem, arch.head, channels, arch.num_classes, (h, w)
    )
    return fixed, blocks


def child_latency(arch: ArchSpec, model: LatencyModel) -> float:
    """Predicted latency (ms) of a child network."""
    fixed, blocks = arch_configs(arch)
    model.prepare([*fixed, *blocks])
    return sum(model.conv_latency(c) for c in fixed) + sum(config_latency(model, b) for b in blocks)


def config_latency(model: LatencyModel, config: BlockConfig | ConvConfig) -> float:
    """A block's or a plain conv's latency (a child's blocks may be projections)."""
    if isinstance(config, ConvConfig):
        return model.conv_latency(config)
    return model.block_latency(config)


def space_option_configs(space) -> tuple[list[ConvConfig], list[list[BlockConfig]]]:
    """Stem/head/classifier configs (the head at every last width), and per block the config of
    every (input width, output width, kernel, expansion) option.

    No choice changes a block's input resolution (a skippable block keeps its shape), so all
    options of a block share the resolution `space.input_resolutions()` gives it.
    """
    if not space.blocks:
        raise ValueError("the search space has no blocks")
    options = []
    in_max = space.stem.channels
    for block, (h, w), in_channels in zip(
        space.blocks, space.input_resolutions(), space.input_channel_options()
    ):
        # the residual exists where the widest shapes agree (as in the supernet's block)
        residual = block.residual and block.stride == 1 and in_max == block.max_channels
        options.append(
            [
                BlockConfig(h, w, c_in, c_out, block.stride, kernel, e, residual)
                for c_in in in_channels
                for c_out in block.width_options
                for kernel in block.kernel_options
                for e in block.expansion_options
                if block.offers(kernel, e)
            ]
        )
        in_max = block.max_channels
    final_hw = options[-1][0].out_hw
    fixed = [stem_config(space.input_shape, space.stem)]
    for channels in space.blocks[-1].width_options:
        fixed += tail_configs(space.head, channels, space.num_classes, final_hw)
    return fixed, options


def skip_configs(space) -> list[ConvConfig | None]:
    """Per block, the projection a skipped block becomes where it changes shape (None: the skip
    is the identity and costs nothing, or the block cannot be skipped)."""
    configs = []
    for block, (h, w), in_channels in zip(
        space.blocks, space.input_resolutions(), space.input_channel_options()
    ):
        changes = block.stride != 1 or max(in_channels) != block.max_channels
        configs.append(
            ConvConfig(h, w, max(in_channels), block.max_channels, 1, block.stride)
            if block.searches_skip and changes
            else None
        )
    return configs


def space_latency_bounds(space, latency_model: LatencyModel) -> tuple[float, float]:
    """Smallest and largest latency of any child of a search space (no model needs building):
    every block at its narrowest (widest) width and cheapest (dearest) option."""
    fixed, options = space_option_configs(space)
    skips = skip_configs(space)
    latency_model.prepare(
        [*fixed, *(cfg for configs in options for cfg in configs), *filter(None, skips)]
    )
    stem_ms = latency_model.conv_latency(fixed[0])
    widths = space.blocks[-1].width_options
    last_hw = options[-1][0].out_hw
    low = stem_ms + _tail_ms(space, min(widths), last_hw, latency_model)
    high = stem_ms + _tail_ms(space, max(widths), last_hw, latency_model)
    in_channels = space.input_channel_options()
    for block, configs, c_ins, skip in zip(space.blocks, options, in_channels, skips):
        narrow = [
            c for c in configs if c.c_in == min(c_ins) and c.c_out == min(block.width_options)
        ]
        wide = [c for c in configs if c.c_in == max(c_ins) and c.c_out == block.max_channels]
        cheapest = min(map(latency_model.block_latency, narrow))
        skip_ms = 0.0 if skip is None else latency_model.conv_latency(skip)
        low += min(cheapest, skip_ms) if block.searches_skip else cheapest
        high += max(max(map(latency_model.block_latency, wide)), skip_ms)
    return low, high


def _tail_ms(space, channels: int, final_hw, latency_model: LatencyModel) -> float:
    tail = tail_configs(space.head, channels, space.num_classes, final_hw)
    return sum(latency_model.conv_latency(c) for c in tail)


def fixed_latency(space, last_channels: int, latency_model: LatencyModel) -> float:
    """Latency of what no block decision changes: stem, and head + classifier after a last block
    of `last_channels` channels."""
    h, w = space.input_resolutions()[-1]
    stride = space.blocks[-1].stride
    final_hw = (-(-h // stride), -(-w // stride))
    stem = stem_config(space.input_shape, space.stem)
    latency_model.prepare(
        [stem, *tail_configs(space.head, last_channels, space.num_classes, final_hw)]
    )
    return latency_model.conv_latency(stem) + _tail_ms(
        space, last_channels, final_hw, latency_model
    )
