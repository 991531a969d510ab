"""Copy supernet weights into a child: the first e·C channels and the chosen kernel branches.

Used to start a child from its supernet (after deriving) and, in tests, to show that a supernet
with one-hot gates computes exactly its child.
"""

from __future__ import annotations

from collections.abc import Mapping

import tensorflow as tf

from ednas_tf.layers.blocks import ConvBnAct, InvertedResidual, Projection

_BN_WEIGHTS = ("gamma", "beta", "moving_mean", "moving_variance")


def _copy_bn(
    src: tf.keras.layers.BatchNormalization, dst: tf.keras.layers.BatchNormalization, channels: int
) -> None:
    for name in _BN_WEIGHTS:
        getattr(dst, name).assign(getattr(src, name)[:channels])


def inherit_block(
    src: InvertedResidual, dst: InvertedResidual, kernel_scale: Mapping[int, float] | None = None
) -> None:
    """dst (a child block) takes src's weights; `kernel_scale[k]` scales branch k (default 1).

    A narrower child takes the first input rows and output columns: the supernet's width masks
    keep the first channels too."""
    if dst.stride != src.stride or dst.channels > src.channels or dst.c_in > src.c_in:
        raise ValueError(f"{dst.name}: shape mismatch with {src.name}")
    missing = set(dst.kernel_sizes) - set(src.kernel_sizes)
    if missing:
        raise ValueError(f"{src.name} has no kernel branch of size {sorted(missing)}")
    n, c_in, c_out = dst.hidden, dst.c_in, dst.channels
    if dst.has_expand:
        if not src.has_expand:
            raise ValueError(f"{src.name} has no expand conv to inherit")
        dst.expand.kernel.assign(src.expand.kernel[:, :, :c_in, :n])
        _copy_bn(src.expand_bn, dst.expand_bn, n)
    for size, kernel in zip(dst.kernel_sizes, dst.depthwise.kernels):
        source = src.depthwise.kernels[src.kernel_sizes.index(size)]
        scale = 1.0 if kernel_scale is None else float(kernel_scale.get(size, 1.0))
        kernel.assign(source[:, :, :n, :] * scale)
    _copy_bn(src.depthwise_bn, dst.depthwise_bn, n)
    dst.project.kernel.assign(src.project.kernel[:, :, :n, :c_out])
    _copy_bn(src.project_bn, dst.project_bn, c_out)


def source_blocks(supernet: tf.keras.Model, skipped: Mapping[str, bool]) -> list[str]:
    """The supernet blocks a child's layers inherit from, in order, given per block whether the
    child skips it: every kept block, and a skipped block whose skip is a projection (the
    child's `Projection` takes that shortcut's weights)."""
    return [
        name
        for name, skip in skipped.items()
        if not skip or supernet.get_layer(name).shortcut is not None
    ]


def inherit_model(
    supernet: tf.keras.Model, child: tf.keras.Model, source_blocks: list[str]
) -> None:
    """Copies stem, blocks (child block i <- supernet block source_blocks[i]; a child's
    projection <- the skip path of the supernet block it replaces), head, classifier."""
    child_blocks = [
        layer for layer in child.layers if isinstance(layer, (InvertedResidual, Projection))
    ]
    if len(child_blocks) != len(source_blocks):
        raise ValueError(f"{len(child_blocks)} child blocks but {len(source_blocks)} sources")
    for dst, name in zip(child_blocks, source_blocks):
        src = supernet.get_layer(name)
        if isinstance(dst, Projection):
            if src.shortcut is None:
                raise ValueError(f"{name} has no projected skip for {dst.name} to inherit")
            for target, value in zip(dst.weights, src.shortcut.weights):
                target.assign(value)
        else:
            inherit_block(src, dst)
    for layer in child.layers:
        if isinstance(layer, ConvBnAct) or layer.name == "classifier":
            # the first layer after the blocks may read a narrower last block: first input rows
            for target, value in zip(layer.weights, supernet.get_layer(layer.name).weights):
                if len(target.shape) == 4:
                    value = value[:, :, : target.shape[2], :]
                target.assign(value)
