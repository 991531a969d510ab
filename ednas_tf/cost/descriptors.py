"""Blocks and plain layers as `LayerDesc` sequences: the one place their layer structure is spelled.

Every per-layer cost model (MACs proxy, analytic TDA2x) costs these descriptors, so a block's
structure — expand 1x1, merged depthwise (a parallel set is ONE conv at its largest size),
project 1x1, residual add — is written down once.
"""

from __future__ import annotations

from ednas_tf.cost.layer_desc import LayerDesc
from ednas_tf.geometry import BlockConfig, ConvConfig


def block_layers(config: BlockConfig) -> list[LayerDesc]:
    h, w = config.in_h, config.in_w
    out_h, out_w = config.out_hw
    hidden, k = config.hidden, max(config.kernel)
    layers = []
    if config.has_expand:
        layers.append(LayerDesc("conv", h, w, h, w, config.c_in, hidden, name="expand"))
    layers.append(
        LayerDesc(
            "depthwise",
            h,
            w,
            out_h,
            out_w,
            hidden,
            hidden,
            k,
            k,
            config.stride,
            groups=hidden,
            name="depthwise",
        )
    )
    layers.append(
        LayerDesc("conv", out_h, out_w, out_h, out_w, hidden, config.c_out, name="project")
    )
    if config.has_residual_add:
        layers.append(
            LayerDesc(
                "add",
                out_h,
                out_w,
                out_h,
                out_w,
                config.c_out,
                config.c_out,
                n_inputs=2,
                name="add",
            )
        )
    return layers


def conv_layers(config: ConvConfig) -> list[LayerDesc]:
    if config.kind == "classifier":
        return [
            LayerDesc(
                "global_pool",
                config.in_h,
                config.in_w,
                1,
                1,
                config.c_in,
                config.c_in,
                config.in_h,
                config.in_w,
                name="pool",
            ),
            LayerDesc("conv", 1, 1, 1, 1, config.c_in, config.c_out, name="classifier"),
        ]
    out_h, out_w = config.out_hw
    return [
        LayerDesc(
            "conv",
            config.in_h,
            config.in_w,
            out_h,
            out_w,
            config.c_in,
            config.c_out,
            config.kernel,
            config.kernel,
            config.stride,
            name="conv",
        )
    ]
