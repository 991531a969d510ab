"""Deploy-side figures of a trained model: int8 accuracy after post-training quantization, and
the static figures (parameters, MACs, predicted TDA2x latency) of a child or a Keras model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from deploy.export import export_tflite_int8, tflite_outputs
from ednas_tf.arch import ArchSpec
from ednas_tf.cost.layer_desc import describe_keras_model
from ednas_tf.cost.tda2x_latency import TDA2xLatency
from ednas_tf.reporting.summary import arch_macs


def int8_accuracy(
    model: tf.keras.Model, calibration: np.ndarray, images: np.ndarray, labels, path: Path
) -> float:
    """Test accuracy of `model` as a post-training int8 TFLite model (float I/O), calibrated on
    `calibration`; the .tflite is left at `path`."""
    export_tflite_int8(model, path, calibration, int8_io=False)
    return float(np.mean(tflite_outputs(path, images).argmax(-1) == labels))


def predicted_tda2x_ms(model: tf.keras.Model, tda2x: TDA2xLatency) -> float:
    """The tda2x profile's predicted latency of a Keras graph, layer by layer (its placement
    and active cores): the same for our children (merged) as for keras.applications, and
    re-predictable from a saved model when the latency model changes."""
    return float(
        tda2x.model.layers_ms(describe_keras_model(model), tda2x.placement, tda2x.active_cores)
    )


def child_static_figures(
    arch: ArchSpec, model: tf.keras.Model, merged: tf.keras.Model, tda2x: TDA2xLatency
) -> dict:
    """Parameters, MACs and predicted TDA2x latency of our child (`model` built from `arch`,
    `merged` its deployable graph: batch norms folded, our blocks as standard Keras layers)."""
    return {
        "params": int(model.count_params()),
        "macs": int(arch_macs(arch)),
        "tda2x_latency_ms": predicted_tda2x_ms(merged, tda2x),
        "arch": [b.encode() for b in arch.blocks],
    }


def keras_static_figures(model: tf.keras.Model, tda2x: TDA2xLatency) -> dict:
    """Parameters, MACs and predicted TDA2x latency of any Keras model (keras.applications)."""
    return {
        "params": int(model.count_params()),
        "macs": int(sum(d.macs for d in describe_keras_model(model))),
        "tda2x_latency_ms": predicted_tda2x_ms(model, tda2x),
    }
