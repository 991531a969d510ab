"""The deliverables of a trained child: every model file, each checked, and TIDL's import inputs.

Writes float and int8 TFLite, ONNX and a TF frozen graph of the merged child; checks each against
the Keras model on test images (parity, accuracy) and times the TFLite files with LiteRT; checks
the ONNX and .pb graphs against the device's TIDL rules; writes TIDL's import config for the first
format that passes and its calibration frames; and export_report.json with all of it. The entry
point (`ednas-export`) only gathers the inputs from the run directory.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from deploy import export, tidl
from ednas_tf.io_utils import atomic_write_text
from ednas_tf.measure.probes import time_tflite
from ednas_tf.rundir import EXPORT_REPORT_FILE, TIDL_IMPORT_FILE, TIDL_REPORT_FILE

FILES = {
    "tflite_float": "model.tflite",
    "tflite_int8": "model_int8.tflite",
    "onnx": "model.onnx",
    "tf_frozen": "model.pb",
}
TIDL_FORMATS = {"tf": ("tf_frozen", 1), "onnx": ("onnx", 2)}  # format -> (file key, modelType)
SAMPLE_FILE = "sample_in.raw"


@dataclasses.dataclass(frozen=True)
class DeliverOptions:
    """device: whose TIDL rules apply; tidl_format: which format must pass (any, tf, onnx, all)."""

    device: str = "tda2x"
    tidl_format: str = "any"
    int8_io: bool = False
    opset: int = 13
    latency_repeats: int = 50
    threads: int = 1


@dataclasses.dataclass
class Delivery:
    """What `deliver` wrote and found."""

    output: Path
    report: dict[str, Any]
    tidl_reports: list
    import_format: str

    @property
    def import_file(self) -> str:
        return FILES[TIDL_FORMATS[self.import_format][0]]


def _export_all(merged, int8_source, calibration, output: Path, options: DeliverOptions):
    paths = {key: output / name for key, name in FILES.items()}
    export.export_tflite_float(merged, paths["tflite_float"])
    export.export_tflite_int8(int8_source, paths["tflite_int8"], calibration, options.int8_io)
    export.export_onnx(merged, paths["onnx"], opset=options.opset)
    export.export_frozen_graph(merged, paths["tf_frozen"])
    return paths


def _format_reports(paths, merged, int8_source, images, labels, options) -> dict[str, dict]:
    checks = {
        "tflite_float": (export.check_tflite, merged),
        "tflite_int8": (export.check_tflite, int8_source),
        "onnx": (export.check_onnx, merged),
        "tf_frozen": (export.check_frozen_graph, merged),
    }
    reports = {}
    for key, (check, reference) in checks.items():
        path = paths[key]
        entry = {"file": path.name, "bytes": path.stat().st_size}
        entry.update(check(str(path), reference, images, labels).to_dict())
        if key.startswith("tflite"):
            entry["latency_ms"] = time_tflite(
                str(path), repeats=options.latency_repeats, num_threads=options.threads
            )
        reports[key] = entry
    return reports


def tidl_ok(reports, tidl_format: str) -> bool:
    """Whether the formats the user asked for pass the TIDL check."""
    passed = {r.format for r in reports if r.passed}
    if tidl_format == "any":
        return bool(passed)
    if tidl_format == "all":
        return passed == set(TIDL_FORMATS)
    return tidl_format in passed


def failing_layers(reports, tidl_format: str) -> list[str]:
    """`format:layer` of every failing layer in the formats that had to pass."""
    required = TIDL_FORMATS if tidl_format in ("any", "all") else [tidl_format]
    return [f"{r.format}:{row.name}" for r in reports if r.format in required for row in r.failures]


def _import_format(reports, tidl_format: str) -> str:
    """The format the import config is written for: the first passing one (TF preferred)."""
    if tidl_format in TIDL_FORMATS:
        return tidl_format
    return next((r.format for r in reports if r.passed), "tf")


def model_activation(model: tf.keras.Model) -> str:
    """'relu6' when any ReLU of the (merged) model is capped at 6, else 'relu'."""
    capped = [
        layer
        for layer in model.layers
        if isinstance(layer, tf.keras.layers.ReLU) and layer.max_value is not None
    ]
    return "relu6" if capped else "relu"


def ruled_out_by_activation(report, activation: str) -> bool:
    """Whether `report` is ReLU6's ONNX file failing on its Clip layers alone: a format the
    activation rules out, said once by the import advice rather than layer by layer."""
    return (
        activation == "relu6"
        and report.format == "onnx"
        and not report.passed
        and all(row.op == "Clip" for row in report.failures)
    )


def import_advice(activation: str, reports) -> str:
    """Which file to hand TIDL on TDA2x for this activation, and whether the check agrees.

    Why in the summary: ReLU6 exports to ONNX as Clip, which TDA2x's ONNX import lacks, so a
    ReLU6 child must be imported as the frozen .pb; a ReLU child imports either way."""
    if activation == "relu6":
        clips = [len(r.failures) for r in reports if ruled_out_by_activation(r, activation)]
        layers = f" ({clips[0]} layers)" if clips else ""
        advice = (
            f"import {FILES['tf_frozen']} (TF, modelType 1); {FILES['onnx']} is not importable: "
            f"ReLU6 becomes Clip in ONNX{layers}, which TDA2x's ONNX import lacks (per layer in "
            f"{TIDL_REPORT_FILE}; with --activation=relu both files import)"
        )
        wanted = ["tf"]
    else:
        advice = (
            f"import {FILES['onnx']} (ONNX, modelType 2) or {FILES['tf_frozen']} (TF, modelType "
            "1): ReLU has no Clip, both formats map it"
        )
        wanted = ["onnx", "tf"]
    failing = [r.format for r in reports if r.format in wanted and not r.passed]
    if failing:
        advice += f"; but the TIDL check fails {', '.join(failing)}: see {TIDL_REPORT_FILE}"
    return advice


def summary_text(delivery: Delivery) -> str:
    """The per-format table and every TIDL report, as the export prints them."""

    def cell(value, spec):
        return "-" if value is None else format(value, spec)

    lines = [
        f"{'format':13} {'file':18} {'KB':>8} {'max|diff|':>10} {'top1 agr':>8} "
        f"{'test acc':>8} {'ms':>8}"
    ]
    for key, entry in delivery.report["formats"].items():
        lines.append(
            f"{key:13} {entry['file']:18} {entry['bytes'] / 1024:8.1f} "
            f"{entry['max_abs_diff']:10.3g} {entry['top1_agreement']:8.3f} "
            f"{cell(entry.get('accuracy'), '.4f'):>8} {cell(entry.get('latency_ms'), '.3f'):>8}"
        )
    tidl_facts = delivery.report["tidl"]
    lines += [
        report.render_text()
        for report in delivery.tidl_reports
        if not ruled_out_by_activation(report, tidl_facts["activation"])
    ]
    lines.append(f"TDA2x ({tidl_facts['activation']}): {tidl_facts['import_advice']}")
    return "\n".join(lines)


def deliver(
    merged: tf.keras.Model,
    int8_source: tuple[tf.keras.Model, str],
    calibration: np.ndarray,
    test: tuple[np.ndarray, np.ndarray],
    output: Path,
    options: DeliverOptions,
    provenance: dict[str, Any],
) -> Delivery:
    """Write and check every deliverable of `merged` under `output`.

    int8_source: (the model the int8 file is converted from, "qat" or "ptq"); test: (images,
    labels) for parity and accuracy; provenance: what export_report.json records of the inputs."""
    output.mkdir(parents=True, exist_ok=True)
    source_model, int8_mode = int8_source
    images, labels = test
    paths = _export_all(merged, source_model, calibration, output, options)
    formats = _format_reports(paths, merged, source_model, images, labels, options)
    tidl_reports = [
        tidl.check_file(str(paths[key]), options.device) for key, _ in TIDL_FORMATS.values()
    ]
    tidl.save_reports(output / TIDL_REPORT_FILE, tidl_reports)
    fmt = _import_format(tidl_reports, options.tidl_format)
    key, model_type = TIDL_FORMATS[fmt]
    input_shape = tuple(int(d) for d in merged.input_shape[1:])
    activation = model_activation(merged)
    tidl.write_import_config(
        output / TIDL_IMPORT_FILE,
        model_path=FILES[key],
        model_type=model_type,
        input_shape=input_shape,
        num_sample_in_data=len(calibration),
    )
    tidl.write_sample_raw(output / SAMPLE_FILE, tidl.images_to_uint8(calibration))
    report = {
        **provenance,
        "input_shape": list(input_shape),
        "num_test_images": len(images),
        "num_calibration_images": len(calibration),
        "int8_source": int8_mode,
        "int8_io": options.int8_io,
        "latency": {
            "runtime": "LiteRT",
            "threads": options.threads,
            "repeats": options.latency_repeats,
        },
        "formats": formats,
        "tidl": {
            "device": options.device,
            "passed": {r.format: r.passed for r in tidl_reports},
            "import_config_format": fmt,
            "activation": activation,
            "import_advice": import_advice(activation, tidl_reports),
        },
    }
    atomic_write_text(output / EXPORT_REPORT_FILE, json.dumps(report, indent=2))
    return Delivery(output, report, tidl_reports, fmt)
