"""ONE builder for supernet and child: `build(space_or_arch)`.

A `SearchSpace` (blocks holding `Choice`s) gives the supernet, with a gate per choice; an `ArchSpec`
(every decision made) gives the child. Both go through `_block_layer`, so the child is literally the
supernet code with its choices resolved to constants. The deployed model is the child after
`deploy.merge`.
"""

from __future__ import annotations

import tensorflow as tf

from ednas_tf.arch import ArchSpec, ConvSpec
from ednas_tf.layers.blocks import ConvBnAct, InvertedResidual, SqueezeSpatial
from ednas_tf.space import BlockSpace, SearchSpace

CUSTOM_OBJECTS: dict[str, type] = {}


def _register_custom_objects() -> dict[str, type]:
    from ednas_tf.layers import gumbel, meta_kernel

    CUSTOM_OBJECTS.update(
        {
            "ConvBnAct": ConvBnAct,
            "InvertedResidual": InvertedResidual,
            "SqueezeSpatial": SqueezeSpatial,
            "GumbelSoftmaxGate": gumbel.GumbelSoftmaxGate,
            "MetaKernelDepthwiseConv2D": meta_kernel.MetaKernelDepthwiseConv2D,
        }
    )
    return CUSTOM_OBJECTS


def _block_layer(
    block: BlockSpace, activation: str, gate_mode: str, seed: int | None
) -> InvertedResidual:
    kernel_sizes = sorted({k for option in block.kernel_options for k in option})
    return InvertedResidual(
        channels=block.channels,
        stride=block.stride,
        kernel_sizes=kernel_sizes,
        search_kernel=block.searches_kernel,
        expansions=block.expansion_options,
        search_skip=block.searches_skip,
        residual=block.residual,
        joint=block.joint,
        activation=activation,
        gate_mode=gate_mode,
        seed=seed,
        name=block.name,
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
        blocks = [BlockSpace.from_spec(b, f"b{i + 1:02d}") for i, b in enumerate(source.blocks)]
        default_name = "child"
    elif isinstance(source, SearchSpace):
        blocks = source.blocks
        default_name = "supernet"
    else:
        raise TypeError(f"build() takes a SearchSpace or an ArchSpec, got {type(source).__name__}")

    inputs = tf.keras.Input(shape=tuple(source.input_shape), name="image")
    x = _conv_layer(source.stem, source.activation, "stem")(inputs)
    for i, block in enumerate(blocks):
        block_seed = None if seed is None else seed + i
        x = _block_layer(block, source.activation, gate_mode, block_seed)(x)
    if source.head is not None:
        x = _conv_layer(source.head, source.activation, "head")(x)
    x = tf.keras.layers.GlobalAveragePooling2D(keepdims=True, name="pool")(x)
    x = tf.keras.layers.Conv2D(source.num_classes, 1, name="classifier")(x)
    logits = SqueezeSpatial(name="logits")(x)
    return tf.keras.Model(inputs, logits, name=name or default_name)


def searchable_blocks(model: tf.keras.Model) -> list[InvertedResidual]:
    """The inverted-residual blocks of a built model, in order."""
    return [layer for layer in model.layers if isinstance(layer, InvertedResidual)]
