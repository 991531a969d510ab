"""One table that answers "what did the run give me": accuracy, size, cost, speed, files.

Reads what the stages wrote into a run directory (search → train → qat → export); a stage that has
not run yet shows as "-" rather than failing. Unlike the report it needs the model code: it
rebuilds the child's layer list to count its MACs and predict its TDA2x latency.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ednas_tf import rundir
from ednas_tf.arch import ArchSpec
from ednas_tf.cost.network import child_latency
from ednas_tf.cost.size import arch_layers, arch_macs
from ednas_tf.cost.tda2x import AnalyticTDA2x
from ednas_tf.io_utils import read_json
from ednas_tf.profiles import get_profile

QAT_SCHEMES = ("tfmot", "pow2")  # the schemes pipelines/qat.py trains
KEY_FILES = (
    rundir.ARCH_FILE,
    f"{rundir.TRAIN_DIR}/{rundir.WEIGHTS_FILE}",
    f"{rundir.EXPORT_DIR}/model_int8.tflite",
    f"{rundir.EXPORT_DIR}/model.onnx",
    f"{rundir.EXPORT_DIR}/model.pb",
    f"{rundir.EXPORT_DIR}/{rundir.TIDL_IMPORT_FILE}",
)
UNLISTED_DIRS = ("ckpt", "tb")  # checkpoints and TensorBoard logs: many files, none a result


def _read(path: Path) -> dict[str, Any]:
    """A stage's JSON record; {} until the stage has run."""
    return (read_json(path) if path.exists() else None) or {}


def _result_files(root: Path) -> list[str]:
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and not set(UNLISTED_DIRS) & set(p.parts)
    )


def collect(run_dir: str | Path) -> dict[str, Any]:
    """The summary's figures; raises FileNotFoundError where the search has left no arch.json."""
    run = rundir.RunDir.at(run_dir)
    if not run.arch.exists():
        raise FileNotFoundError(f"{run.arch} not found: is {run.root} a search output directory?")
    arch = ArchSpec.load(run.arch)
    train = _read(run.train / rundir.TRAIN_METRICS_FILE)
    qat = {s: _read(run.qat(s) / rundir.QAT_METRICS_FILE) for s in QAT_SCHEMES}
    export = _read(run.export / rundir.EXPORT_REPORT_FILE)
    formats = export.get("formats", {})
    int8 = formats.get("tflite_int8", {})
    return {
        "blocks": arch.block_strings(),
        "float_acc": train.get("test_acc"),
        "float_test_images": train.get("test_examples"),
        "qat_acc_tfmot": qat["tfmot"].get("qat_acc"),
        "qat_acc_pow2": qat["pow2"].get("qat_acc"),
        "int8_tflite_acc": int8.get("accuracy"),
        "int8_reference_acc": int8.get("keras_accuracy"),
        "int8_num_images": int8.get("num_images"),
        "test_sample": export.get("test_sample", {}).get("text"),
        "int8_float_agreement": int8.get("top1_agreement"),
        "params": train.get("params"),
        "macs": arch_macs(arch),
        "tda2x_latency_ms": child_latency(arch, get_profile("tda2x").latency()),
        "tda2x_latency_uncertainty_ms": AnalyticTDA2x().uncertainty_ms(arch_layers(arch)),
        "host_tflite_ms": formats.get("tflite_float", {}).get("latency_ms"),
        "host_tflite_int8_ms": int8.get("latency_ms"),
        "tidl_passed": export.get("tidl", {}).get("passed"),
        "files": _result_files(run.root),
    }


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _tidl(passed: dict[str, bool] | None) -> str:
    if passed is None:
        return "-"
    return ", ".join(f"{k}: {'pass' if v else 'fail'}" for k, v in passed.items())


def _float_acc(s: dict[str, Any]) -> str:
    images = s.get("float_test_images")
    return _fmt(s["float_acc"], ".4f") + (f" (all {images} test images)" if images else "")


def format_table(summary: dict[str, Any]) -> str:
    """The summary as aligned "name  value" lines, "-" where a stage has not run."""
    s = summary
    rows = [
        ("architecture", " ".join(s["blocks"])),
        ("float test accuracy", _float_acc(s)),
        (
            "QAT accuracy (tfmot / pow2)",
            f"{_fmt(s['qat_acc_tfmot'], '.4f')} / {_fmt(s['qat_acc_pow2'], '.4f')}",
        ),
        (
            "int8 TFLite accuracy",
            f"{_fmt(s['int8_tflite_acc'], '.4f')} (its Keras source on the same "
            f"{_fmt(s['int8_num_images'], 'd')} images: {_fmt(s['int8_reference_acc'], '.4f')})",
        ),
        ("export checks on", s.get("test_sample") or "-"),
        ("int8 vs its Keras source, top-1 agreement", _fmt(s["int8_float_agreement"], ".4f")),
        ("parameters", _fmt(s["params"], ",")),
        ("MACs", _fmt(s["macs"], ",")),
        (
            "predicted TDA2x latency (1 EVE)",
            f"{s['tda2x_latency_ms']:.2f} ms +- {s['tda2x_latency_uncertainty_ms']:.2f} "
            "(the model's uncertainty per layer type, docs/TIDL.md)",
        ),
        (
            "host TFLite latency (float / int8)",
            f"{_fmt(s['host_tflite_ms'], '.3f')} / {_fmt(s['host_tflite_int8_ms'], '.3f')} ms",
        ),
        ("TIDL check", _tidl(s["tidl_passed"])),
        ("files", f"{len(s['files'])} (key: {', '.join(KEY_FILES)})"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
