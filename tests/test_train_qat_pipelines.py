"""train -> qat -> export -> summary pipelines on a tiny synthetic run (subprocesses)."""

import json
from pathlib import Path

from tests.cli import run_cli

ROOT = Path(__file__).resolve().parents[1]
ARCH = {
    "input_shape": [16, 16, 1],
    "num_classes": 4,
    "stem": "conv_k3_c8_s1",
    "blocks": ["ir_k3+7_e1_c8_s1", "ir_k3_e3_c16_s2"],
}
DATA = ["--dataset=synthetic", "--limit=300", "--batch_size=16", "--verbose=0"]


def _run(args):
    return run_cli(args, timeout=600)


def test_train_qat_export_summary(tmp_path):
    (tmp_path / "arch.json").write_text(json.dumps(ARCH))
    train = _run(
        [
            "pipelines/train.py",
            f"--arch={tmp_path / 'arch.json'}",
            *DATA,
            "--epochs=1",
            "--warmup_epochs=0",
            "--steps_per_epoch=4",
        ]
    )
    assert train.returncode == 0, train.stderr[-2000:]
    assert "test accuracy" in train.stdout
    train_dir = tmp_path / "train"
    assert (train_dir / "child.weights.h5").exists()
    qat = _run(
        ["pipelines/qat.py", f"--train_dir={train_dir}", *DATA, "--epochs=1", "--steps_per_epoch=2"]
    )
    assert qat.returncode == 0, qat.stderr[-2000:]
    for scheme in ("tfmot", "pow2"):
        metrics = json.loads((train_dir / "qat" / scheme / "qat_metrics.json").read_text())
        assert metrics["scheme"] == scheme and 0 <= metrics["qat_acc"] <= 1
        assert (train_dir / "qat" / scheme / "qat_model.h5").stat().st_size > 0
    export = _run(
        [
            "pipelines/export.py",
            f"--train_dir={train_dir}",
            "--dataset=synthetic",
            "--limit=300",
            "--num_test=64",
            "--num_calibration=16",
            "--latency_repeats=5",
            f"--qat_model={train_dir / 'qat' / 'tfmot' / 'qat_model.h5'}",
            f"--output_dir={tmp_path / 'export'}",
        ]
    )
    assert export.returncode == 0, export.stderr[-2000:]
    summary = _run(["pipelines/summary.py", f"--run_dir={tmp_path}", "--json"])
    assert summary.returncode == 0, summary.stderr[-2000:]
    figures = json.loads(summary.stdout)
    assert figures["float_acc"] is not None and figures["int8_tflite_acc"] is not None
    assert figures["macs"] > 0 and figures["tda2x_latency_ms"] > 0
    assert figures["tidl_passed"]["tf"] is True
    assert "export/model.pb" in figures["files"]
    table = _run(["pipelines/summary.py", f"--run_dir={tmp_path}"])
    assert "predicted TDA2x latency" in table.stdout


def test_train_reports_bad_arch(tmp_path):
    (tmp_path / "arch.json").write_text(json.dumps({**ARCH, "blocks": ["ir_k4_e1_c8_s1"]}))
    result = _run(["pipelines/train.py", f"--arch={tmp_path / 'arch.json'}", *DATA])
    assert result.returncode == 2 and "blocks[0]" in result.stderr
