"""Mixed precision: which Keras dtype policy a stage trains under, and loss scaling for float16.

`float32` (the default here), `mixed_float16` (GPUs with tensor cores) or `mixed_bfloat16` (TPUs,
recent CPUs). Under a mixed policy every variable stays float32 and layers compute in the 16-bit
type; the gates (`layers/gumbel.py`) and the classifier's logits are float32 layers, so the
softmax over options, the temperature, the expected latency and the loss stay float32.

float16 has a narrow exponent, so small gradients underflow: the weight optimizers are wrapped in
a `LossScaleOptimizer` (dynamic loss scale) and the custom loops scale the loss before the
gradient and unscale after it (`scaled_loss`, `unscaled_gradients`). bfloat16 has float32's
exponent and needs no scaling.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import tensorflow as tf

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
DEFAULT_PRECISION = "float32"


def check_precision(name: str) -> str:
    if name not in PRECISIONS:
        raise ValueError(f"unknown precision {name!r}; choose from {', '.join(PRECISIONS)}")
    return name


@contextlib.contextmanager
def precision_policy(name: str) -> Iterator[None]:
    """Keras's global dtype policy `name` while models are built (and trained) inside the block.

    A layer takes the global policy when it is created, so the policy in force at `build()`
    decides the model's compute dtype; the previous policy comes back afterwards, so a
    mixed-precision stage never leaks into a later float32 one (export builds in float32)."""
    check_precision(name)
    previous = tf.keras.mixed_precision.global_policy()
    tf.keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        tf.keras.mixed_precision.set_global_policy(previous)


def float32_policy() -> contextlib.AbstractContextManager:
    """The float32 policy, explicitly: what deployed (merged, exported) models are built in."""
    return precision_policy("float32")


def needs_loss_scaling(name: str) -> bool:
    return check_precision(name) == "mixed_float16"


def for_precision(
    optimizer: tf.keras.optimizers.Optimizer, name: str
) -> tf.keras.optimizers.Optimizer:
    """`optimizer` wrapped in a dynamic `LossScaleOptimizer` for float16, else itself.

    Only weight optimizers: the architecture optimizer's variables and loss are float32 (its
    gradient still flows back through the float16 activations after each gate, unscaled)."""
    if needs_loss_scaling(name):
        return tf.keras.mixed_precision.LossScaleOptimizer(optimizer)
    return optimizer


def is_loss_scaled(optimizer: tf.keras.optimizers.Optimizer) -> bool:
    return isinstance(optimizer, tf.keras.mixed_precision.LossScaleOptimizer)


def scaled_loss(optimizer: tf.keras.optimizers.Optimizer, loss: tf.Tensor) -> tf.Tensor:
    """The loss to differentiate (inside the tape): multiplied by the loss scale when
    `optimizer` scales losses, so small float16 gradients do not underflow; else `loss`."""
    return optimizer.get_scaled_loss(loss) if is_loss_scaled(optimizer) else loss


def unscaled_gradients(optimizer: tf.keras.optimizers.Optimizer, grads: Sequence) -> list:
    """Gradients of `scaled_loss` divided by the scale again. A step whose scaled gradients
    overflowed has non-finite ones: the optimizer skips it and lowers its scale."""
    if is_loss_scaled(optimizer):
        return optimizer.get_unscaled_gradients(grads)
    return list(grads)


def checked_gradients(optimizer: tf.keras.optimizers.Optimizer, grads: Sequence) -> Sequence:
    """The gradients a non-finite check should look at: none for a loss-scaled optimizer, whose
    overflowing steps are expected (it skips them and lowers the scale), else all of them."""
    return () if is_loss_scaled(optimizer) else grads
