"""Export a trained child for deployment and check it against TIDL (TDA2x).

Merges the trained child (one kernel per depthwise layer, BN folded), writes float and int8
TFLite, ONNX and a TF frozen graph, checks each against the Keras model on test images, times the
TFLite files with LiteRT, checks the ONNX and .pb graphs against the TIDL rules of the device,
and writes TIDL's import config and calibration frames.

Outputs in --output_dir: model.tflite, model_int8.tflite, model.onnx, model.pb,
export_report.json, tidl_report.json, tidl_import.txt, sample_in.raw.

Example:
  python pipelines/export.py --train_dir=runs/demo/train --dataset=fashion_mnist
"""

from __future__ import annotations

import os
import sys

from absl import app, flags, logging

FLAGS = flags.FLAGS
flags.DEFINE_string(
    "train_dir", None, "Output of pipelines/train.py (arch.json + child.weights.h5)."
)
flags.DEFINE_string(
    "qat_model",
    None,
    "A QAT Keras model saved by deploy/qat.py; the int8 TFLite model is converted from it "
    "(its learned ranges). Default: post-training int8 of the merged model.",
)
flags.DEFINE_bool(
    "int8_io", False, "int8 input/output tensors in the int8 TFLite model (else float I/O)."
)
flags.DEFINE_string("dataset", "fashion_mnist", "Dataset of calibration and test images.")
flags.DEFINE_string("data_dir", None, "Where the dataset lives (default: its usual places).")
flags.DEFINE_integer("limit", None, "Use at most this many training (and test) examples.")
flags.DEFINE_integer(
    "num_calibration", 200, "Training images for int8 calibration and TIDL's sample_in.raw."
)
flags.DEFINE_integer("num_test", 1000, "Test images for parity and accuracy checks.")
flags.DEFINE_string("output_dir", None, "Where outputs go (default: <train_dir>/export).")
flags.DEFINE_string("device", "tda2x", "Device profile whose TIDL rules the graphs must meet.")
flags.DEFINE_enum(
    "tidl_format",
    "any",
    ["any", "tf", "onnx", "all"],
    "Which TIDL import format must pass the check: any one, the frozen .pb, the ONNX file, or "
    "both. (ReLU6 models fail as ONNX: ReLU6 becomes Clip, which TDA2x's ONNX import lacks.)",
)
flags.DEFINE_bool(
    "allow_unsupported",
    False,
    "Write everything and exit 0 even when the TIDL check fails (else exit 1 naming the "
    "failing layers).",
)
flags.DEFINE_integer("opset", 13, "ONNX opset.")
flags.DEFINE_integer("latency_repeats", 50, "Timed invokes per TFLite model (median reported).")
flags.DEFINE_integer("threads", 1, "LiteRT threads for the latency figures.")
flags.DEFINE_integer("seed", 0, "Seed of the data split (use the one training used).")
flags.mark_flag_as_required("train_dir")

FILES = {
    "tflite_float": "model.tflite",
    "tflite_int8": "model_int8.tflite",
    "onnx": "model.onnx",
    "tf_frozen": "model.pb",
}
TIDL_FORMATS = {"tf": ("tf_frozen", 1), "onnx": ("onnx", 2)}  # format -> (file key, modelType)


def _load_int8_source(merged):
    """(model the int8 file is converted from, 'qat' or 'ptq')."""
    if not FLAGS.qat_model:
        return merged, "ptq"
    try:
        from deploy.qat import load_qat_model
    except ImportError as err:
        raise ValueError(f"--qat_model needs deploy.qat.load_qat_model ({err})") from err
    return load_qat_model(FLAGS.qat_model), "qat"


def _export_all(merged, int8_source, calibration, output):
    from deploy import export

    paths = {key: os.path.join(output, name) for key, name in FILES.items()}
    export.export_tflite_float(merged, paths["tflite_float"])
    export.export_tflite_int8(int8_source, paths["tflite_int8"], calibration, FLAGS.int8_io)
    export.export_onnx(merged, paths["onnx"], opset=FLAGS.opset)
    export.export_frozen_graph(merged, paths["tf_frozen"])
    return paths


def _format_reports(paths, merged, int8_source, images, labels) -> dict[str, dict]:
    from deploy import export
    from ednas_tf.measure.probes import time_tflite

    checks = {
        "tflite_float": (export.check_tflite, merged),
        "tflite_int8": (export.check_tflite, int8_source),
        "onnx": (export.check_onnx, merged),
        "tf_frozen": (export.check_frozen_graph, merged),
    }
    reports = {}
    for key, (check, reference) in checks.items():
        entry = {"file": os.path.basename(paths[key]), "bytes": os.path.getsize(paths[key])}
        entry.update(check(paths[key], reference, images, labels).to_dict())
        if key.startswith("tflite"):
            entry["latency_ms"] = time_tflite(
                paths[key], repeats=FLAGS.latency_repeats, num_threads=FLAGS.threads
            )
        reports[key] = entry
    return reports


def _tidl_ok(reports) -> bool:
    passed = {r.format for r in reports if r.passed}
    if FLAGS.tidl_format == "any":
        return bool(passed)
    if FLAGS.tidl_format == "all":
        return passed == set(TIDL_FORMATS)
    return FLAGS.tidl_format in passed


def _import_format(reports) -> str:
    """The format the import config is written for: the first passing one (TF preferred)."""
    if FLAGS.tidl_format in TIDL_FORMATS:
        return FLAGS.tidl_format
    return next((r.format for r in reports if r.passed), "tf")


def _summary(formats: dict[str, dict], tidl_reports) -> str:
    def cell(value, spec):
        return "-" if value is None else format(value, spec)

    lines = [
        f"{'format':13} {'file':18} {'KB':>8} {'max|diff|':>10} {'top1 agr':>8} "
        f"{'test acc':>8} {'ms':>8}"
    ]
    for key, entry in formats.items():
        lines.append(
            f"{key:13} {entry['file']:18} {entry['bytes'] / 1024:8.1f} "
            f"{entry['max_abs_diff']:10.3g} {entry['top1_agreement']:8.3f} "
            f"{cell(entry.get('accuracy'), '.4f'):>8} {cell(entry.get('latency_ms'), '.3f'):>8}"
        )
    lines += [report.render_text() for report in tidl_reports]
    return "\n".join(lines)


def _run_stage() -> int:
    import json

    from deploy import tidl
    from deploy.export import dataset_arrays
    from deploy.merge import merge_model
    from ednas_tf.data import load_splits
    from ednas_tf.io_utils import atomic_write_text
    from ednas_tf.training import load_trained

    arch, child = load_trained(FLAGS.train_dir)
    merged = merge_model(child)
    int8_source, int8_mode = _load_int8_source(merged)
    splits = load_splits(
        FLAGS.dataset,
        data_dir=FLAGS.data_dir,
        image_size=arch.input_shape[0],
        arch_fraction=0.0,
        limit=FLAGS.limit,
        seed=FLAGS.seed,
    )
    if tuple(splits.input_shape) != tuple(arch.input_shape):
        raise ValueError(
            f"data {list(splits.input_shape)} does not match the arch input "
            f"{list(arch.input_shape)}"
        )
    calibration, _ = dataset_arrays(splits.train, FLAGS.num_calibration)
    images, labels = dataset_arrays(splits.test, FLAGS.num_test)
    output = FLAGS.output_dir or os.path.join(FLAGS.train_dir, "export")
    os.makedirs(output, exist_ok=True)

    paths = _export_all(merged, int8_source, calibration, output)
    formats = _format_reports(paths, merged, int8_source, images, labels)
    tidl_reports = [tidl.check_file(paths[key], FLAGS.device) for key, _ in TIDL_FORMATS.values()]
    tidl.save_reports(os.path.join(output, "tidl_report.json"), tidl_reports)
    fmt = _import_format(tidl_reports)
    key, model_type = TIDL_FORMATS[fmt]
    tidl.write_import_config(
        os.path.join(output, "tidl_import.txt"),
        model_path=FILES[key],
        model_type=model_type,
        input_shape=arch.input_shape,
        num_sample_in_data=len(calibration),
    )
    tidl.write_sample_raw(os.path.join(output, "sample_in.raw"), tidl.images_to_uint8(calibration))
    report = {
        "train_dir": os.path.abspath(FLAGS.train_dir),
        "dataset": FLAGS.dataset,
        "input_shape": list(arch.input_shape),
        "num_test_images": len(images),
        "num_calibration_images": len(calibration),
        "int8_source": int8_mode,
        "int8_io": FLAGS.int8_io,
        "latency": {
            "runtime": "LiteRT",
            "threads": FLAGS.threads,
            "repeats": FLAGS.latency_repeats,
        },
        "formats": formats,
        "tidl": {
            "device": FLAGS.device,
            "passed": {r.format: r.passed for r in tidl_reports},
            "import_config_format": fmt,
        },
    }
    atomic_write_text(os.path.join(output, "export_report.json"), json.dumps(report, indent=2))
    print(_summary(formats, tidl_reports))
    print(f"outputs in {output}; tidl_import.txt is for the {fmt} model ({FILES[key]})")
    if _tidl_ok(tidl_reports) or FLAGS.allow_unsupported:
        return 0
    required = TIDL_FORMATS if FLAGS.tidl_format in ("any", "all") else [FLAGS.tidl_format]
    failing = [
        f"{r.format}:{row.name}" for r in tidl_reports if r.format in required for row in r.failures
    ]
    print(
        f"error: TIDL check ({FLAGS.tidl_format}) failed; failing layers: "
        f"{', '.join(failing)} (--allow_unsupported to accept)",
        file=sys.stderr,
    )
    return 1


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    from ednas_tf.arch import ArchSpecError
    from ednas_tf.data import DatasetError

    try:
        return _run_stage()
    except (ArchSpecError, DatasetError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def run() -> None:
    """Console-script entry point (see pyproject.toml [project.scripts])."""
    app.run(main)


if __name__ == "__main__":
    run()
