"""TIDL (TDA2x) compatibility check of exported graphs, import config and calibration frames.

Each unsupported construct is built as a small Keras model, exported to ONNX and to the frozen
.pb, and both are checked: the check must fail on the right layer with the right reason.
"""

import json

import numpy as np
import onnx
import pytest
import tensorflow as tf

from deploy import export, tidl
from deploy.merge import merge_model
from ednas_tf.arch import ArchSpec
from ednas_tf.model import build
from ednas_tf.profiles import get_profile

L = tf.keras.layers
INPUT = (16, 16, 3)
CHILD = {
    "input_shape": [16, 16, 1],
    "num_classes": 4,
    "stem": "conv_k3_c8_s1",
    "blocks": ["ir_k3+7_e1_c8_s1", "ir_k3_e3_c16_s2", "ir_k5_e3_c16_s1"],
    "head": "conv_k1_c32_s1",
}


def _classifier(body, name: str) -> tf.keras.Model:
    """conv -> body -> global pool (keepdims) -> 1x1 conv -> logits: TIDL-clean but for body."""
    inputs = tf.keras.Input(INPUT, name="image")
    x = body(L.Conv2D(8, 3, padding="same", name="conv")(inputs))
    x = L.GlobalAveragePooling2D(keepdims=True, name="pool")(x)
    x = L.Conv2D(4, 1, name="classifier")(x)
    return tf.keras.Model(inputs, L.Reshape((4,), name="logits")(x), name=name)


def _hard_swish(x):
    return L.Multiply(name="hswish")([x, L.ReLU(6.0, name="hswish_relu6")(x + 3.0) / 6.0])


def _dense_head() -> tf.keras.Model:
    inputs = tf.keras.Input(INPUT, name="image")
    x = L.GlobalAveragePooling2D(name="pool")(L.Conv2D(8, 3, padding="same", name="conv")(inputs))
    return tf.keras.Model(inputs, L.Dense(4, name="fc")(x), name="dense")


def _depthwise_9x9(x):
    return L.DepthwiseConv2D(9, padding="same", name="dw9")(x)


def _explicit_pad(x):
    return L.Conv2D(8, 3, name="conv_valid")(L.ZeroPadding2D(1, name="pad")(x))


BAD_MODELS = {
    "hswish": lambda: _classifier(_hard_swish, "hswish"),
    "dw9": lambda: _classifier(_depthwise_9x9, "dw9"),
    "pad": lambda: _classifier(_explicit_pad, "pad"),
    "dense": _dense_head,
}


def _export_both(model: tf.keras.Model, directory, stem: str) -> dict[str, tidl.TidlReport]:
    pb = export.export_frozen_graph(model, directory / f"{stem}.pb")
    onnx_path = export.export_onnx(model, directory / f"{stem}.onnx")
    return {"tf": tidl.check_file(pb), "onnx": tidl.check_file(onnx_path)}


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    directory = tmp_path_factory.mktemp("bad")
    return {name: _export_both(make(), directory, name) for name, make in BAD_MODELS.items()}


@pytest.fixture(scope="module")
def child(tmp_path_factory):
    """Reports of merged ednas children: ReLU6 (the default) and ReLU."""
    directory = tmp_path_factory.mktemp("child")
    reports = {}
    for activation in ("relu6", "relu"):
        merged = merge_model(build(ArchSpec.from_dict(dict(CHILD, activation=activation))))
        reports[activation] = _export_both(merged, directory, activation)
    return reports


def _failing(report: tidl.TidlReport) -> dict[str, tidl.Row]:
    return {row.name: row for row in report.failures}


def test_hard_swish_is_rejected(bad):
    tf_fail, onnx_fail = _failing(bad["hswish"]["tf"]), _failing(bad["hswish"]["onnx"])
    assert tf_fail["hswish/mul"].op == "Mul" and "two activations" in tf_fail["hswish/mul"].reason
    assert "Mul is not in the TDA2x ONNX op table" in onnx_fail["hswish/Mul"].reason
    assert "Clip" in onnx_fail["hswish_relu6/Clip"].reason


def test_9x9_depthwise_is_rejected(bad):
    for report, name in ((bad["dw9"]["tf"], "dw9/depthwise"), (bad["dw9"]["onnx"], "dw9/Conv")):
        reason = _failing(report)[name].reason
        assert "kernel 9x9 exceeds 7x7" in reason and "not allowed on tda2x" in reason
        assert len(report.failures) == 1


def test_dense_layer_is_rejected(bad):
    assert "Dense" in _failing(bad["dense"]["tf"])["fc/MatMul"].reason
    assert "Dense" in _failing(bad["dense"]["onnx"])["fc/MatMul"].reason


def test_explicit_pad_is_rejected_in_the_tf_graph(bad):
    assert "Pad Layer is not supported" in _failing(bad["pad"]["tf"])["pad/Pad"].reason
    # tf2onnx folds a zero Pad into the next Conv's pads: the ONNX graph has no Pad node left.
    assert "Pad" not in bad["pad"]["onnx"].op_counts() and bad["pad"]["onnx"].passed


def test_merged_child_passes_as_frozen_graph(child):
    report = child["relu6"]["tf"]
    assert report.passed, report.render_text()
    assert {"Relu6", "DepthwiseConv2dNative", "Add", "Mean"} <= set(report.op_counts())


def test_relu6_child_fails_onnx_only_on_clip(child):
    report = child["relu6"]["onnx"]
    assert not report.passed and {row.op for row in report.failures} == {"Clip"}
    assert "ReLU6" in report.failures[0].reason
    assert child["relu"]["onnx"].passed and child["relu"]["tf"].passed


def test_relu_child_exports_onnx_without_clip(child, tmp_path):
    """A space with --activation=relu gives TDA2x an importable ONNX file; ReLU6 does not."""
    ops = {}
    for activation in ("relu", "relu6"):
        merged = merge_model(build(ArchSpec.from_dict(dict(CHILD, activation=activation))))
        path = export.export_onnx(merged, tmp_path / f"{activation}.onnx")
        ops[activation] = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert "Clip" not in ops["relu"] and "Relu" in ops["relu"]
    assert "Clip" in ops["relu6"]
    assert "Clip" not in child["relu"]["onnx"].op_counts() and child["relu"]["onnx"].passed
    assert not child["relu6"]["onnx"].passed


def test_non_3x3_depthwise_is_flagged_not_validated(child):
    warned = {row.name: row.reason for row in child["relu6"]["tf"].warnings}
    assert "not TI-validated" in warned["b01_depthwise/depthwise"]  # merged 3+7: a 7x7 kernel
    assert "not TI-validated" in warned["b03_depthwise/depthwise"]  # 5x5
    assert "b02_depthwise/depthwise" not in warned  # 3x3 stride 2 is validated


def test_report_renders_and_serialises(bad, tmp_path):
    report = bad["dw9"]["tf"]
    text = report.render_text()
    assert "FAIL" in text and "dw9/depthwise" in text
    path = tidl.save_reports(tmp_path / "tidl_report.json", [report, bad["pad"]["onnx"]])
    data = json.loads(path.read_text())
    assert data["passed_formats"] == ["onnx"]
    rows = data["reports"][0]["rows"]
    assert {"name", "op", "status", "reason"} == set(rows[0])
    assert any(row["status"] == "fail" for row in rows)


def test_import_config_has_every_key(tmp_path):
    path = tidl.write_import_config(
        tmp_path / "tidl_import.txt",
        model_path="model.pb",
        model_type=1,
        input_shape=(32, 24, 3),
        num_sample_in_data=10,
    )
    config = tidl.read_import_config(path)
    assert set(tidl.IMPORT_KEYS) <= set(config)
    assert "inputParamsFile" not in config  # Caffe only
    assert config["modelType"] == "1" and config["quantizationStyle"] == "1"
    assert (config["inWidth"], config["inHeight"], config["inNumChannels"]) == ("24", "32", "3")
    assert config["inElementType"] == "0" and config["rawSampleInData"] == "1"
    assert config["inputNetFile"] == "model.pb" and config["sampleInData"] == "sample_in.raw"
    assert [float(v) for v in config["inMean"].split()] == [0.0] * 3
    np.testing.assert_allclose([float(v) for v in config["inScale"].split()], [1 / 255] * 3)
    with pytest.raises(ValueError, match="model_type"):
        tidl.write_import_config(
            tmp_path / "x.txt", model_path="m", model_type=0, input_shape=(8, 8, 1),
            num_sample_in_data=1,
        )  # fmt: skip


def test_sample_raw_is_planar_uint8(tmp_path):
    frames = np.arange(2 * 3 * 4 * 3, dtype=np.uint8).reshape(2, 3, 4, 3)  # N, H, W, C
    path = tidl.write_sample_raw(tmp_path / "sample_in.raw", frames)
    raw = np.frombuffer(path.read_bytes(), np.uint8)
    assert raw.size == frames.size
    planes = raw.reshape(2, 3, 3, 4)  # N, C, H, W
    np.testing.assert_array_equal(planes[1, 2], frames[1, :, :, 2])
    assert tidl.images_to_uint8(np.array([0.0, 0.5, 1.0])).tolist() == [0, 128, 255]
    with pytest.raises(ValueError, match="uint8"):
        tidl.write_sample_raw(tmp_path / "bad.raw", frames.astype(np.float32))


def test_layer_rules_name_their_limits():
    profile = get_profile("tda2x")
    status, reason = tidl.depthwise_verdict(profile, (3, 3), (1, 1), (1, 1), 16, 2)
    assert status == tidl.FAIL and "multiplier 2" in reason
    assert "stride (3, 3)" in tidl.conv_verdict(profile, (3, 3), (3, 3), (1, 1), 8, 8)[1]
    status, reason = tidl.conv_verdict(profile, (1, 1), (1, 1), (1, 1), 2048, 8)
    assert status == tidl.FAIL and "2048 input channels" in reason
    assert tidl.global_pool_verdict(96, 96)[0] == tidl.FAIL
    assert tidl.input_verdict(profile, [None, 16, 16, 3], 3)[0] == tidl.FAIL
    assert tidl.input_verdict(profile, [2, 16, 16, 3], 3)[0] == tidl.FAIL
    assert tidl.reshape_verdict([1, 4, 4, 2], [1, 32], constant=True)[0] == tidl.WARN
    assert tidl.reshape_verdict([1, 1, 1, 5], [1, 5], constant=False)[0] == tidl.FAIL
