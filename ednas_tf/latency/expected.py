"""Latency of a child, and the differentiable expected latency of a supernet.

The supernet's expected latency is
`stem + Σ_blocks (1 − p_skip) · Σ_{i,o,k,e} W[i,o] · P[k,e] · L[i,o,k,e] + Σ_o p_last[o] · tail[o]`
with `L` the latency model's cost of each (input width, output width, kernel set, expansion)
option, `P` the block's joint gate probabilities and `W` those of the width gates. With one-hot
gates it equals the child's latency exactly.
"""

from __future__ import annotations

import tensorflow as tf

from ednas_tf.arch import ArchSpec
from ednas_tf.latency.base import BlockConfig, ConvConfig, LatencyModel
from ednas_tf.model import searchable_blocks, width_gates


def _stem_config(input_shape, stem) -> ConvConfig:
    h, w, c = input_shape
    return ConvConfig(h, w, c, stem.channels, stem.kernel, stem.stride)


def _tail_configs(
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
        _stem_config(input_shape, stem),
        *_tail_configs(head, last_channels, num_classes, final_hw),
    ]


def arch_configs(arch: ArchSpec) -> tuple[list[ConvConfig], list[BlockConfig]]:
    """The stem/head/classifier configs and block configs of a child, walking its shapes."""
    h, w, _ = arch.input_shape
    h, w = -(-h // arch.stem.stride), -(-w // arch.stem.stride)
    channels = arch.stem.channels
    blocks = []
    for spec in arch.blocks:
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
    return sum(model.conv_latency(c) for c in fixed) + sum(model.block_latency(b) for b in blocks)


class ExpectedLatency:
    """Differentiable expected latency of a built supernet (also valid for a child).

    Call it inside the architecture step: the result is a scalar tensor whose gradient reaches
    every gate's logits. A block's cost table is indexed [input width, output width, kernel,
    expansion]; inside a width group both widths are the group's one decision (the diagonal),
    across a boundary they are two independent gates. The head's cost follows the last width.
    """

    def __init__(self, supernet: tf.keras.Model, space, latency_model: LatencyModel):
        self.latency_model = latency_model
        self.blocks = searchable_blocks(supernet)
        if not self.blocks:
            raise ValueError("the model has no inverted-residual blocks to cost")
        self.width_gates = width_gates(supernet)
        last = self.blocks[-1]
        final_hw = (-(-last.in_hw[0] // last.stride), -(-last.in_hw[1] // last.stride))
        stem = _stem_config(space.input_shape, space.stem)
        tails = [
            _tail_configs(space.head, c, space.num_classes, final_hw) for c in last.channel_options
        ]
        options = [block.option_configs() for block in self.blocks]
        latency_model.prepare(
            [stem, *(c for tail in tails for c in tail), *(c for o in options for c in _flat(o))]
        )
        self.fixed_ms = float(latency_model.conv_latency(stem))
        self.tail_ms = tf.constant(
            [sum(latency_model.conv_latency(c) for c in tail) for tail in tails], tf.float32
        )
        self.tables = [
            tf.constant(_nested_map(latency_model.block_latency, o), dtype=tf.float32)
            for o in options
        ]

    def _width_probs(self, group: str) -> tf.Tensor:
        return self.width_gates[group].probs() if group else tf.ones((1,))

    def _pair_probs(self, block) -> tf.Tensor:
        """P[input width, output width] of one block."""
        if block.in_width_group and block.in_width_group == block.width_group:
            return tf.linalg.diag(self._width_probs(block.width_group))
        p_in, p_out = self._width_probs(block.in_width_group), self._width_probs(block.width_group)
        return p_in[:, None] * p_out[None, :]

    def __call__(self) -> tf.Tensor:
        total = tf.constant(self.fixed_ms, tf.float32)
        for block, table in zip(self.blocks, self.tables):
            block_ms = tf.einsum(
                "io,ke,ioke->", self._pair_probs(block), block.joint_probs(), table
            )
            total += (1.0 - block.skip_prob()) * block_ms
        tail_probs = self._width_probs(self.blocks[-1].width_group)
        return total + tf.reduce_sum(tail_probs * self.tail_ms)

    def bounds(self) -> tuple[float, float]:
        """Smallest and largest latency any child of this supernet can have (latency grows with
        channels, so the extremes are at the narrowest and widest widths)."""
        low = self.fixed_ms + float(self.tail_ms[0])
        high = self.fixed_ms + float(self.tail_ms[-1])
        for block, table in zip(self.blocks, self.tables):
            values = table.numpy()
            low += 0.0 if block.search_skip else float(values[0, 0].min())
            high += float(values[-1, -1].max())
        return low, high


def _flat(nested) -> list:
    return (
        [leaf for item in nested for leaf in _flat(item)] if isinstance(nested, list) else [nested]
    )


def _nested_map(fn, nested):
    return [_nested_map(fn, item) for item in nested] if isinstance(nested, list) else fn(nested)


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
            ]
        )
        in_max = block.max_channels
    final_hw = options[-1][0].out_hw
    fixed = [_stem_config(space.input_shape, space.stem)]
    for channels in space.blocks[-1].width_options:
        fixed += _tail_configs(space.head, channels, space.num_classes, final_hw)
    return fixed, options


def space_latency_bounds(space, latency_model: LatencyModel) -> tuple[float, float]:
    """Smallest and largest latency of any child of a search space (no model needs building):
    every block at its narrowest (widest) width and cheapest (dearest) option."""
    fixed, options = space_option_configs(space)
    latency_model.prepare([*fixed, *(cfg for configs in options for cfg in configs)])
    stem_ms = latency_model.conv_latency(fixed[0])
    widths = space.blocks[-1].width_options
    last_hw = options[-1][0].out_hw
    low = stem_ms + _tail_ms(space, min(widths), last_hw, latency_model)
    high = stem_ms + _tail_ms(space, max(widths), last_hw, latency_model)
    in_channels = space.input_channel_options()
    for block, configs, c_ins in zip(space.blocks, options, in_channels):
        narrow = [
            c for c in configs if c.c_in == min(c_ins) and c.c_out == min(block.width_options)
        ]
        wide = [c for c in configs if c.c_in == max(c_ins) and c.c_out == block.max_channels]
        low += 0.0 if block.searches_skip else min(map(latency_model.block_latency, narrow))
        high += max(map(latency_model.block_latency, wide))
    return low, high


def _tail_ms(space, channels: int, final_hw, latency_model: LatencyModel) -> float:
    tail = _tail_configs(space.head, channels, space.num_classes, final_hw)
    return sum(latency_model.conv_latency(c) for c in tail)


def fixed_latency(space, last_channels: int, latency_model: LatencyModel) -> float:
    """Latency of what no block decision changes: stem, and head + classifier after a last block
    of `last_channels` channels."""
    h, w = space.input_resolutions()[-1]
    stride = space.blocks[-1].stride
    final_hw = (-(-h // stride), -(-w // stride))
    stem = _stem_config(space.input_shape, space.stem)
    latency_model.prepare(
        [stem, *_tail_configs(space.head, last_channels, space.num_classes, final_hw)]
    )
    return latency_model.conv_latency(stem) + _tail_ms(
        space, last_channels, final_hw, latency_model
    )
