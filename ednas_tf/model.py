"""ONE builder for supernet and child: `build(space_or_arch)`.

A `SearchSpace` (blocks holding `Choice`s) gives the supernet, with a gate per choice; an `ArchSpec`
(every decision made) gives the child. Both go through `_block_layer`, so the child is literally the
supernet code with its choices resolved to constants. The deployed model is the child after
`deploy.merge`.
"""

from __future__ import annotations

import tensorflow as tf

from ednas_tf.arch import ArchSpec, ConvSpec, ProjSpec
from ednas_tf.layers.blocks import ConvBnAct, InvertedResidual, Projection, SqueezeSpatial
from ednas_tf.layers.gumbel import GumbelSoftmaxGate
from ednas_tf.layers.meta_kernel import MetaKernelDepthwiseConv2D
from ednas_tf.space import BlockSpace, SearchSpace

CUSTOM_OBJECTS: dict[str, type] = {}


def _register_custom_objects() -> dict[str, type]:
    CUSTOM_OBJECTS.update(
        {
            "ConvBnAct": ConvBnAct,
            "InvertedResidual": InvertedResidual,
            "Projection": Projection,
            "SqueezeSpatial": SqueezeSpatial,
            "GumbelSoftmaxGate": GumbelSoftmaxGate,
            "MetaKernelDepthwiseConv2D": MetaKernelDepthwiseConv2D,
        }
    )
    return CUSTOM_OBJECTS


def _block_layer(
    block: BlockSpace,
    activation: str,
    gate_mode: str,
    seed: int | None,
    in_channel_options: tuple[int, ...],
    in_width_group: str,
) -> InvertedResidual:
    kernel_sizes = sorted({k for option in block.kernel_options for k in option})
    return InvertedResidual(
        channels=block.max_channels,
        stride=block.stride,
        kernel_sizes=kernel_sizes,
        search_kernel=block.searches_kernel,
        expansions=block.expansion_options,
        search_skip=block.searches_skip,
        residual=block.residual,
        joint=block.joint,
        pairs=block.pairs,
        activation=activation,
        gate_mode=gate_mode,
        seed=seed,
        channel_options=block.width_options,
        in_channel_options=in_channel_options,
        width_group=block.width_group if block.searches_channels else "",
        in_width_group=in_width_group,
        name=block.name,
    )


def width_gate_name(group: str) -> str:
    return f"{group}_width"


def _width_gate(
    group: str, channels: tuple[int, ...], gate_mode: str, seed: int | None
) -> GumbelSoftmaxGate:
    return GumbelSoftmaxGate(
        len(channels),
        mode=gate_mode,
        seed=seed,
        option_names=[f"c{c}" for c in channels],
        name=width_gate_name(group),
    )


def _conv_layer(spec: ConvSpec, activation: str, name: str) -> ConvBnAct:
    return ConvBnAct(spec.channels, spec.kernel, spec.stride, activation, name=name)


def build(
    source: SearchSpace | ArchSpec,
    *,
    gate_mode: str = "soft",
    seed: int | None = None,
    name: str | None = None,
) -> tf.keras.Model:
    """Builds the supernet of a SearchSpace or the child of an ArchSpec (same code path).

    gate_mode: "soft" or "hard" Gumbel-softmax for the supernet's gates.
    seed: seeds the gates' sampling (block i uses seed + i).
    """
    _register_custom_objects()
    if isinstance(source, ArchSpec):
        source.validate()
        blocks = [
            b if isinstance(b, ProjSpec) else BlockSpace.from_spec(b, f"b{i + 1:02d}")
            for i, b in enumerate(source.blocks)
        ]
        default_name = "child"
    elif isinstance(source, SearchSpace):
        blocks = source.blocks
        default_name = "supernet"
    else:
        raise TypeError(f"build() takes a SearchSpace or an ArchSpec, got {type(source).__name__}")

    inputs = tf.keras.Input(shape=tuple(source.input_shape), name="image")
    x = _conv_layer(source.stem, source.activation, "stem")(inputs)
    # One gate per width group, evaluated once per forward pass so that every block of the
    # group masks with the same sample.
    width_values: dict[str, tf.Tensor] = {}
    in_options, in_group = (source.stem.channels,), ""
    for i, block in enumerate(blocks):
        if isinstance(block, ProjSpec):  # a child's skipped block that changes shape
            x = Projection(block.channels, block.stride, name=f"b{i + 1:02d}")(x)
            in_options, in_group = (block.channels,), ""
            continue
        block_seed = None if seed is None else seed + i
        group = block.width_group if block.searches_channels else ""
        if group and group not in width_values:
            gate_seed = None if seed is None else seed + 1000 + len(width_values)
            width_values[group] = _width_gate(group, block.width_options, gate_mode, gate_seed)(x)
        layer = _block_layer(block, source.activation, gate_mode, block_seed, in_options, in_group)
        widths = {}
        if in_group:
            widths["width_in"] = width_values[in_group]
        if group:
            widths["width_out"] = width_values[group]
        x = layer(x, **widths)
        in_options, in_group = block.width_options, group
    if source.head is not None:
        x = _conv_layer(source.head, source.activation, "head")(x)
    x = tf.keras.layers.GlobalAveragePooling2D(keepdims=True, name="pool")(x)
    x = tf.keras.layers.Conv2D(source.num_classes, 1, name="classifier")(x)
    # float32 logits under any precision policy: the softmax and the loss stay float32
    logits = SqueezeSpatial(name="logits", dtype="float32")(x)
    return tf.keras.Model(inputs, logits, name=name or default_name)


def searchable_blocks(model: tf.keras.Model) -> list[InvertedResidual]:
    """The inverted-residual blocks of a built model, in order."""
    return [layer for layer in model.layers if isinstance(layer, InvertedResidual)]


def width_gates(model: tf.keras.Model) -> dict[str, GumbelSoftmaxGate]:
    """The width gate of each searched width group of a built supernet, by group name."""
    groups = [b.width_group for b in searchable_blocks(model) if b.width_group]
    return {g: model.get_layer(width_gate_name(g)) for g in dict.fromkeys(groups)}
