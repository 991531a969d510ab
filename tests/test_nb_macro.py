"""NAS-Bench-Macro's space: the children are the benchmark's networks, exactly.

The parameter and MACs figures are the benchmark table's own (`params`, `flops`; public
repository xiusu/NAS-Bench-Macro), so a derived child's code can be looked up in it."""

import numpy as np
import pytest
import tensorflow as tf

from ednas_tf.arch import ArchSpec, ProjSpec
from ednas_tf.cost.network import child_latency, space_latency_bounds
from ednas_tf.cost.size import arch_macs
from ednas_tf.inherit import inherit_model
from ednas_tf.layers.gumbel import gate_modes
from ednas_tf.model import build
from ednas_tf.nb_macro import arch_of, canonical_code, code_of, decisions_of, nb_macro_space
from ednas_tf.profiles import get_profile
from ednas_tf.search.expected import ExpectedLatency
from ednas_tf.search.probe import decisions_path, path_log_prob, pinned_path

TABLE = {  # code: (trainable parameters, MACs), from the benchmark's table
    "00000000": (387_882, 7_713_280),
    "10000000": (396_298, 12_128_768),
    "11111111": (1_588_874, 53_246_464),
    "21212121": (2_191_274, 78_289_408),
    "22222222": (2_932_586, 105_660_928),
}


def _trainable(model: tf.keras.Model) -> int:
    return int(sum(np.prod(v.shape) for v in model.trainable_weights))


@pytest.mark.parametrize("code", sorted(TABLE))
def test_children_have_the_tables_parameters_and_macs(code):
    params, macs = TABLE[code]
    arch = arch_of(code)
    assert _trainable(build(arch)) == params
    assert arch_macs(arch) == macs
    # the `macs` device's unit is one million MACs
    assert child_latency(arch, get_profile("macs").latency()) == pytest.approx(macs / 1e6)


def test_codes_round_trip_through_children_and_json():
    rng = np.random.default_rng(0)
    for _ in range(50):
        code = "".join(rng.choice(list("012"), 8))
        arch = ArchSpec.from_json(arch_of(code).to_json())  # proj_ blocks survive JSON
        assert code_of(arch) == canonical_code(code)
        assert arch_of(code_of(arch)).blocks == arch.blocks


def test_identities_inside_a_stage_are_one_network():
    assert canonical_code("01002012") == "01020012"  # stages 01 | 002 | 012
    assert arch_of("00110000").blocks == arch_of("00101000").blocks
    assert [type(b) for b in arch_of("00000000").blocks] == [ProjSpec] * 3
    with pytest.raises(ValueError, match="8 digits"):
        canonical_code("0123")


def test_code_of_refuses_another_network():
    arch = arch_of("11111111")
    with pytest.raises(ValueError, match="not an nb_macro child"):
        code_of(ArchSpec.from_dict({**arch.to_dict(), "blocks": ["ir_k3_e3_c64_s1"]}))


def test_the_space_offers_exactly_the_benchmark_choices():
    space = nb_macro_space()
    assert len(space.blocks) == 8 and not space.searches_early_kernels()  # step 2 alone
    for block in space.blocks:
        assert block.pair_options == [((3,), 3.0), ((5,), 6.0)] and block.searches_skip
    low, high = space_latency_bounds(space, get_profile("macs").latency())
    assert (low, high) == pytest.approx((TABLE["00000000"][1] / 1e6, TABLE["22222222"][1] / 1e6))
    # a uniform draw of codes: identity as likely as each inverted residual
    rng = np.random.default_rng(1)
    skips = [
        d["skip"] for _ in range(300) for d in space.random_decisions(rng, skip_prob=None).values()
    ]
    assert abs(np.mean(skips) - 1 / 3) < 0.03


@pytest.mark.parametrize("code", ["20100210", "01201022"])
def test_supernet_on_a_pinned_path_is_the_child(code):
    """The supernet with every gate on a code's choices computes the child (projections and
    identities included) and costs its MACs."""
    space = nb_macro_space(input_shape=(16, 16, 3), width=0.25).step_space(2)
    supernet = build(space, seed=3)
    expected = ExpectedLatency(supernet, space, get_profile("macs").latency())
    decisions = decisions_of(space, code)
    child_arch = space.child(decisions)
    child = build(child_arch)
    path = decisions_path(supernet, decisions)
    sources = [b.name for b, d in zip(space.blocks, code) if d != "0" or b.stride == 2]
    inherit_model(supernet, child, sources)
    images = tf.random.stateless_uniform((2, 16, 16, 3), seed=(1, 2))
    with pinned_path(supernet, path), gate_modes(supernet, mode="fixed", inference="argmax"):
        np.testing.assert_allclose(
            supernet(images, training=False).numpy(),
            child(images, training=False).numpy(),
            rtol=1e-4,
            atol=1e-5,
        )
        assert float(expected()) == pytest.approx(arch_macs(child_arch) / 1e6, rel=1e-5)
        assert path_log_prob(supernet, path) == pytest.approx(0.0, abs=1e-3)
