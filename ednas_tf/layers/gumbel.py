"""Gumbel-softmax gate: the only place architecture parameters live.

A gate owns the logits of one categorical decision (kernel size, expansion, skip, or a joint
(kernel, expansion) pair). During search it returns a relaxed sample; for derivation it returns the
deterministic distribution `softmax(logits)`; for equivalence checks it returns the argmax one-hot.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import tensorflow as tf

ARCH_LOGITS_NAME = "arch_logits"
GATE_MODES = ("soft", "hard", "fixed")
_UNIFORM_EPS = (
    1e-6  # keeps -log(-log U) finite (GDAS resamples on inf; clipping never produces one)
)


def _replica_shared_uniform(
    generator: tf.random.Generator, shape, minval: float, maxval: float
) -> tf.Tensor:
    """`generator.uniform(shape, minval, maxval)`, but the same numbers on every replica.

    Under a `tf.distribute` strategy a generator folds the replica's id into its key, so each
    replica would sample its own architecture. One architecture per step is the search's
    sample, on one device or many: here the key and counter are the generator's state alone (as
    `Generator.uniform` computes them outside a strategy, so a one-device search draws the very
    numbers it always drew), and `skip` advances every replica's copy of the state alike."""
    state = generator.skip(tf.reduce_prod(shape))
    counter = tf.bitcast(state[:2], tf.uint64)  # Philox: a 2-word counter, then a 1-word key
    key = tf.bitcast(state[2:3], tf.uint64)
    unit = tf.raw_ops.StatelessRandomUniformV2(
        shape=shape, key=key, counter=counter, alg=generator.algorithm, dtype=tf.float32
    )
    low, high = tf.constant(minval, tf.float32), tf.constant(maxval, tf.float32)
    return unit * (high - low) + low


class GumbelSoftmaxGate(tf.keras.layers.Layer):
    """Categorical gate with trainable logits and an annealed temperature.

    Args:
      num_options: number of choices.
      mode: "soft" (Gumbel-softmax sample, FBNet) or "hard" (one-hot forward, straight-through
        gradient of the soft sample, GDAS); "fixed" returns the argmax one-hot even when training,
        which lets batch norm re-estimate its statistics on the path derive() would pick.
      inference: what the gate returns when not training: "probs" (softmax of the logits, used to
        evaluate the supernet) or "argmax" (one-hot of the most likely option: the derived child).
      seed: seeds the gate's own random stream so a search is reproducible.
      initial_temperature: starting temperature; the search loop anneals it with `set_temperature`.
      option_names: labels of the options, for logs and `gates.csv`.

    A gate is a float32 layer under any precision policy: softmax, temperature and the expected
    latency built on its probabilities stay float32, and its users cast a gate value to their
    compute dtype where it meets activations or 16-bit weights.
    """

    def __init__(
        self,
        num_options: int,
        mode: str = "soft",
        inference: str = "probs",
        seed: int | None = None,
        initial_temperature: float = 5.0,
        option_names: Sequence[str] | None = None,
        **kwargs,
    ):
        kwargs["dtype"] = "float32"  # never the mixed global policy (see the class docstring)
        super().__init__(**kwargs)
        if num_options < 1:
            raise ValueError(f"num_options must be >= 1, got {num_options}")
        if mode not in GATE_MODES:
            raise ValueError(f"mode must be one of {GATE_MODES}, got {mode!r}")
        if inference not in ("probs", "argmax"):
            raise ValueError(f"inference must be 'probs' or 'argmax', got {inference!r}")
        self.num_options = int(num_options)
        self.mode = mode
        self.inference = inference
        self.seed = seed
        self.initial_temperature = float(initial_temperature)
        self.option_names = (
            [str(n) for n in option_names]
            if option_names is not None
            else [str(i) for i in range(num_options)]
        )
        if len(self.option_names) != self.num_options:
            raise ValueError("option_names must have one name per option")

    def build(self, input_shape=None):
        self.logits = self.add_weight(
            name=ARCH_LOGITS_NAME,
            shape=(self.num_options,),
            initializer="zeros",
            trainable=True,
        )
        self.temperature = self.add_weight(
            name="temperature",
            shape=(),
            initializer=tf.keras.initializers.Constant(self.initial_temperature),
            trainable=False,
        )
        seed = self.seed if self.seed is not None else 0
        with tf.init_scope():  # the gate may first be built inside a traced function
            self._generator = tf.random.Generator.from_seed(seed)
        super().build(input_shape)

    def _ensure_built(self) -> None:
        if not self.built:
            self.build(None)

    def probs(self) -> tf.Tensor:
        """Deterministic distribution over options (used by derive() and expected latency)."""
        self._ensure_built()
        return tf.nn.softmax(self.logits)

    def sample(self, num_samples: int | None = None) -> tf.Tensor:
        """A relaxed sample softmax((logits + G) / τ), G = −log(−log U); [K] or [num_samples, K]."""
        self._ensure_built()
        shape = (self.num_options,) if num_samples is None else (num_samples, self.num_options)
        uniform = _replica_shared_uniform(self._generator, shape, _UNIFORM_EPS, 1.0 - _UNIFORM_EPS)
        gumbel = -tf.math.log(-tf.math.log(uniform))
        soft = tf.nn.softmax((self.logits + gumbel) / self.temperature, axis=-1)
        if self.mode == "soft":
            return soft
        hard = tf.one_hot(tf.argmax(soft, axis=-1), self.num_options, dtype=soft.dtype)
        return hard - tf.stop_gradient(soft) + soft

    def value(self, training=None) -> tf.Tensor:
        """The gate's weights: a sample when training, else probs or the argmax one-hot."""
        self._ensure_built()
        if training and self.mode != "fixed":
            return self.sample()
        if training or self.inference == "argmax":
            return tf.one_hot(tf.argmax(self.logits), self.num_options, dtype=self.logits.dtype)
        return self.probs()

    def call(self, inputs=None, training=None) -> tf.Tensor:
        """Keras entry point; `inputs` is ignored (a gate is evaluated for its weights only)."""
        return self.value(training)

    def set_temperature(self, value: float) -> None:
        self._ensure_built()
        self.temperature.assign(value)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            num_options=self.num_options,
            mode=self.mode,
            inference=self.inference,
            seed=self.seed,
            initial_temperature=self.initial_temperature,
            option_names=list(self.option_names),
        )
        return config


def gates_of(model: tf.keras.layers.Layer) -> list[GumbelSoftmaxGate]:
    """All gates inside a model or layer, in a stable order."""
    found = [m for m in model.submodules if isinstance(m, GumbelSoftmaxGate)]
    if isinstance(model, GumbelSoftmaxGate):
        found.insert(0, model)
    return found


def arch_variables(model: tf.keras.layers.Layer) -> list[tf.Variable]:
    """The architecture parameters (gate logits): optimised by the α-optimizer only."""
    return [g.logits for g in gates_of(model) if g.built]


def weight_variables(model: tf.keras.Model) -> list[tf.Variable]:
    """Trainable network weights, i.e. everything trainable that is not a gate logit."""
    arch_ids = {id(v) for v in arch_variables(model)}
    return [v for v in model.trainable_variables if id(v) not in arch_ids]


def set_temperature(model: tf.keras.layers.Layer, value: float) -> None:
    for gate in gates_of(model):
        gate.set_temperature(value)


def set_gate_mode(
    model: tf.keras.layers.Layer, *, mode: str | None = None, inference: str | None = None
) -> None:
    """Switch every gate between soft/hard/fixed sampling or probs/argmax inference."""
    for gate in gates_of(model):
        if mode is not None:
            gate.mode = mode
        if inference is not None:
            gate.inference = inference


@contextlib.contextmanager
def gate_modes(
    model: tf.keras.layers.Layer, *, mode: str | None = None, inference: str | None = None
) -> Iterator[None]:
    """`set_gate_mode` for the duration of a block; every gate gets its own modes back after."""
    gates = gates_of(model)
    saved = [(g.mode, g.inference) for g in gates]
    set_gate_mode(model, mode=mode, inference=inference)
    try:
        yield
    finally:
        for gate, (gate_mode, gate_inference) in zip(gates, saved):
            gate.mode, gate.inference = gate_mode, gate_inference
