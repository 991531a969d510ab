import json

import numpy as np
import pytest
import tensorflow as tf

from ednas_tf.arch import ArchSpec
from ednas_tf.data import batched, load_splits
from ednas_tf.training import TrainConfig, WarmupCosine, load_trained, train_child

ARCH = {
    "input_shape": [16, 16, 1],
    "num_classes": 4,
    "stem": "conv_k3_c8_s1",
    "blocks": ["ir_k3+5_e1_c8_s1", "ir_k3_e3_c16_s2", "ir_k5_e3_c16_s1"],
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("train")
    splits = load_splits("synthetic", image_size=16, limit=400, arch_fraction=0.0)
    config = TrainConfig(
        epochs=2, batch_size=32, warmup_epochs=1, steps_per_epoch=8, random_erasing=0.5
    )
    metrics = train_child(ArchSpec.from_dict(ARCH), splits, config, out, verbose=0)
    return out, splits, metrics


def test_train_writes_outputs_and_metrics(trained):
    out, _, metrics = trained
    for name in ("child.weights.h5", "arch.json", "train_metrics.json"):
        assert (out / name).stat().st_size > 0
    saved = json.loads((out / "train_metrics.json").read_text())
    assert saved["test_acc"] == metrics["test_acc"] and 0 <= metrics["test_acc"] <= 1
    assert 1 <= saved["best_epoch"] <= 2 and len(saved["history"]["val_acc"]) == 2
    assert not list(out.glob(".best*"))  # the temporary best checkpoint was moved into place


def test_load_trained_reproduces_the_test_accuracy(trained):
    out, splits, metrics = trained
    _, model = load_trained(out)
    metric = tf.keras.metrics.SparseCategoricalAccuracy()
    for images, labels in batched(splits.test, 64, training=False):
        metric.update_state(labels, model(images, training=False))
    assert float(metric.result()) == pytest.approx(metrics["test_acc"], abs=1e-6)


def test_mismatched_data_is_refused(tmp_path):
    splits = load_splits("synthetic", image_size=20, limit=100)
    with pytest.raises(ValueError, match="input_shape"):
        train_child(
            ArchSpec.from_dict(ARCH), splits, TrainConfig(epochs=1, warmup_epochs=0), tmp_path
        )


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_random_erasing_must_be_a_probability(bad):
    with pytest.raises(ValueError, match="random_erasing"):
        TrainConfig(random_erasing=bad)


def test_warmup_cosine_schedule():
    schedule = WarmupCosine(0.1, warmup_steps=10, total_steps=110)
    values = np.array([float(schedule(s)) for s in (0, 9, 10, 60, 110)])
    assert values[0] == pytest.approx(0.01) and values[1] == pytest.approx(0.1)
    assert values[2] == pytest.approx(0.1) and values[3] == pytest.approx(0.05)
    assert values[4] == pytest.approx(0.0, abs=1e-7)


def test_load_trained_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="ednas-train"):
        load_trained(tmp_path)
