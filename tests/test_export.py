"""Export: TFLite (float, int8 post-training and from QAT), ONNX and the TIDL-style frozen graph
agree with Keras; pipelines/export.py runs end to end on a tiny trained run.

One subprocess run of the pipeline writes the files the parity tests check, so each conversion
runs once.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from deploy import export
from deploy.merge import merge_model
from ednas_tf.arch import ArchSpec
from ednas_tf.data import load_splits
from ednas_tf.model import build
from ednas_tf.training import TrainConfig, load_trained, train_child
from tests.cli import run_cli

ROOT = Path(__file__).resolve().parents[1]
ARCH = {
    "input_shape": [16, 16, 1],
    "num_classes": 4,
    "stem": "conv_k3_c8_s1",
    "blocks": ["ir_k3+7_e1_c8_s1", "ir_k3_e3_c16_s2", "ir_k5_e3_c16_s1"],
    "head": "conv_k1_c32_s1",
}
LIMIT, NUM_CALIBRATION, NUM_TEST = 192, 16, 48
TIDL_OPS = {
    "Placeholder", "Const", "Conv2D", "DepthwiseConv2dNative", "BiasAdd", "Add", "Relu",
    "Relu6", "Mean", "AvgPool", "Squeeze", "Reshape", "Identity",
}  # fmt: skip


def _splits():
    return load_splits("synthetic", image_size=16, arch_fraction=0.0, limit=LIMIT, seed=0)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run whose child is trained for 2 tiny epochs (RUN/train): real BN statistics, what the
    pipeline reads."""
    output = tmp_path_factory.mktemp("run")
    config = TrainConfig(epochs=2, batch_size=32, steps_per_epoch=3, warmup_epochs=0)
    train_child(ArchSpec.from_dict(ARCH), _splits(), config, output / "train", verbose=0)
    return output


@pytest.fixture(scope="module")
def merged(run_dir):
    return merge_model(load_trained(run_dir / "train")[1])


@pytest.fixture(scope="module")
def test_data():
    return export.dataset_arrays(_splits().test, NUM_TEST)


@pytest.fixture(scope="module")
def pipeline(run_dir):
    output = run_dir / "export"
    result = run_cli(
        [
            "pipelines/export.py",
            f"--run_dir={run_dir}",
            "--dataset=synthetic",
            f"--limit={LIMIT}",
            f"--num_calibration={NUM_CALIBRATION}",
            f"--num_test={NUM_TEST}",
            "--latency_repeats=5",
        ],
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return output, result.stdout


def test_pipeline_writes_every_output(pipeline):
    output, stdout = pipeline
    report = json.loads((output / "export_report.json").read_text())
    assert set(report["formats"]) == {"tflite_float", "tflite_int8", "onnx", "tf_frozen"}
    for entry in report["formats"].values():
        assert (output / entry["file"]).stat().st_size == entry["bytes"] > 0
        assert entry["num_images"] == NUM_TEST and 0.0 <= entry["accuracy"] <= 1.0
    assert report["formats"]["tflite_float"]["max_abs_diff"] <= 1e-4
    assert report["formats"]["tflite_int8"]["latency_ms"] > 0
    assert report["int8_source"] == "ptq"
    # An arch.json without "activation" is ReLU6 (it predates the choice). ReLU6 passes as a TF
    # graph (Relu6) and fails as ONNX (Clip): the config targets the .pb, and the export says so
    # in one line, not a failing line per Clip layer (those stay in tidl_report.json).
    assert report["tidl"]["passed"] == {"tf": True, "onnx": False}
    assert report["tidl"]["activation"] == "relu6"
    assert report["tidl"]["import_advice"].startswith("import model.pb (TF")
    assert stdout.count("ReLU6 becomes Clip") == 1 and "model.onnx is not importable" in stdout
    assert not [line for line in stdout.splitlines() if line.strip().startswith("fail")]
    tidl_report = json.loads((output / "tidl_report.json").read_text())
    assert tidl_report["passed_formats"] == ["tf"]
    config = (output / "tidl_import.txt").read_text()
    assert "modelType = 1" in config and 'inputNetFile = "model.pb"' in config
    assert (output / "sample_in.raw").stat().st_size == NUM_CALIBRATION * 16 * 16 * 1
    assert "tflite_int8" in stdout and "TIDL check" in stdout
    # the figures are on a seeded class-stratified sample, and the report says so
    test_sample = f"{NUM_TEST} of {LIMIT} test images, class-stratified sample (seed 0)"
    assert report["test_sample"]["text"] == test_sample and test_sample in stdout
    assert report["calibration_sample"]["text"].startswith(f"{NUM_CALIBRATION} of ")


def test_int8_tflite_agrees_with_keras(pipeline, merged, test_data):
    output, _ = pipeline
    images, labels = test_data
    parity = export.check_tflite(output / "model_int8.tflite", merged, images, labels)
    assert parity.top1_agreement >= 0.8
    assert parity.accuracy is not None and parity.keras_accuracy is not None


def test_onnx_matches_keras(pipeline, merged, test_data):
    output, _ = pipeline
    parity = export.check_onnx(output / "model.onnx", merged, test_data[0])
    assert parity.max_abs_diff <= 1e-4 and parity.top1_agreement == 1.0


def test_frozen_graph_has_only_tidl_ops_and_matches_keras(pipeline, merged, test_data):
    output, _ = pipeline
    graph_def = export.load_graph_def(output / "model.pb")
    ops = {node.op for node in graph_def.node}
    assert ops <= TIDL_OPS, ops - TIDL_OPS
    assert not ops & {"Pad", "Cast", "Shape", "StridedSlice", "MatMul", "AddV2", "Pack"}
    layers = {layer.name for layer in merged.layers}
    assert all(node.name.split("/")[0] in layers for node in graph_def.node)
    assert export.graph_io(graph_def) == (["image"], ["logits/Reshape"])
    parity = export.check_frozen_graph(output / "model.pb", merged, test_data[0])
    assert parity.max_abs_diff <= 1e-4 and parity.top1_agreement == 1.0


def test_int8_tflite_from_a_qat_model(tmp_path, test_data):
    import tensorflow_model_optimization as tfmot
    from ai_edge_litert.interpreter import Interpreter

    tiny = dict(ARCH, blocks=["ir_k3_e2_c8_s2"], head=None)
    qat = tfmot.quantization.keras.quantize_model(merge_model(build(ArchSpec.from_dict(tiny))))
    images = test_data[0]
    qat(images, training=True)  # one training-mode pass moves the activation ranges
    path = export.export_tflite_int8(qat, tmp_path / "qat.tflite", images[:8], int8_io=True)
    interpreter = Interpreter(model_path=str(path))
    assert interpreter.get_input_details()[0]["dtype"] == np.int8
    assert interpreter.get_output_details()[0]["dtype"] == np.int8
    assert export.check_tflite(path, qat, images).top1_agreement >= 0.75


def test_int8_export_refuses_empty_calibration(tmp_path, merged):
    with pytest.raises(ValueError, match="representative"):
        export.export_tflite_int8(merged, tmp_path / "x.tflite", np.zeros((0, 16, 16, 1)), False)
    assert not (tmp_path / "x.tflite").exists()
