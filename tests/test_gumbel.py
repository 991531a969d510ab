import numpy as np
import pytest
import tensorflow as tf

from ednas_tf.layers.gumbel import GumbelSoftmaxGate

LOGITS = np.array([1.0, 0.0, -1.0, 2.0], dtype=np.float32)
N = 40_000


def _gate(mode="soft", seed=7):
    gate = GumbelSoftmaxGate(len(LOGITS), mode=mode, seed=seed, initial_temperature=1.0)
    gate.build(None)
    gate.logits.assign(LOGITS)
    return gate


def _matches_softmax(frequencies: np.ndarray) -> bool:
    """Within 5 standard errors of softmax(LOGITS) for every option."""
    p = tf.nn.softmax(LOGITS).numpy()
    stderr = np.sqrt(p * (1 - p) / N)
    return bool(np.all(np.abs(frequencies - p) <= 5 * stderr))


def _frequencies(samples: np.ndarray) -> np.ndarray:
    return np.bincount(samples.argmax(axis=-1), minlength=len(LOGITS)) / len(samples)


def test_argmax_frequencies_match_softmax():
    samples = _gate().sample(N).numpy()
    assert _matches_softmax(_frequencies(samples))


def test_the_frequency_check_catches_the_flipped_sign_bug():
    """+log(-log U) (a known bug in a public FBNet port) must fail the same check."""
    u = np.random.default_rng(0).uniform(1e-6, 1 - 1e-6, size=(N, len(LOGITS)))
    flipped = LOGITS + np.log(-np.log(u))
    assert not _matches_softmax(_frequencies(flipped))


def test_hard_mode_is_one_hot_with_gradients():
    gate = _gate(mode="hard")
    target = tf.constant([0.3, -1.0, 2.0, 0.5])
    with tf.GradientTape() as tape:
        sample = gate.sample()
        loss = tf.reduce_sum(sample * target)
    values = sample.numpy()
    assert sorted(values.round(6).tolist()) == [0.0, 0.0, 0.0, 1.0]
    grad = tape.gradient(loss, gate.logits).numpy()
    assert np.all(np.isfinite(grad)) and np.abs(grad).max() > 0


def test_seeded_sampling_is_reproducible():
    a = _gate(seed=11).sample(5).numpy()
    b = _gate(seed=11).sample(5).numpy()
    c = _gate(seed=12).sample(5).numpy()
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_inference_modes():
    gate = _gate()
    assert np.allclose(gate.value(training=False), tf.nn.softmax(LOGITS))
    gate.inference = "argmax"
    assert gate.value(training=False).numpy().tolist() == [0.0, 0.0, 0.0, 1.0]


def test_fixed_mode_is_the_argmax_path_even_when_training():
    gate = _gate(seed=5)
    gate.mode = "fixed"
    state = gate._generator.state.numpy().copy()
    assert gate.value(training=True).numpy().tolist() == [0.0, 0.0, 0.0, 1.0]
    assert np.array_equal(gate._generator.state.numpy(), state)  # no random draw
    gate.mode = "soft"
    assert gate.value(training=True).numpy().max() < 1.0


def test_temperature_sharpens_samples():
    gate = _gate(seed=3)
    gate.set_temperature(10.0)
    warm = gate.sample(2000).numpy().max(axis=-1).mean()
    gate.set_temperature(0.1)
    cold = gate.sample(2000).numpy().max(axis=-1).mean()
    assert cold > 0.9 > warm


def test_bad_arguments():
    with pytest.raises(ValueError):
        GumbelSoftmaxGate(0)
    with pytest.raises(ValueError):
        GumbelSoftmaxGate(2, mode="medium")
    with pytest.raises(ValueError):
        GumbelSoftmaxGate(2, option_names=["a"])
