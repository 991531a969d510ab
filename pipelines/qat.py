"""Quantization-aware fine-tuning of a trained child, after merging kernels and folding BN.

Writes, per scheme, <output_dir>/<scheme>/qat_model.h5 and qat_metrics.json (float vs QAT accuracy).

Example:
  python pipelines/qat.py --train_dir=runs/demo/train --scheme=both
"""

from __future__ import annotations

import json
import os
import sys

from absl import app, flags, logging

FLAGS = flags.FLAGS
flags.DEFINE_string("train_dir", None, "Output of pipelines/train.py (arch.json, weights).")
flags.DEFINE_enum(
    "scheme",
    "both",
    ["tfmot", "pow2", "both"],
    "tfmot: TFMOT's default 8-bit "
    "scheme (TFLite int8); pow2: TIDL-faithful power-of-two symmetric per-tensor "
    "scales; both: one after the other.",
)
flags.DEFINE_string("dataset", "fashion_mnist", "Dataset the child was trained on.")
flags.DEFINE_string("data_dir", None, "Where the dataset lives (default: its usual places).")
flags.DEFINE_integer("limit", None, "Use at most this many training (and test) examples.")
flags.DEFINE_integer("epochs", 2, "QAT epochs.")
flags.DEFINE_integer("steps_per_epoch", None, "Steps per epoch (default: one pass).")
flags.DEFINE_integer("batch_size", 128, "Batch size.")
flags.DEFINE_float("learning_rate", 0.005, "Peak learning rate of the fine-tuning (cosine).")
flags.DEFINE_string("output_dir", None, "Where outputs go (default: <train_dir>/qat).")
flags.DEFINE_integer("seed", 0, "Seed.")
flags.DEFINE_integer("verbose", 1, "Keras progress output: 0, 1 or 2.")
flags.mark_flag_as_required("train_dir")


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    from deploy.merge import merge_model
    from deploy.qat import QatConfig, run_qat, save_qat_model
    from ednas_tf.arch import ArchSpecError
    from ednas_tf.data import DatasetError, load_splits
    from ednas_tf.io_utils import atomic_write_text
    from ednas_tf.training import load_trained

    output = FLAGS.output_dir or os.path.join(FLAGS.train_dir, "qat")
    schemes = ["tfmot", "pow2"] if FLAGS.scheme == "both" else [FLAGS.scheme]
    try:
        arch, child = load_trained(FLAGS.train_dir)
        splits = load_splits(
            FLAGS.dataset,
            data_dir=FLAGS.data_dir,
            image_size=arch.input_shape[0],
            arch_fraction=0.0,
            limit=FLAGS.limit,
            seed=FLAGS.seed,
        )
        merged = merge_model(child)
        for scheme in schemes:
            config = QatConfig(
                scheme=scheme,
                epochs=FLAGS.epochs,
                batch_size=FLAGS.batch_size,
                learning_rate=FLAGS.learning_rate,
                steps_per_epoch=FLAGS.steps_per_epoch,
                seed=FLAGS.seed,
            )
            model, report = run_qat(merged, splits, config, verbose=FLAGS.verbose)
            scheme_dir = os.path.join(output, scheme)
            save_qat_model(model, os.path.join(scheme_dir, "qat_model.h5"))
            atomic_write_text(
                os.path.join(scheme_dir, "qat_metrics.json"), json.dumps(report, indent=2)
            )
            print(
                f"{scheme}: float accuracy {report['float_acc']:.4f}, fake-quantized "
                f"{report['qat_acc']:.4f}; {scheme_dir}/qat_model.h5",
                flush=True,
            )
    except (ArchSpecError, DatasetError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def run() -> None:
    """Console-script entry point (see pyproject.toml [project.scripts])."""
    app.run(main)


if __name__ == "__main__":
    run()
