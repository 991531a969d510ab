"""train -> qat -> export -> summary pipelines on a tiny synthetic run (subprocesses)."""

import json
from pathlib import Path

import numpy as np

from ednas_tf.rundir import RunDir
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
    # the later stages name only the run: dataset and limit come from its record
    facts = RunDir.at(tmp_path).carried()
    assert facts["dataset"] == "synthetic" and facts["limit"] == 300 and facts["seed"] == 0
    qat = _run(
        [
            "pipelines/qat.py",
            f"--run_dir={tmp_path}",
            "--batch_size=16",
            "--verbose=0",
            "--epochs=1",
            "--steps_per_epoch=2",
        ]
    )
    assert qat.returncode == 0, qat.stderr[-2000:]
    for scheme in ("tfmot", "pow2"):
        metrics = json.loads((train_dir / "qat" / scheme / "qat_metrics.json").read_text())
        assert metrics["scheme"] == scheme and 0 <= metrics["qat_acc"] <= 1
        assert (train_dir / "qat" / scheme / "qat_model.h5").stat().st_size > 0
    export = _run(
        [
            "pipelines/export.py",
            f"--run_dir={tmp_path}",
            "--num_test=64",
            "--num_calibration=16",
            "--latency_repeats=5",
        ]
    )
    assert export.returncode == 0, export.stderr[-2000:]
    assert "int8 model from the QAT model" in export.stdout  # the run's TFMOT model, unasked
    assert json.loads((tmp_path / "export" / "export_report.json").read_text())["int8_source"] == (
        "qat"
    )
    stages = RunDir.at(tmp_path).stage_records()
    assert list(stages) == ["train", "qat", "export"]
    assert all(s["dataset"] == "synthetic" and s["num_classes"] == 4 for s in stages.values())
    summary = _run(["pipelines/summary.py", f"--run_dir={tmp_path}", "--json"])
    assert summary.returncode == 0, summary.stderr[-2000:]
    figures = json.loads(summary.stdout)
    assert figures["float_acc"] is not None and figures["int8_tflite_acc"] is not None
    assert figures["macs"] > 0 and figures["tda2x_latency_ms"] > 0
    assert figures["tidl_passed"]["tf"] is True
    assert "export/model.pb" in figures["files"]
    table = _run(["pipelines/summary.py", f"--run_dir={tmp_path}"])
    assert "predicted TDA2x latency" in table.stdout


def _three_class_npz(path: Path) -> Path:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, size=(24, 16, 16, 1), dtype=np.uint8)
    np.savez(path, x_train=images, y_train=np.arange(24) % 3)
    return path


def _searched_run(tmp_path: Path) -> RunDir:
    """A run directory as a search leaves it (arch.json + its record), without the search."""
    run = RunDir.at(tmp_path / "run")
    run.root.mkdir()
    (run.arch).write_text(json.dumps(ARCH))
    run.record("search", {"dataset": "synthetic", "data_dir": None, "limit": 300, "seed": 0})
    return run


def test_train_refuses_another_dataset_than_the_run_searched(tmp_path):
    run = _searched_run(tmp_path)
    other = _three_class_npz(tmp_path / "other.npz")
    result = _run(
        ["pipelines/train.py", f"--run_dir={run.root}", "--dataset=npz", f"--data_dir={other}"]
    )
    assert result.returncode == 2
    assert "error: --dataset=npz contradicts the run" in result.stderr
    assert "Traceback" not in result.stderr
    assert not run.train.exists() and list(run.stage_records()) == ["search"]


def test_train_refuses_data_with_another_class_count(tmp_path):
    (tmp_path / "arch.json").write_text(json.dumps(ARCH))  # built for 4 classes
    other = _three_class_npz(tmp_path / "other.npz")
    result = _run(
        [
            "pipelines/train.py",
            f"--arch={tmp_path / 'arch.json'}",
            "--dataset=npz",
            f"--data_dir={other}",
            "--batch_size=4",
        ]
    )
    assert result.returncode == 2
    assert "error: the data has 3 classes but the network" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "train").exists()


def test_a_stage_needs_a_run(tmp_path):
    result = _run(["pipelines/qat.py", f"--run_dir={tmp_path / 'none'}"])
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_train_reports_bad_arch(tmp_path):
    (tmp_path / "arch.json").write_text(json.dumps({**ARCH, "blocks": ["ir_k4_e1_c8_s1"]}))
    result = _run(["pipelines/train.py", f"--arch={tmp_path / 'arch.json'}", *DATA])
    assert result.returncode == 2 and "blocks[0]" in result.stderr
