"""pipelines/report.py on a real tiny search run, with and without the later stages."""

import base64
import csv
import json
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

from deploy import tidl
from tests.cli import run_cli

ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SEARCH = [
    "--dataset=synthetic",
    "--space=tiny",
    "--image_size=16",
    "--limit=300",
    "--epochs=2",
    "--warmup_epochs=1",
    "--steps_per_epoch=4",
    "--batch_size=16",
    "--progress=false",
    # a latency target over searched widths, with probes: the report lists the probed children
    "--stage_widths=0.5,1.5",
    "--target_latency_fraction=0.7",
    "--probe_candidates=3",
    # the tiny search's path depends on it: with ReLU6 several children meet the target (with
    # the TDA2x default, ReLU, only one does, and there is nothing to probe)
    "--activation=relu6",
]


def _run(script, args, timeout=300):
    return run_cli([script, *args], timeout=timeout)


def _report(run_dir):
    result = _run("pipelines/report.py", [f"--run_dir={run_dir}"])
    assert result.returncode == 0, result.stderr[-3000:]
    return (run_dir / "report.md").read_text(), (run_dir / "report.html").read_text()


@pytest.fixture(scope="module")
def search_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("search")
    result = _run("pipelines/search.py", [*SEARCH, f"--output_dir={out}"])
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def _copy(search_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(search_run, run)
    return run


def _check_png(path):
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1024
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG" and min(image.size) > 100
    return data


def test_search_run_report(search_run, tmp_path):
    run = _copy(search_run, tmp_path)
    md, page = _report(run)
    gates, curves = _check_png(run / "gates.png"), _check_png(run / "curves.png")
    embedded = [base64.b64decode(m) for m in re.findall(r"data:image/png;base64,([^\"]+)", page)]
    assert embedded == [gates, curves]  # self-contained: the same images, inline
    assert "gates.png" in md and "curves.png" in md

    arch = json.loads((run / "arch.json").read_text())
    for block in arch["blocks"]:
        assert block in md and block in page
    assert "P(kernel)" in md and "s1b1" in md
    probed = arch["search"]["target_fit"]["probed"]
    assert 1 < len(probed) <= 3 and sum(entry["chosen"] for entry in probed) == 1
    assert "supernet val acc" in md and md.count("| yes |") >= 1
    # later stages have not run: said, not failed
    assert "pipelines/train.py has not run" in md
    assert "pipelines/export.py has not run" in md
    # the file list names every file of the run, the report's own outputs excluded
    own = {"report.md", "report.html", "gates.png", "curves.png"}
    for path in run.rglob("*"):
        if path.is_file() and path.name not in own:
            assert str(path.relative_to(run)) in md


def _write_later_stages(run):
    train = run / "train"
    train.mkdir()
    history = {"loss": [1.3, 1.1], "acc": [0.4, 0.5], "val_loss": [1.2, 1.0]}
    history["val_acc"] = [0.45, 0.6]
    metrics = {"test_acc": 0.5873, "test_loss": 1.01, "best_val_acc": 0.6, "best_epoch": 2}
    metrics.update(epochs=2, params=7620, history=history, config={"epochs": 2})
    (train / "train_metrics.json").write_text(json.dumps(metrics))
    qat = {"scheme": "pow2", "float_acc": 0.5873, "qat_acc": 0.5791, "epochs": 1}
    (train / "qat" / "pow2").mkdir(parents=True)
    (train / "qat" / "pow2" / "qat_metrics.json").write_text(json.dumps(qat))
    (train / "qat" / "tfmot").mkdir()
    (train / "qat" / "tfmot" / "qat_metrics.json").write_text("{truncated")
    export = run / "export"
    export.mkdir()
    entry = {"file": "model_int8.tflite", "bytes": 25120, "num_images": 50}
    entry.update(max_abs_diff=0.00237, top1_agreement=1.0, accuracy=0.34, latency_ms=0.0364)
    report = {"dataset": "synthetic", "int8_source": "ptq", "formats": {"tflite_int8": entry}}
    (export / "export_report.json").write_text(json.dumps(report))
    rows = [
        tidl.Row("image", "Placeholder", tidl.PASS, "input 1x16x16x1"),
        tidl.Row("stem_act/Clip", "Clip", tidl.FAIL, "Clip is not in the TDA2x ONNX op table"),
    ]
    tidl.save_reports(
        export / "tidl_report.json", [tidl.TidlReport("model.onnx", "onnx", "tda2x", rows)]
    )


def test_later_stages_and_unreadable_files(search_run, tmp_path):
    run = _copy(search_run, tmp_path)
    _write_later_stages(run)
    md, page = _report(run)
    assert "0.5873" in md and "0.5791" in md  # train and QAT accuracies
    assert "model_int8.tflite" in md and "0.0364" in md  # export table
    assert "stem_act/Clip" in md and "Clip is not in the TDA2x ONNX op table" in page
    assert "could not read train/qat/tfmot/qat_metrics.json" in md
    _check_png(run / "curves.png")  # now also holds the child's training curves


def test_single_step_layout(search_run, tmp_path):
    """`--steps=2` writes its outputs at the top level: no step1/ or step2/."""
    run = tmp_path / "single"
    run.mkdir()
    for name in ("arch.json", "gates.csv", "history.json"):
        shutil.copy(search_run / "step2" / name, run / name)
    md, _ = _report(run)
    _check_png(run / "gates.png")
    _check_png(run / "curves.png")
    with (run / "gates.csv").open() as f:
        assert {r["step"] for r in csv.DictReader(f)} == {"2"}
    assert "Last epoch of each step" in md


def test_missing_run_dir_is_a_clear_error(tmp_path):
    result = _run("pipelines/report.py", [f"--run_dir={tmp_path / 'nope'}"])
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_not_a_run_dir_is_refused_without_writing(tmp_path):
    """A folder no stage wrote to (no arch.json anywhere, no run.json) gets no report.md."""
    (tmp_path / "notes.txt").write_text("not a run")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "data.json").write_text("{}")
    result = _run("pipelines/report.py", [f"--run_dir={tmp_path}"])
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"error: {tmp_path} is not a run directory (no arch.json, run.json or other "
        "stage output in it or below)"
    ]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["data.json", "notes.txt", "sub"]
