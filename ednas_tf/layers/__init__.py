"""Keras layers of the search space: Gumbel gates, meta-kernel depthwise conv, blocks."""

from ednas_tf.layers.blocks import ConvBnAct, InvertedResidual, SqueezeSpatial
from ednas_tf.layers.gumbel import GumbelSoftmaxGate
from ednas_tf.layers.meta_kernel import MetaKernelDepthwiseConv2D

__all__ = [
    "ConvBnAct",
    "GumbelSoftmaxGate",
    "InvertedResidual",
    "MetaKernelDepthwiseConv2D",
    "SqueezeSpatial",
]
