import json

import pytest

from ednas_tf.arch import ArchSpec, ArchSpecError, BlockSpec, ConvSpec


def _spec():
    return ArchSpec(
        input_shape=(28, 28, 1),
        num_classes=10,
        stem=ConvSpec(3, 16, 1),
        blocks=[BlockSpec((3, 7), 6.0, 24, 2), BlockSpec((5,), 1.0, 16, 1, residual=False)],
        head=ConvSpec(1, 64, 1),
        gate_probs={"s1b1": {"kernel": {"3": 0.6, "7": 0.4}}},
        predicted_latency_ms=1.25,
        search={"seed": 0},
    )


@pytest.mark.parametrize(
    "text", ["ir_k3+7_e6_c24_s2", "ir_k5_e1_c16_s1_noskip", "ir_k3_e2.5_c8_s1"]
)
def test_block_strings_round_trip(text):
    assert BlockSpec.decode(text).encode() == text


def test_an_arch_file_without_activation_is_relu6():
    """Files written before a space could choose its activation were all ReLU6."""
    data = _spec().to_dict()
    del data["activation"]
    assert ArchSpec.from_dict(data).activation == "relu6"
    assert ArchSpec.from_dict(dict(data, activation="relu")).activation == "relu"


def test_conv_string_round_trip():
    assert ConvSpec.decode("conv_k3_c16_s2").encode() == "conv_k3_c16_s2"


def test_json_round_trip(tmp_path):
    spec = _spec()
    path = tmp_path / "arch.json"
    spec.save(path)
    loaded = ArchSpec.load(path)
    assert loaded == spec
    assert json.loads(path.read_text())["blocks"] == ["ir_k3+7_e6_c24_s2", "ir_k5_e1_c16_s1_noskip"]


@pytest.mark.parametrize(
    "text,field",
    [
        ("ir_k4_e6_c24_s1", "odd"),
        ("ir_k3+x_e6_c24_s1", "bad kernel"),
        ("ir_kx_e6_c24_s1", "cannot parse"),
        ("ir_k3_c24_s1", "missing expansion"),
        ("ir_k3_e6_c24_s3", "stride"),
        ("ir_k3_e6_c24_s1_q7", "unknown"),
        ("conv_k3_c24_s1", "expected a 'ir_"),
        ("ir_k3_e0.5_c24_s1", "expansion must be"),
        ("ir_k3+3_e6_c24_s1", "repeated"),
    ],
)
def test_malformed_block_strings_are_rejected_by_name(text, field):
    with pytest.raises(ArchSpecError, match=field) as err:
        BlockSpec.decode(text, "blocks[2]")
    assert "blocks[2]" in str(err.value)


@pytest.mark.parametrize(
    "mutate,field",
    [
        (lambda d: d.pop("stem"), "stem"),
        (lambda d: d.update(num_classes="ten"), "num_classes"),
        (lambda d: d.update(input_shape=[28, 28]), "input_shape"),
        (lambda d: d["blocks"].__setitem__(1, "ir_k3_e6_c0_s1"), r"blocks\[1\]"),
        (lambda d: d.update(activation="hswish"), "activation"),
        (lambda d: d.update(colour="red"), "colour"),
        (lambda d: d.update(head="conv_k2_c8_s1"), "head"),
        (lambda d: d.update(blocks=[]), "blocks"),
    ],
)
def test_malformed_json_names_the_field(mutate, field):
    data = _spec().to_dict()
    mutate(data)
    with pytest.raises(ArchSpecError, match=field):
        ArchSpec.from_dict(data)


def test_not_json():
    with pytest.raises(ArchSpecError, match="not valid JSON"):
        ArchSpec.from_json("{blocks: ")
