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
from pathlib import Path

import numpy as np
import tensorflow as tf

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
from ednas_tf.data import load_splits
from ednas_tf.measure.probes import time_tflite, to_tflite
from ednas_tf.training import load_trained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train_dir", required=True, help="output of pipelines/train.py")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--num_test", type=int, default=10000, help="test images used")
    parser.add_argument("--num_calibration", type=int, default=500)
    parser.add_argument("--qat_epochs", type=int, default=1)
    parser.add_argument("--qat_steps", type=int, default=200, help="QAT steps per epoch")
    parser.add_argument("--qat_lr", type=float, default=0.005)
    parser.add_argument("--repeats", type=int, default=200, help="timed LiteRT invokes")
    args = parser.parse_args()

    arch, child = load_trained(args.train_dir)
    splits = load_splits(
        args.dataset, data_dir=args.data_dir, image_size=arch.input_shape[0], arch_fraction=0.0
    )
    test_x, test_y = dataset_arrays(splits.test, args.num_test)
    calib_x, _ = dataset_arrays(splits.train, args.num_calibration)
    merged = merge_model(child)

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

    figures = {
        "merge_max_abs_diff": merge_diff,
        "float_acc": float_acc,
        "num_test": int(len(test_y)),
        "arch": [b.encode() for b in arch.blocks],
    }
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for scheme in ("tfmot", "pow2"):
            qat_model, report = run_qat(
                merged,
                splits,
                QatConfig(
                    scheme=scheme,
                    epochs=args.qat_epochs,
                    steps_per_epoch=args.qat_steps,
                    learning_rate=args.qat_lr,
                ),
                verbose=2,
            )
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
        onnx = check_onnx(export_onnx(merged, tmp / "m.onnx"), merged, test_x[:1000])
        figures["onnx_max_abs_diff"] = onnx.max_abs_diff
        figures["tflite_ms_merged"] = time_tflite(
            export_tflite_float(merged, tmp / "m.tflite"), repeats=args.repeats
        )
        figures["tflite_ms_unmerged"] = time_tflite(to_tflite(child), repeats=args.repeats)
    figures["int8_drop_pt_tfmot"] = round(100 * (float_acc - figures["int8_acc_tfmot"]), 3)
    figures["int8_drop_pt_pow2"] = round(100 * (float_acc - figures["int8_acc_pow2"]), 3)
    figures["command"] = "python bench/deploy_check.py " + " ".join(sys.argv[1:])
    tf.keras.backend.clear_session()
    emit("deploy_check", figures)


if __name__ == "__main__":
    main()
