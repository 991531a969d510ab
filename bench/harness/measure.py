"""Deploy-side figures of a trained model: int8 accuracy after post-training quantization, and
the static figures (parameters, MACs, predicted TDA2x latency) of a child or a Keras model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from deploy.export import export_tflite_int8, tflite_outputs
from ednas_tf.arch import ArchSpec
from ednas_tf.cost.base import LatencyModel
from ednas_tf.cost.layer_desc import describe_keras_model
from ednas_tf.cost.network import child_latency
from ednas_tf.cost.tda2x import AnalyticTDA2x
from ednas_tf.reporting.summary import arch_macs


def int8_accuracy(
    model: tf.keras.Model, calibration: np.ndarray, images: np.ndarray, labels, path: Path
) -> float:
    """Test accuracy of `model` as a post-training int8 TFLite model (float I/O), calibrated on
    `calibration`; the .tflite is left at `path`."""
    export_tflite_int8(model, path, calibration, int8_io=False)
    return float(np.mean(tflite_outputs(path, images).argmax(-1) == labels))


def child_static_figures(arch: ArchSpec, model: tf.keras.Model, tda2x: LatencyModel) -> dict:
    """Parameters, MACs and predicted TDA2x latency of our child (`model` built from `arch`)."""
    return {
        "params": int(model.count_params()),
        "macs": int(arch_macs(arch)),
        "tda2x_latency_ms": float(child_latency(arch, tda2x)),
        "arch": [b.encode() for b in arch.blocks],
    }


def keras_static_figures(model: tf.keras.Model) -> dict:
    """Parameters, MACs and analytic TDA2x latency of any Keras model (keras.applications)."""
    return {
        "params": int(model.count_params()),
        "macs": int(sum(d.macs for d in describe_keras_model(model))),
        "tda2x_latency_ms": float(AnalyticTDA2x().model_ms(model)),
    }
