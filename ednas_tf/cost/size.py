"""A child's size without building it: multiply-accumulates and parameters.

Both walk the child's layer descriptors (`ednas_tf.cost.descriptors`), the one place a block's
layers are spelled, so they count what `ednas_tf.model.build` makes: MACs of one inference with
merged kernels, parameters as Keras counts the trained child (`count_params`: every conv kernel, a
parallel kernel set's every branch, batch norm with its moving statistics, the classifier's bias).
"""

from __future__ import annotations

from ednas_tf.arch import ArchSpec
from ednas_tf.cost.descriptors import block_layers, conv_layers
from ednas_tf.cost.layer_desc import LayerDesc
from ednas_tf.cost.network import arch_configs
from ednas_tf.geometry import BlockConfig, ConvConfig

BN_PARAMS_PER_CHANNEL = 4  # gamma, beta, moving mean, moving variance


def arch_layers(arch: ArchSpec) -> list[LayerDesc]:
    """Every layer of the child's inference, stem to classifier (merged kernels)."""
    fixed, blocks = arch_configs(arch)
    stem, tail = fixed[0], fixed[1:]
    return [
        *conv_layers(stem),
        *(d for b in blocks for d in _config_layers(b)),
        *(d for c in tail for d in conv_layers(c)),
    ]


def _config_layers(config: BlockConfig | ConvConfig) -> list[LayerDesc]:
    return conv_layers(config) if isinstance(config, ConvConfig) else block_layers(config)


def arch_macs(arch: ArchSpec) -> int:
    """Multiply-accumulates of one inference (merged kernels)."""
    return sum(d.macs for d in arch_layers(arch))


def _layer_params(desc: LayerDesc) -> int:
    """A layer's kernel and what follows it: the classifier's bias, or a batch norm."""
    if desc.name == "classifier":
        return desc.weight_bytes + desc.cout
    if desc.op in ("conv", "depthwise"):
        return desc.weight_bytes + BN_PARAMS_PER_CHANNEL * desc.cout
    return 0


def arch_params(arch: ArchSpec) -> int:
    """Parameters of the child as `build(arch).count_params()` gives them (trained, unmerged:
    a parallel kernel set keeps one kernel per size)."""
    _, blocks = arch_configs(arch)
    branches = sum(
        b.hidden * (sum(k * k for k in b.kernel) - max(b.kernel) ** 2)
        for b in blocks
        if isinstance(b, BlockConfig)
    )
    return sum(_layer_params(d) for d in arch_layers(arch)) + branches
