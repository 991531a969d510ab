"""One table that answers "what did the run give me": accuracy, size, cost, speed, files.

Reads what the stages wrote into a run directory (search → train → qat → export); a stage that has
not run yet shows as "-" rather than failing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ednas_tf.arch import ArchSpec
from ednas_tf.cost.descriptors import block_layers, conv_layers
from ednas_tf.cost.network import arch_configs, child_latency
from ednas_tf.profiles import get_profile


def arch_macs(arch: ArchSpec) -> int:
    """Multiply-accumulates of one inference (merged kernels)."""
    fixed, blocks = arch_configs(arch)
    layers = [d for c in fixed for d in conv_layers(c)] + [
        d for b in blocks for d in block_layers(b)
    ]
    return sum(d.macs for d in layers)


def _read(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def collect(run_dir: str | Path) -> dict[str, Any]:
    run = Path(run_dir)
    arch_path = run / "arch.json"
    if not arch_path.exists():
        raise FileNotFoundError(f"{arch_path} not found: is {run} a search output directory?")
    arch = ArchSpec.load(arch_path)
    train = _read(run / "train" / "train_metrics.json") or {}
    qat = {
        scheme: _read(run / "train" / "qat" / scheme / "qat_metrics.json") or {}
        for scheme in ("tfmot", "pow2")
    }
    export = _read(run / "export" / "export_report.json") or {}
    formats = export.get("formats", {})
    return {
        "blocks": [b.encode() for b in arch.blocks],
        "float_acc": train.get("test_acc"),
        "qat_acc_tfmot": qat["tfmot"].get("qat_acc"),
        "qat_acc_pow2": qat["pow2"].get("qat_acc"),
        "int8_tflite_acc": formats.get("tflite_int8", {}).get("accuracy"),
        "int8_reference_acc": formats.get("tflite_int8", {}).get("keras_accuracy"),
        "int8_num_images": formats.get("tflite_int8", {}).get("num_images"),
        "int8_float_agreement": formats.get("tflite_int8", {}).get("top1_agreement"),
        "params": train.get("params"),
        "macs": arch_macs(arch),
        "tda2x_latency_ms": child_latency(arch, get_profile("tda2x").latency()),
        "host_tflite_ms": formats.get("tflite_float", {}).get("latency_ms"),
        "host_tflite_int8_ms": formats.get("tflite_int8", {}).get("latency_ms"),
        "tidl_passed": export.get("tidl", {}).get("passed"),
        "files": sorted(
            str(p.relative_to(run))
            for p in run.rglob("*")
            if p.is_file() and "ckpt" not in p.parts and "tb" not in p.parts
        ),
    }


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_table(summary: dict[str, Any]) -> str:
    rows = [
        ("architecture", " ".join(summary["blocks"])),
        ("float test accuracy", _fmt(summary["float_acc"], ".4f")),
        (
            "QAT accuracy (tfmot / pow2)",
            f"{_fmt(summary['qat_acc_tfmot'], '.4f')} / {_fmt(summary['qat_acc_pow2'], '.4f')}",
        ),
        (
            "int8 TFLite accuracy",
            f"{_fmt(summary['int8_tflite_acc'], '.4f')} (its Keras source on the same "
            f"{_fmt(summary['int8_num_images'], 'd')} images: "
            f"{_fmt(summary['int8_reference_acc'], '.4f')})",
        ),
        ("int8 vs its Keras source, top-1 agreement", _fmt(summary["int8_float_agreement"], ".4f")),
        ("parameters", _fmt(summary["params"], ",")),
        ("MACs", _fmt(summary["macs"], ",")),
        ("predicted TDA2x latency (1 EVE)", f"{summary['tda2x_latency_ms']:.2f} ms"),
        (
            "host TFLite latency (float / int8)",
            f"{_fmt(summary['host_tflite_ms'], '.3f')} / "
            f"{_fmt(summary['host_tflite_int8_ms'], '.3f')} ms",
        ),
        (
            "TIDL check",
            "-"
            if summary["tidl_passed"] is None
            else ", ".join(
                f"{k}: {'pass' if v else 'fail'}" for k, v in summary["tidl_passed"].items()
            ),
        ),
        (
            "files",
            f"{len(summary['files'])} (key: arch.json, train/child.weights.h5, "
            "export/model_int8.tflite, export/model.onnx, export/model.pb, "
            "export/tidl_import.txt)",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
