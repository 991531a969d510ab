"""Latency of a child, and the differentiable expected latency of a supernet.

The supernet's expected latency is `fixed + Σ_blocks (1 − p_skip) · Σ_{k,e} P[k,e] · L[k,e]` with
`L` the latency model's cost of each (kernel set, expansion) option and `P` the gates'
deterministic joint probabilities. With one-hot gates it equals the child's latency exactly.
"""

from __future__ import annotations

import tensorflow as tf

from ednas_tf.arch import ArchSpec
from ednas_tf.latency.base import BlockConfig, ConvConfig, LatencyModel
from ednas_tf.layers.blocks import InvertedResidual


def _fixed_configs(
    input_shape, stem, head, last_channels: int, num_classes: int, final_hw: tuple[int, int]
) -> list[ConvConfig]:
    h, w, c = input_shape
    configs = [ConvConfig(h, w, c, stem.channels, stem.kernel, stem.stride)]
    channels = last_channels
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
    every gate's logits.
    """

    def __init__(self, supernet: tf.keras.Model, space, latency_model: LatencyModel):
        self.latency_model = latency_model
        self.blocks = [layer for layer in supernet.layers if isinstance(layer, InvertedResidual)]
        if not self.blocks:
            raise ValueError("the model has no inverted-residual blocks to cost")
        last = self.blocks[-1]
        out_h, out_w = -(-last.in_hw[0] // last.stride), -(-last.in_hw[1] // last.stride)
        fixed = _fixed_configs(
            space.input_shape,
            space.stem,
            space.head,
            last.channels,
            space.num_classes,
            (out_h, out_w),
        )
        options = [block.option_configs() for block in self.blocks]
        latency_model.prepare([*fixed, *(cfg for rows in options for row in rows for cfg in row)])
        self.fixed_ms = float(sum(latency_model.conv_latency(c) for c in fixed))
        self.tables = [
            tf.constant(
                [[latency_model.block_latency(cfg) for cfg in row] for row in rows],
                dtype=tf.float32,
            )
            for rows in options
        ]

    def __call__(self) -> tf.Tensor:
        total = tf.constant(self.fixed_ms, tf.float32)
        for block, table in zip(self.blocks, self.tables):
            block_ms = tf.reduce_sum(block.joint_probs() * table)
            total += (1.0 - block.skip_prob()) * block_ms
        return total

    def bounds(self) -> tuple[float, float]:
        """Smallest and largest latency any child of this supernet can have."""
        low = high = self.fixed_ms
        for block, table in zip(self.blocks, self.tables):
            values = table.numpy()
            low += 0.0 if block.search_skip else float(values.min())
            high += float(values.max())
        return low, high


def space_option_configs(space) -> tuple[list[ConvConfig], list[list[BlockConfig]]]:
    """Stem/head/classifier configs, and per block the config of every (kernel, expansion) option.

    No choice changes a block's input shape (a skippable block keeps its shape), so all options of
    a block share the resolution `space.input_resolutions()` gives it.
    """
    channels = space.stem.channels
    options = []
    for block, (h, w) in zip(space.blocks, space.input_resolutions()):
        options.append(
            [
                BlockConfig(h, w, channels, block.channels, block.stride, kernel, e, block.residual)
                for kernel in block.kernel_options
                for e in block.expansion_options
            ]
        )
        channels = block.channels
    if not options:
        raise ValueError("the search space has no blocks")
    final_hw = options[-1][0].out_hw
    fixed = _fixed_configs(
        space.input_shape, space.stem, space.head, channels, space.num_classes, final_hw
    )
    return fixed, options


def space_latency_bounds(space, latency_model: LatencyModel) -> tuple[float, float]:
    """Smallest and largest latency of any child of a search space (no model needs building)."""
    fixed, options = space_option_configs(space)
    latency_model.prepare([*fixed, *(cfg for configs in options for cfg in configs)])
    low = high = 0.0
    for block, configs in zip(space.blocks, options):
        costs = [latency_model.block_latency(cfg) for cfg in configs]
        low += 0.0 if block.searches_skip else min(costs)
        high += max(costs)
    fixed_ms = sum(latency_model.conv_latency(c) for c in fixed)
    return fixed_ms + low, fixed_ms + high
