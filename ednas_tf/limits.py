"""What a target device accepts: plain data, no cost model.

A search space is restricted by a `DeviceLimits` (`ednas_tf.space`), so every network the search
can derive is one the target runs; the TIDL checker (`deploy.tidl`) checks exported graphs against
the same limits. A device profile (`ednas_tf.profiles.DeviceProfile`) is a `DeviceLimits` plus the
latency model that costs the device; the built-in limits live here so the space can resolve a
device name without importing the profile registry.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class DeviceLimits:
    """Rules of a target device.

    depthwise: allowed (kernel, stride) pairs of depthwise convolutions.
    activations: allowed activation names.
    max_channels: channel limit of any layer.
    max_conv_kernel: largest dense conv kernel.
    validated_depthwise: the depthwise pairs the vendor validated (others pass with a warning in
      the TIDL check); empty: no such distinction.
    default_activation: a space's activation when none is asked for: the one every exported file
      of the device's runtime accepts.
    """

    name: str
    depthwise: frozenset[tuple[int, int]]
    activations: frozenset[str]
    max_channels: int
    max_conv_kernel: int
    validated_depthwise: frozenset[tuple[int, int]] = frozenset()
    default_activation: str = "relu6"

    def allows_depthwise(self, kernel: int, stride: int) -> bool:
        return (kernel, stride) in self.depthwise

    def check_activation(self, activation: str) -> None:
        if activation not in self.activations:
            raise ValueError(
                f"profile {self.name!r} does not allow activation {activation!r}; "
                f"allowed: {sorted(self.activations)}"
            )

    def limits(self) -> "DeviceLimits":
        """The plain limits (a profile without its latency model)."""
        fields = dataclasses.fields(DeviceLimits)
        return DeviceLimits(**{f.name: getattr(self, f.name) for f in fields})


# TIDL (Processor SDK Linux, "Constraints on layer parameters"; docs/TIDL.md): kernels up to 7x7,
# stride 1 or 2, <= 1024 channels, ReLU/ReLU6 only. Depthwise 3x3 at stride 1 and 2 is what TI
# validated (MobileNet V1/V2); 5x5 and 7x7 at stride 1 are within the generic rule. ReLU is the
# default: ReLU6 exports to ONNX as Clip, which TDA2x's ONNX import lacks, so only ReLU makes every
# file the export writes importable; it cost no accuracy measured in float and in power-of-two int8
# (docs/results/26-relu-vs-relu6.md, 31-relu-pow2-int8.md).
TDA2X = DeviceLimits(
    name="tda2x",
    depthwise=frozenset({(3, 1), (5, 1), (7, 1), (3, 2)}),
    activations=frozenset({"relu", "relu6"}),
    max_channels=1024,
    max_conv_kernel=7,
    validated_depthwise=frozenset({(3, 1), (3, 2)}),
    default_activation="relu",
)

# LiteRT's default XNNPACK delegate (ai-edge-litert 2.3.0) takes depthwise kernels up to 5x5 only
# (25 taps); a 7x7 depthwise stays on TFLite's builtin kernel, which splits the network into
# several delegate partitions. Measured on the 2-vCPU development machine, 32x32x32 input, 1
# thread: 3x3 0.055 ms, 5x5 0.081 ms, 7x7 0.90 ms (the same as with no delegate at all), and the
# 7x7 path times ±15 % from one run to the next, so no table predicts networks containing it well
# (bench/latency_fidelity.py: 37-67 % within ±10 % with 7x7, 100 % without; docs/RESULTS.md).
# Like TIDL's rules, the limits offer only what the runtime runs on its fast path.
HOST_DEPTHWISE_KERNELS = (3, 5)

# ReLU6 stays the host's default: LiteRT runs either, and the host figures were measured with it.
HOST = DeviceLimits(
    name="host",
    depthwise=frozenset((k, s) for k in HOST_DEPTHWISE_KERNELS for s in (1, 2)),
    activations=frozenset({"relu", "relu6"}),
    max_channels=4096,
    max_conv_kernel=7,
)

# The MACs budget: a target stated in multiply-accumulates (as NAS benchmarks and papers state a
# network's size) rather than in a device's milliseconds. Its rules are generic (depthwise 3x3 to
# 7x7 at stride 1 and 2), so a space such as NAS-Bench-Macro's, whose 5x5 layers downsample, is
# searched exactly; `tda2x` is the device whose rules TIDL imposes.
MACS = DeviceLimits(
    name="macs",
    depthwise=frozenset((k, s) for k in (3, 5, 7) for s in (1, 2)),
    activations=frozenset({"relu", "relu6"}),
    max_channels=4096,
    max_conv_kernel=7,
    default_activation="relu",
)

BUILTIN: dict[str, DeviceLimits] = {limits.name: limits for limits in (TDA2X, HOST, MACS)}


def builtin_limits(name: str) -> DeviceLimits:
    """The limits of a built-in device by name (the profile registry adds `lut:<path>` tables)."""
    if name not in BUILTIN:
        raise ValueError(
            f"no built-in device limits {name!r} (built in: {sorted(BUILTIN)}); for a measured "
            "table pass its profile, ednas_tf.profiles.get_profile(name)"
        )
    return BUILTIN[name]
