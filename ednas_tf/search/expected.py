"""The differentiable expected latency of a supernet (what the search step minimises).

The supernet's expected latency is
`stem + Σ_blocks [(1 − p_skip) · Σ_{i,o,k,e} W[i,o] · P[k,e] · L[i,o,k,e] + p_skip · S]
 + Σ_o p_last[o] · tail[o]`
with `L` the latency model's cost of each (input width, output width, kernel set, expansion)
option, `P` the block's joint gate probabilities, `W` those of the width gates and `S` the cost of
the skip path (0 for the identity, a 1x1 conv where the block changes shape). With one-hot gates
it equals the child's latency exactly.
"""

from __future__ import annotations

import tensorflow as tf

from ednas_tf.cost.base import LatencyModel
from ednas_tf.cost.network import stem_config, tail_configs
from ednas_tf.model import searchable_blocks, width_gates


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
        stem = stem_config(space.input_shape, space.stem)
        tails = [
            tail_configs(space.head, c, space.num_classes, final_hw) for c in last.channel_options
        ]
        options = [block.option_configs() for block in self.blocks]
        shortcuts = [block.shortcut_config() for block in self.blocks]
        latency_model.prepare(
            [
                stem,
                *(c for tail in tails for c in tail),
                *(c for o in options for c in _flat(o)),
                *filter(None, shortcuts),
            ]
        )
        self.skip_ms = [
            0.0 if c is None else float(latency_model.conv_latency(c)) for c in shortcuts
        ]
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
        for block, table, skip_ms in zip(self.blocks, self.tables, self.skip_ms):
            block_ms = tf.einsum(
                "io,ke,ioke->", self._pair_probs(block), block.joint_probs(), table
            )
            p_skip = block.skip_prob()
            total += (1.0 - p_skip) * block_ms + p_skip * skip_ms
        tail_probs = self._width_probs(self.blocks[-1].width_group)
        return total + tf.reduce_sum(tail_probs * self.tail_ms)

    def bounds(self) -> tuple[float, float]:
        """Smallest and largest latency any child of this supernet can have (latency grows with
        channels, so the extremes are at the narrowest and widest widths)."""
        low = self.fixed_ms + float(self.tail_ms[0])
        high = self.fixed_ms + float(self.tail_ms[-1])
        for block, table, skip_ms in zip(self.blocks, self.tables, self.skip_ms):
            values = table.numpy()
            cheapest = float(values[0, 0].min())
            low += min(cheapest, skip_ms) if block.search_skip else cheapest
            high += max(float(values[-1, -1].max()), skip_ms)
        return low, high


def _flat(nested) -> list:
    return (
        [leaf for item in nested for leaf in _flat(item)] if isinstance(nested, list) else [nested]
    )


def _nested_map(fn, nested):
    return [_nested_map(fn, item) for item in nested] if isinstance(nested, list) else fn(nested)
