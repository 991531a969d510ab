"""Device profiles: the registry, the `macs` profile, and limits shared with the space."""


import pytest

from ednas_tf.cost.macs import MacsProxy
from ednas_tf.cost.network import child_latency, space_latency_bounds
from ednas_tf.cost.size import arch_macs
from ednas_tf.limits import BUILTIN, TDA2X, DeviceLimits, builtin_limits
from ednas_tf.presets import preset_space
from ednas_tf.profiles import DeviceProfile, available_profiles, get_profile


def test_macs_profile_is_selectable_and_costs_with_the_macs_proxy():
    assert "macs" in available_profiles()  # what --device offers and get_profile resolves
    profile = get_profile("macs")
    assert isinstance(profile, DeviceProfile) and profile.name == "macs"
    assert isinstance(profile.latency(), MacsProxy)
    # generic rules: a 5x5 depthwise may downsample (NAS-Bench-Macro's space needs it)
    assert profile.allows_depthwise(5, 2) and not TDA2X.allows_depthwise(5, 2)
    space = preset_space("tiny", input_shape=(16, 16, 1), num_classes=4, profile=profile)
    low, high = space_latency_bounds(space, profile.latency())
    assert 0 < low < high
    child = space.largest_child()
    assert child.device == "macs"
    assert child_latency(child, profile.latency()) == pytest.approx(high, rel=1e-6)
    # the unit is one million MACs
    assert child_latency(child, profile.latency()) == pytest.approx(arch_macs(child) / 1e6)


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_every_builtin_device_has_one_set_of_limits(name):
    """The space resolves a device name without the registry: both must agree."""
    assert get_profile(name).limits() == builtin_limits(name)
    by_name = preset_space("small", input_shape=(32, 32, 1), profile=name)
    by_profile = preset_space("small", input_shape=(32, 32, 1), profile=get_profile(name))
    assert by_name.blocks == by_profile.blocks
    assert by_name.profile.name == by_profile.profile.name == name


def test_registered_profiles_are_the_builtin_limits():
    assert sorted(BUILTIN) == [p for p in available_profiles() if not p.startswith("lut:")]


def test_a_space_takes_plain_limits():
    limits = DeviceLimits("board", frozenset({(3, 1), (3, 2)}), frozenset({"relu"}), 64, 3)
    space = preset_space(
        "tiny", input_shape=(16, 16, 1), num_classes=4, profile=limits, activation="relu"
    )
    assert {k for b in space.blocks for o in b.kernel_options for k in o} == {3}
    assert space.largest_child().device == "board"
    with pytest.raises(ValueError, match="built-in device limits"):
        preset_space("tiny", profile="lut:board.json")


@pytest.mark.parametrize("name, default", [("tda2x", "relu"), ("macs", "relu"), ("host", "relu6")])
def test_a_space_takes_its_devices_default_activation(name, default):
    """TDA2x's ONNX import lacks ReLU6's Clip, so its spaces are ReLU unless asked otherwise."""
    space = preset_space("tiny", input_shape=(16, 16, 1), num_classes=4, profile=name)
    assert space.activation == space.largest_child().activation == default
    asked = preset_space("tiny", input_shape=(16, 16, 1), profile=name, activation="relu6")
    assert asked.largest_child().activation == "relu6"
