"""Mixed precision: the supernet builds and trains under mixed_float16 and mixed_bfloat16 on CPU
with float32 gates and logits, a bfloat16 search learns, a bfloat16-trained child merges,
fine-tunes (QAT) and converts in float32, float16's loss scale checkpoints, and the stages
record, inherit and refuse precisions as documented."""

import dataclasses
import json
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

from bench.common import _finished_training
from deploy.export import export_tflite_int8
from deploy.merge import merge_model
from deploy.qat import QatConfig, run_qat
from ednas_tf.arch import ArchSpec
from ednas_tf.checkpointing import CheckpointKeeper
from ednas_tf.cost.macs import MacsProxy
from ednas_tf.data import batched, load_splits
from ednas_tf.layers.gumbel import arch_variables, gates_of
from ednas_tf.model import build, searchable_blocks
from ednas_tf.precision import for_precision, precision_policy
from ednas_tf.presets import preset_space
from ednas_tf.rundir import RunDir
from ednas_tf.search.expected import ExpectedLatency
from ednas_tf.search.loop import SearchConfig, SearchLoop
from ednas_tf.search.objectives import make_objective
from ednas_tf.search.schedules import make_schedule
from ednas_tf.training import TrainConfig, load_trained, train_child
from tests.cli import run_cli

MIXED = ["mixed_float16", "mixed_bfloat16"]
ARCH = {
    "input_shape": [16, 16, 1],
    "num_classes": 4,
    "stem": "conv_k3_c8_s1",
    "blocks": ["ir_k3+5_e1_c8_s1", "ir_k3_e3_c16_s2"],
}


@pytest.fixture(scope="module")
def splits():
    return load_splits("synthetic", image_size=16, limit=300)


def _space(splits, stage_widths=()):
    return preset_space(
        "tiny",
        input_shape=splits.input_shape,
        num_classes=splits.num_classes,
        stage_widths=stage_widths,
    ).step_space(2)


def _loop(splits, precision: str, **config) -> SearchLoop:
    space = _space(splits)
    with precision_policy(precision):
        model = build(space, seed=0)
        return SearchLoop(
            model,
            ExpectedLatency(model, space, MacsProxy()),
            make_objective(),
            make_schedule("exponential"),
            SearchConfig(precision=precision, **config),
        )


@pytest.mark.parametrize("precision", MIXED)
def test_mixed_supernet_builds_and_steps_with_float32_gates(splits, precision):
    """Every gate kind (kernel, expansion, skip, width) under the policy; float16 convolutions
    run on this CPU too (slowly), so float16 is tested like bfloat16."""
    with precision_policy(precision):
        model = build(_space(splits, stage_widths=(0.5, 1.0)), seed=0)
    assert tf.keras.mixed_precision.global_policy().name == "float32"  # the policy was reset
    compute = precision.split("_")[1]
    assert {block.compute_dtype for block in searchable_blocks(model)} == {compute}
    assert all(v.dtype == tf.float32 for v in model.variables)
    images, labels = next(iter(batched(splits.train, 8, training=True)))
    with tf.GradientTape() as tape:
        logits = model(images, training=True)
        loss = tf.reduce_mean(
            tf.keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        )
    grads = tape.gradient(loss, model.trainable_variables)
    assert logits.dtype == tf.float32 and loss.dtype == tf.float32
    assert all(g is not None and np.isfinite(g.numpy()).all() for g in grads)
    gates = gates_of(model)
    assert {g.probs().dtype for g in gates} == {tf.float32}
    assert {g.value(training=True).dtype for g in gates} == {tf.float32}
    assert {v.dtype for v in arch_variables(model)} == {tf.float32}
    assert len({g.name for g in gates}) >= 4  # kernel, expansion, skip and width gates


def test_bfloat16_search_runs_and_learns(splits):
    loop = _loop(
        splits,
        "mixed_bfloat16",
        epochs=3,
        warmup_epochs=1,
        steps_per_epoch=6,
        bn_recalibration_steps=2,
        stop_when_committed=0.0,
    )
    before = [v.numpy().copy() for v in loop.arch_vars]
    train = batched(splits.train, 16, training=True, drop_remainder=True)
    arch = batched(splits.arch, 16, training=True)
    logs = loop.fit(train, arch, batched(splits.val, 32, training=False), progress=False)
    assert logs[-1]["loss"] < logs[0]["loss"]
    assert logs[-1]["acc"] > 0.4  # 4 classes: chance is 0.25
    assert np.isfinite(logs[-1]["expected_latency_ms"]) and logs[-1]["latency_ms"] > 0
    moved = [not np.allclose(a, v.numpy()) for a, v in zip(before, loop.arch_vars)]
    assert any(moved) and all(v.dtype == tf.float32 for v in loop.arch_vars)


def test_float16_search_step_scales_the_weight_loss_only(splits):
    loop = _loop(splits, "mixed_float16", epochs=2, warmup_epochs=1, steps_per_epoch=2)
    assert isinstance(loop.weight_opt, tf.keras.mixed_precision.LossScaleOptimizer)
    assert not isinstance(loop.arch_opt, tf.keras.mixed_precision.LossScaleOptimizer)
    logs = loop.fit(
        batched(splits.train, 16, training=True, drop_remainder=True),
        batched(splits.arch, 16, training=True),
        progress=False,
    )
    assert np.isfinite(logs[-1]["loss"]) and np.isfinite(logs[-1]["arch_loss"])


def test_loss_scale_checkpoints_and_restores(splits, tmp_path):
    with precision_policy("mixed_float16"):
        model = build(ArchSpec.from_dict(ARCH))
    optimizer = for_precision(tf.keras.optimizers.SGD(0.1, momentum=0.9), "mixed_float16")
    optimizer.build(model.trainable_variables)
    keeper = CheckpointKeeper(tf.train.Checkpoint(model=model, optimizer=optimizer), tmp_path)
    images, labels = next(iter(batched(splits.train, 8, training=True)))

    def step():
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            loss = tf.reduce_mean(
                tf.keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
            )
            scaled = optimizer.get_scaled_loss(loss)
        grads = optimizer.get_unscaled_gradients(tape.gradient(scaled, model.trainable_variables))
        optimizer.apply_gradients(zip(grads, model.trainable_variables))

    step()
    optimizer.dynamic_counter.assign(7)
    optimizer._loss_scale.current_loss_scale.assign(1024.0)
    keeper.save({})
    saved = [v.numpy().copy() for v in optimizer.variables]
    step()
    optimizer._loss_scale.current_loss_scale.assign(8.0)
    keeper.restore()
    assert float(optimizer.loss_scale) == 1024.0 and int(optimizer.dynamic_counter) == 7
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(saved, optimizer.variables))


@pytest.fixture(scope="module")
def bfloat16_child(tmp_path_factory):
    out = tmp_path_factory.mktemp("bf16")
    splits = load_splits("synthetic", image_size=16, limit=300, arch_fraction=0.0)
    config = TrainConfig(
        epochs=1, batch_size=16, warmup_epochs=0, steps_per_epoch=6, precision="mixed_bfloat16"
    )
    metrics = train_child(ArchSpec.from_dict(ARCH), splits, config, out, verbose=0)
    return out, splits, metrics


def test_bfloat16_child_merges_quantizes_and_converts_in_float32(bfloat16_child, tmp_path):
    out, splits, metrics = bfloat16_child
    assert metrics["config"]["precision"] == "mixed_bfloat16"
    _, child = load_trained(out)
    assert {layer.compute_dtype for layer in child.layers} == {"float32"}
    merged = merge_model(child)
    assert {v.dtype for v in merged.variables} == {tf.float32}
    images = next(iter(batched(splits.test, 8, training=False)))[0]
    np.testing.assert_allclose(merged(images), child(images, training=False), atol=1e-4)
    model, report = run_qat(
        merged,
        splits,
        QatConfig(scheme="pow2", epochs=1, batch_size=16, steps_per_epoch=2),
        verbose=0,
    )
    assert 0 <= report["qat_acc"] <= 1
    path = export_tflite_int8(model, tmp_path / "m.tflite", images.numpy(), int8_io=True)
    assert path.stat().st_size > 1000


def test_train_inherits_the_runs_precision_and_qat_refuses_mixed(tmp_path):
    run = RunDir.at(tmp_path)
    (tmp_path / "arch.json").write_text(json.dumps(ARCH))
    facts = {"dataset": "synthetic", "limit": 200, "seed": 0, "precision": "mixed_bfloat16"}
    run.record("search", facts)
    train = run_cli(
        [
            "pipelines/train.py",
            f"--run_dir={tmp_path}",
            "--batch_size=16",
            "--epochs=1",
            "--warmup_epochs=0",
            "--steps_per_epoch=2",
            "--verbose=0",
        ],
        timeout=600,
    )
    assert train.returncode == 0, train.stderr[-2000:]
    assert run.stage_records()["train"]["precision"] == "mixed_bfloat16"
    metrics = json.loads((tmp_path / "train" / "train_metrics.json").read_text())
    assert metrics["config"]["precision"] == "mixed_bfloat16"
    qat = run_cli(["pipelines/qat.py", f"--run_dir={tmp_path}", "--precision=mixed_float16"])
    assert qat.returncode == 2
    assert qat.stderr.strip().splitlines()[-1].startswith("error: --precision=mixed_float16: QAT")
    assert "qat" not in run.stage_records()


def test_a_benchmark_training_recorded_before_precision_existed_is_reused(tmp_path):
    """bench/common.py reuses a finished training of the same recipe; one whose recorded
    config predates TrainConfig.precision was float32, so it matches a float32 recipe only."""
    arch = ArchSpec.from_dict(ARCH)
    arch.save(tmp_path / "arch.json")
    config = TrainConfig(epochs=1, warmup_epochs=0)
    old = {k: v for k, v in dataclasses.asdict(config).items() if k != "precision"}
    splits = SimpleNamespace(name="synthetic", sizes={"test": 10})
    metrics = {"config": old, "dataset": "synthetic", "test_examples": 10}
    (tmp_path / "train_metrics.json").write_text(json.dumps(metrics))
    assert _finished_training(tmp_path, arch, config, splits) == metrics
    bf16 = dataclasses.replace(config, precision="mixed_bfloat16")
    assert _finished_training(tmp_path, arch, bf16, splits) is None
