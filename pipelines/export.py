"""Export the run's trained child for deployment and check it against TIDL (TDA2x).

Merges the trained child (one kernel per depthwise layer, BN folded), writes float and int8
TFLite, ONNX and a TF frozen graph, checks each against the Keras model on test images, times the
TFLite files with LiteRT, checks the ONNX and .pb graphs against the TIDL rules of the run's
device, and writes TIDL's import config and calibration frames (`deploy.deliver`).

Outputs in RUN/export: model.tflite, model_int8.tflite, model.onnx, model.pb,
export_report.json, tidl_report.json, tidl_import.txt, sample_in.raw. The int8 model comes from
ednas-qat's TFMOT model when the run has one, else from post-training quantization.

Example:
  ednas-export --run_dir=runs/demo
"""

from __future__ import annotations

import sys
from pathlib import Path

from absl import flags

from deploy.deliver import DeliverOptions, deliver, failing_layers, summary_text, tidl_ok
from deploy.export import dataset_arrays
from deploy.merge import merge_model
from deploy.qat import load_qat_model
from ednas_tf.data.sampling import sample_split
from ednas_tf.rundir import RunDir
from ednas_tf.training import load_trained
from pipelines.precision_flags import deployed_precision
from pipelines.run_flags import (
    check_run_paths,
    define_run_flags,
    load_stage_data,
    record_stage,
    stage_facts,
)
from pipelines.stage import console_script, stage_main

FLAGS = flags.FLAGS
define_run_flags("Run directory whose train/ (and train/qat/) is exported to RUN/export.")
flags.DEFINE_string(
    "qat_model",
    None,
    "A QAT Keras model (deploy/qat.py) the int8 TFLite model is converted from (its learned "
    "ranges). Default: the run's train/qat/tfmot/qat_model.h5 when ednas-qat wrote one; 'none': "
    "post-training int8 of the merged model.",
)
flags.DEFINE_bool(
    "int8_io", False, "int8 input/output tensors in the int8 TFLite model (else float I/O)."
)
flags.DEFINE_integer(
    "num_calibration",
    200,
    "Training images for int8 calibration and TIDL's sample_in.raw: a seeded, class-stratified "
    "sample (all of them when the split is smaller).",
    lower_bound=1,
)
flags.DEFINE_integer(
    "num_test",
    1000,
    "Test images for parity and accuracy checks: a seeded, class-stratified sample (all of "
    "them when the split is smaller); export_report.json and the summary say which.",
    lower_bound=1,
)
flags.DEFINE_string("output_dir", None, "Where outputs go (default: RUN/export).")
flags.DEFINE_string(
    "device", None, "Device profile whose TIDL rules the graphs must meet (default: the run's)."
)
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
flags.DEFINE_integer("opset", 13, "ONNX opset.", lower_bound=7)
flags.DEFINE_integer(
    "latency_repeats", 50, "Timed invokes per TFLite model (median reported).", lower_bound=1
)
flags.DEFINE_integer("threads", 1, "LiteRT threads for the latency figures.", lower_bound=1)
flags.mark_flag_as_required("run_dir")


def _int8_source(run: RunDir, merged):
    """(the model the int8 file is converted from, 'qat' or 'ptq')."""
    path = FLAGS.qat_model
    if path is None and run.qat_model("tfmot").is_file():
        path = str(run.qat_model("tfmot"))
    if not path or path == "none":
        return merged, "ptq"
    print(f"int8 model from the QAT model {path}", flush=True)
    return load_qat_model(path), "qat"


def _export(run: RunDir) -> int:
    arch, child = load_trained(run.train)
    facts = deployed_precision(stage_facts(run, defaults={"device": arch.device}), "export")
    splits = load_stage_data(facts, arch, f"the trained network ({run.train})")
    merged = merge_model(child)
    calibration_ds, calibration_sample = sample_split(
        splits, "train", FLAGS.num_calibration, facts["seed"]
    )
    test_ds, test_sample = sample_split(splits, "test", FLAGS.num_test, facts["seed"])
    print(
        f"export checks on {test_sample.describe()}; int8 calibration on "
        f"{calibration_sample.describe()}",
        flush=True,
    )
    calibration, _ = dataset_arrays(calibration_ds, calibration_sample.count)
    test = dataset_arrays(test_ds, test_sample.count)
    options = DeliverOptions(
        device=facts["device"],
        tidl_format=FLAGS.tidl_format,
        int8_io=FLAGS.int8_io,
        opset=FLAGS.opset,
        latency_repeats=FLAGS.latency_repeats,
        threads=FLAGS.threads,
    )
    output = Path(FLAGS.output_dir) if FLAGS.output_dir else run.export
    provenance = {
        "train_dir": str(run.train.resolve()),
        "dataset": facts["dataset"],
        "test_sample": test_sample.as_dict(),
        "calibration_sample": calibration_sample.as_dict(),
    }
    delivery = deliver(
        merged, _int8_source(run, merged), calibration, test, output, options, provenance
    )
    record_stage(run, "export", facts, arch, output=str(output))
    print(summary_text(delivery))
    print(
        f"outputs in {output}; tidl_import.txt is for the {delivery.import_format} model "
        f"({delivery.import_file})"
    )
    if tidl_ok(delivery.tidl_reports, FLAGS.tidl_format) or FLAGS.allow_unsupported:
        return 0
    failing = failing_layers(delivery.tidl_reports, FLAGS.tidl_format)
    print(
        f"error: TIDL check ({FLAGS.tidl_format}) failed; failing layers: "
        f"{', '.join(failing)} (--allow_unsupported to accept)",
        file=sys.stderr,
    )
    return 1


def _export_run() -> int:
    return _export(RunDir.at(FLAGS.run_dir))


main = stage_main(_export_run, "export", writes=check_run_paths)
run = console_script(main)


if __name__ == "__main__":
    run()
