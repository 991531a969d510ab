"""The deploy chain on a trained child: merge exactness, QAT int8 accuracy, export parity, speed.

  python bench/deploy_check.py --train_dir=runs/demo/train [--dataset=fashion_mnist]

Figures (last line JSON, also bench/results/deploy_check.json):
  merge_max_abs_diff     merged (one kernel per block, BN folded) vs child, inference mode,
                         on real test images and on random inputs
  float_acc              merged float model on the test images
  int8_acc_tfmot/_pow2   int8 TFLite (full integer) after QAT in each scheme
  int8_float_agreement   top-1 agreement int8 (tfmot) vs float
  onnx_max_abs_diff      ONNX (onnxruntime) vs Keras
  tflite_ms_merged/_unmerged  LiteRT float latency (1 thread, median) of the merged model and of
                         the child converted as it is (meta-kernels, BN layers)
Targets (issue 4): int8 within 0.5 pt of float; merge diff <= 1e-4.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf
from absl import flags

from bench import cli
from bench.common import emit
from deploy.export import (
    check_onnx,
    check_tflite,
    dataset_arrays,
    export_onnx,
    export_tflite_float,
    export_tflite_int8,
)
from deploy.merge import merge_model
from deploy.qat import QatConfig, run_qat
from ednas_tf.arch import ArchSpec
from ednas_tf.data import DataSplits, load_splits
from ednas_tf.measure.probes import time_tflite, to_tflite
from ednas_tf.training import load_trained

FV = cli.new_flags()
flags.DEFINE_string("train_dir", None, "Output of pipelines/train.py.", flag_values=FV)
flags.DEFINE_string("dataset", "fashion_mnist", "Dataset the child was trained on.", flag_values=FV)
flags.DEFINE_string("data_dir", None, "Where the dataset lies (registry).", flag_values=FV)
flags.DEFINE_integer("num_test", 10000, "Test images used.", flag_values=FV)
flags.DEFINE_integer(
    "num_calibration", 500, "Training images that calibrate the int8 export.", flag_values=FV
)
flags.DEFINE_integer("qat_epochs", 1, "QAT epochs per scheme.", flag_values=FV)
flags.DEFINE_integer("qat_steps", 200, "QAT steps per epoch.", flag_values=FV)
flags.DEFINE_float("qat_lr", 0.005, "QAT learning rate.", flag_values=FV)
flags.DEFINE_integer("repeats", 200, "Timed LiteRT invokes.", flag_values=FV)
flags.mark_flag_as_required("train_dir", flag_values=FV)
cli.define_results_name(FV, "deploy_check")


def _float_figures(
    child: tf.keras.Model,
    merged: tf.keras.Model,
    arch: ArchSpec,
    test_x: np.ndarray,
    test_y: np.ndarray,
) -> dict:
    """Merge exactness (test images and random inputs, where a folding slip is not hidden by
    the data) and the merged model's float accuracy: the yardstick of the int8 figures."""
    random_x = np.random.default_rng(0).uniform(0, 1, (64, *arch.input_shape)).astype(np.float32)
    merge_diff = max(
        float(
            np.max(
                np.abs(
                    child.predict(x, batch_size=256, verbose=0)
                    - merged.predict(x, batch_size=256, verbose=0)
                )
            )
        )
        for x in (test_x, random_x)
    )
    float_logits = merged.predict(test_x, batch_size=256, verbose=0)
    float_acc = float(np.mean(float_logits.argmax(-1) == test_y))
    print(f"merge max|diff| {merge_diff:.2e}; float accuracy {float_acc:.4f}", flush=True)
    return {
        "merge_max_abs_diff": merge_diff,
        "float_acc": float_acc,
        "num_test": int(len(test_y)),
        "arch": [b.encode() for b in arch.blocks],
    }


def _int8_figures(
    merged: tf.keras.Model, splits: DataSplits, data: tuple, args: argparse.Namespace, tmp: Path
) -> dict:
    """QAT then full-integer TFLite in each scheme: accuracy, agreement with float, speed."""
    test_x, test_y, calib_x = data
    figures = {}
    for scheme in ("tfmot", "pow2"):
        config = QatConfig(
            scheme=scheme,
            epochs=args.qat_epochs,
            steps_per_epoch=args.qat_steps,
            learning_rate=args.qat_lr,
        )
        qat_model, report = run_qat(merged, splits, config, verbose=2)
        path = export_tflite_int8(qat_model, tmp / f"{scheme}.tflite", calib_x, int8_io=False)
        parity = check_tflite(path, merged, test_x, test_y)
        figures[f"int8_acc_{scheme}"] = parity.accuracy
        figures[f"int8_float_agreement_{scheme}"] = parity.top1_agreement
        figures[f"int8_ms_{scheme}"] = time_tflite(path, repeats=args.repeats)
        print(
            f"{scheme}: fake-quant {report['qat_acc']:.4f}, int8 TFLite "
            f"{parity.accuracy:.4f}, agreement {parity.top1_agreement:.4f}",
            flush=True,
        )
    figures["int8_float_agreement"] = figures["int8_float_agreement_tfmot"]
    return figures


def _float_export_figures(
    child: tf.keras.Model, merged: tf.keras.Model, test_x: np.ndarray, repeats: int, tmp: Path
) -> dict:
    """ONNX parity, and LiteRT speed with and without the merge (what merging buys)."""
    onnx = check_onnx(export_onnx(merged, tmp / "m.onnx"), merged, test_x[:1000])
    return {
        "onnx_max_abs_diff": onnx.max_abs_diff,
        "tflite_ms_merged": time_tflite(
            export_tflite_float(merged, tmp / "m.tflite"), repeats=repeats
        ),
        "tflite_ms_unmerged": time_tflite(to_tflite(child), repeats=repeats),
    }


def main(argv: Sequence[str] | None = None) -> None:
    """argv as absl's (argv[0] the program; default sys.argv)."""
    argv = list(sys.argv if argv is None else argv)
    args = cli.parse_args(FV, argv, __doc__)
    arch, child = load_trained(args.train_dir)
    splits = load_splits(
        args.dataset, data_dir=args.data_dir, image_size=arch.input_shape[0], arch_fraction=0.0
    )
    test_x, test_y = dataset_arrays(splits.test, args.num_test)
    calib_x, _ = dataset_arrays(splits.train, args.num_calibration)
    merged = merge_model(child)
    figures = _float_figures(child, merged, arch, test_x, test_y)
    with tempfile.TemporaryDirectory() as tmp:
        data = (test_x, test_y, calib_x)
        figures.update(_int8_figures(merged, splits, data, args, Path(tmp)))
        figures.update(_float_export_figures(child, merged, test_x, args.repeats, Path(tmp)))
    for scheme in ("tfmot", "pow2"):
        figures[f"int8_drop_pt_{scheme}"] = round(
            100 * (figures["float_acc"] - figures[f"int8_acc_{scheme}"]), 3
        )
    figures["command"] = "python bench/deploy_check.py " + " ".join(argv[1:])
    tf.keras.backend.clear_session()
    emit(args.results_name, figures)


if __name__ == "__main__":
    main()
