"""Latency: device profiles, the LatencyModel interface and its implementations.

Kept free of layer imports (layers import `latency.base`); the differentiable expected latency of a
supernet is in `ednas_tf.latency.expected`.
"""

from ednas_tf.latency.base import BlockConfig, ConvConfig, LatencyModel
from ednas_tf.latency.macs import MacsProxy
from ednas_tf.latency.profiles import DeviceProfile, available_profiles, get_profile

__all__ = [
    "BlockConfig",
    "ConvConfig",
    "DeviceProfile",
    "LatencyModel",
    "MacsProxy",
    "available_profiles",
    "get_profile",
]
