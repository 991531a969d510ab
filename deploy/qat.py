"""Quantization-aware training of a merged model, in two schemes.

* ``tfmot``: TFMOT's default 8-bit scheme (per-channel weights, asymmetric activations) — what the
  TFLite int8 converter expects.
* ``pow2``: TIDL-faithful. TDA2x quantizes with power-of-two scales (a right shift per layer),
  symmetric and per tensor, for weights and activations (docs/TIDL.md; TI's own QAT for TDA4
  does the same in PyTorch). No public Keras tool offers this, so it is written here as TFMOT
  quantizers. Scales are `2^n`: the fake-quant range is `[-128, 127]·2^n` (signed) or
  `[0, 255]·2^n` (after ReLU), expressed through `fake_quant_with_min_max_vars`, so TFLite's
  converter reads the same ranges and gradients pass straight through.

Quantizing after merging matters: re-parameterized (merged) kernels are known to lose accuracy in
post-training quantization; QAT on the merged model recovers it.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import tensorflow as tf
import tensorflow_model_optimization as tfmot
from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
    default_8bit_quantize_scheme,
)

from ednas_tf.checkpointing import CheckpointPolicy
from ednas_tf.data import DataSplits, batched
from ednas_tf.training import TrainConfig, train_model

quantize = tfmot.quantization.keras
SCHEMES = ("tfmot", "pow2")


def pow2_scale(max_abs: tf.Tensor, levels: float) -> tf.Tensor:
    """Smallest power of two s with `levels · s >= max_abs` (TIDL's per-layer shift)."""
    max_abs = tf.maximum(max_abs, 1e-8)
    return tf.pow(2.0, tf.math.ceil(tf.math.log(max_abs / levels) / math.log(2.0)))


class PowerOfTwoQuantizer(quantize.quantizers.Quantizer):
    """Symmetric per-tensor fake quantization with a power-of-two scale.

    signed: range [-128, 127]·s (or [-127, 127]·s with `narrow_range`, used for weights);
    unsigned: [0, 255]·s for non-negative tensors (outputs of ReLU/ReLU6).
    Activations track an exponential moving average of the batch max |x| while training; weights
    use their current max |w|.
    """

    def __init__(
        self,
        signed: bool = True,
        narrow_range: bool = False,
        is_weight: bool = False,
        ema_decay: float = 0.99,
    ):
        self.signed, self.narrow_range = signed, narrow_range
        self.is_weight, self.ema_decay = is_weight, ema_decay

    def _levels(self) -> float:
        if not self.signed:
            return 255.0
        return 127.0

    def build(self, tensor_shape, name, layer):
        max_abs = layer.add_weight(
            f"{name}_max_abs",
            shape=(),
            trainable=False,
            initializer=tf.keras.initializers.Constant(0.0),
        )
        return {"max_abs": max_abs}

    def range(self, max_abs: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(min, max) of the fake-quant op for a tracked max |x|; their step is a power of two."""
        scale = pow2_scale(max_abs, self._levels())
        if not self.signed:
            return tf.zeros_like(scale), 255.0 * scale
        low = -127.0 if self.narrow_range else -128.0
        return low * scale, 127.0 * scale

    def __call__(self, inputs, training, weights, **kwargs):
        max_abs_var = weights["max_abs"]
        if self.is_weight:  # constant once frozen: the converter folds the range
            max_abs = tf.stop_gradient(tf.reduce_max(tf.abs(inputs)))
            if training:
                max_abs_var.assign(max_abs)
        elif training:
            batch_max = tf.stop_gradient(tf.reduce_max(tf.abs(inputs)))
            max_abs = tf.where(
                tf.equal(max_abs_var, 0.0),
                batch_max,
                self.ema_decay * max_abs_var + (1 - self.ema_decay) * batch_max,
            )
            max_abs_var.assign(max_abs)
        else:  # inference: the tracked range only, so the graph has constant ranges
            max_abs = tf.identity(max_abs_var)
        low, high = self.range(max_abs)
        return tf.quantization.fake_quant_with_min_max_vars(
            inputs, low, high, num_bits=8, narrow_range=self.narrow_range
        )

    def get_config(self):
        return {
            "signed": self.signed,
            "narrow_range": self.narrow_range,
            "is_weight": self.is_weight,
            "ema_decay": self.ema_decay,
        }


class PowerOfTwoConfig(quantize.QuantizeConfig):
    """Which weights and outputs of a layer get power-of-two quantizers."""

    def __init__(self, weight_attrs: list[str], quantize_output: bool, output_signed: bool = True):
        self.weight_attrs = list(weight_attrs)
        self.quantize_output, self.output_signed = quantize_output, output_signed

    def get_weights_and_quantizers(self, layer):
        return [
            (
                getattr(layer, attr),
                PowerOfTwoQuantizer(signed=True, narrow_range=True, is_weight=True),
            )
            for attr in self.weight_attrs
        ]

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        for attr, weight in zip(self.weight_attrs, quantize_weights):
            setattr(layer, attr, weight)

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        if not self.quantize_output:
            return []
        return [PowerOfTwoQuantizer(signed=self.output_signed)]

    def get_config(self):
        return {
            "weight_attrs": self.weight_attrs,
            "quantize_output": self.quantize_output,
            "output_signed": self.output_signed,
        }


CUSTOM_OBJECTS = {"PowerOfTwoQuantizer": PowerOfTwoQuantizer, "PowerOfTwoConfig": PowerOfTwoConfig}


class _KeepLayout(quantize.QuantizeLayoutTransform):
    """No graph rewrites: the default scheme's Conv+ReLU fusion would drop our weight quantizers
    (it gives the conv a no-op config); our configs already skip the conv-before-ReLU output."""

    def apply(self, model, layer_quantize_map):
        return model, layer_quantize_map


class PowerOfTwoScheme(default_8bit_quantize_scheme.Default8BitQuantizeScheme):
    def get_layout_transformer(self):
        return _KeepLayout()


def _followed_by_relu(model: tf.keras.Model) -> set[str]:
    """Names of layers whose only consumer is a ReLU: their output is not a TFLite tensor."""
    fused = set()
    for layer in model.layers:
        consumers = [node.outbound_layer for node in layer._outbound_nodes]
        if len(consumers) == 1 and isinstance(consumers[0], tf.keras.layers.ReLU):
            fused.add(layer.name)
    return fused


def _pow2_config(layer: tf.keras.layers.Layer, fused: set[str]) -> PowerOfTwoConfig | None:
    if isinstance(layer, tf.keras.layers.DepthwiseConv2D):
        return PowerOfTwoConfig(["depthwise_kernel"], layer.name not in fused)
    if isinstance(layer, tf.keras.layers.Conv2D):
        return PowerOfTwoConfig(["kernel"], layer.name not in fused)
    if isinstance(layer, tf.keras.layers.ReLU):
        return PowerOfTwoConfig([], True, output_signed=False)
    if isinstance(layer, (tf.keras.layers.Add, tf.keras.layers.GlobalAveragePooling2D)):
        return PowerOfTwoConfig([], True)
    if isinstance(layer, tf.keras.layers.Reshape):
        return PowerOfTwoConfig([], False)
    return None


def quantize_for_training(merged: tf.keras.Model, scheme: str = "tfmot") -> tf.keras.Model:
    """The merged model with fake-quantization for QAT in the given scheme."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown QAT scheme {scheme!r}; choose from {SCHEMES}")
    if scheme == "tfmot":
        return quantize.quantize_model(merged)
    fused = _followed_by_relu(merged)

    def annotate(layer):
        config = _pow2_config(layer, fused)
        if config is None:
            return layer
        return quantize.quantize_annotate_layer(layer, quantize_config=config)

    annotated = tf.keras.models.clone_model(merged, clone_function=annotate)
    annotated.set_weights(merged.get_weights())
    with quantize.quantize_scope(CUSTOM_OBJECTS):
        return quantize.quantize_apply(annotated, scheme=PowerOfTwoScheme())


def pow2_quantizer_scales(qat_model: tf.keras.Model) -> dict[str, float]:
    """Scale (quantization step) of every power-of-two quantizer, keyed by layer/tensor.

    Public on purpose: it is how a user (and the tests) check that a pow2 QAT model's steps are
    powers of two, as TIDL's per-layer shifts require."""
    scales = {}
    for layer in qat_model.layers:
        pairs = [
            (f"{layer.name}/{getattr(w, 'name', 'weight')}", q, v)
            for w, q, v in getattr(layer, "_weight_vars", [])
        ]
        pairs += [
            (f"{layer.name}/output", q, v)
            for q, v in zip(
                getattr(layer, "_output_quantizers", []),
                [getattr(layer, "_output_quantizer_vars", None)],
            )
        ]
        for name, quantizer, variables in pairs:
            if isinstance(quantizer, PowerOfTwoQuantizer) and variables:
                low, high = quantizer.range(variables["max_abs"])
                steps = (
                    (127.0 if quantizer.narrow_range else 128.0) + 127.0
                    if quantizer.signed
                    else 255.0
                )
                scales[name] = float((high - low) / steps)
    return scales


@dataclasses.dataclass
class QatConfig:
    scheme: str = "tfmot"
    epochs: int = 2
    batch_size: int = 128
    learning_rate: float = 0.005
    steps_per_epoch: int | None = None
    seed: int = 0


def run_qat(
    merged: tf.keras.Model,
    splits: DataSplits,
    config: QatConfig,
    verbose: int = 1,
    checkpoint_dir: str | Path | None = None,
    policy: CheckpointPolicy | None = None,
    strategy: tf.distribute.Strategy | None = None,
) -> tuple[tf.keras.Model, dict]:
    """Fine-tunes the fake-quantized merged model; returns it and float vs QAT accuracy.

    Resumable from `checkpoint_dir` (None: no checkpoints) under `policy`, and distributed by
    `strategy` (`config.batch_size` the global batch), exactly as a training
    (`ednas_tf.training.train_model`)."""
    strategy = strategy or tf.distribute.get_strategy()
    tf.keras.utils.set_random_seed(config.seed)
    test = batched(splits.test, config.batch_size * 2, training=False)
    float_acc = _accuracy(merged, test)
    with strategy.scope():  # the fake-quantized copy's variables are the strategy's
        model = quantize_for_training(merged, config.scheme)
    steps = config.steps_per_epoch or max(1, splits.sizes["train"] // config.batch_size)
    train_config = TrainConfig(
        epochs=config.epochs,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        warmup_epochs=0,
        weight_decay=0.0,
        label_smoothing=0.0,
        seed=config.seed,
    )
    fingerprint = {
        "qat": dataclasses.asdict(config),
        **splits.fingerprint(),
    }
    train_model(
        model,
        splits.source("train"),
        train_config,
        steps,
        int(merged.output_shape[-1]),
        checkpoint_dir=checkpoint_dir,
        policy=policy,
        fingerprint=fingerprint,
        verbose=verbose,
        strategy=strategy,
    )
    qat_acc = _accuracy(model, test)
    return model, {
        "scheme": config.scheme,
        "float_acc": float_acc,
        "qat_acc": qat_acc,
        "epochs": config.epochs,
        "steps_per_epoch": steps,
    }


def _accuracy(model: tf.keras.Model, dataset: tf.data.Dataset) -> float:
    metric = tf.keras.metrics.SparseCategoricalAccuracy()
    for images, labels in dataset:
        metric.update_state(labels, model(images, training=False))
    return float(metric.result())


def save_qat_model(model: tf.keras.Model, path: str | Path) -> Path:
    """Saves a QAT model as .h5 (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.h5")
    model.save(tmp, include_optimizer=False)
    tmp.replace(path)
    return path


def load_qat_model(path: str | Path) -> tf.keras.Model:
    with quantize.quantize_scope(CUSTOM_OBJECTS):
        return tf.keras.models.load_model(str(path), compile=False)
