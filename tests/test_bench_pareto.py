"""The Pareto benchmark: keras.applications train under our recipe, `--baselines` picks them in
its order and refuses unknown names up front, `--seeds` trains every model once per seed and the
verdict compares the means."""

import pytest
import tensorflow as tf

from bench.pareto import (
    Bench,
    keras_app,
    margin_standard_error,
    parse_args,
    selected_baselines,
    tuner_targets,
    verdict,
)
from ednas_tf.arch import ArchSpec
from ednas_tf.layers.blocks import BN_MOMENTUM
from ednas_tf.space import preset_space
from ednas_tf.training import TrainConfig


def test_keras_app_batch_norms_use_our_momentum():
    model = keras_app("mbv2", 0.35, 32, (32, 32, 1), 10)
    inner = model.get_layer(index=-1)
    norms = [la for la in inner.layers if isinstance(la, tf.keras.layers.BatchNormalization)]
    assert norms and all(la.momentum == BN_MOMENTUM for la in norms)
    assert model.output_shape == (None, 10)


def _host_space():
    return preset_space("small", input_shape=(32, 32, 1), num_classes=10, profile="host")


def test_selected_baselines_follow_the_flag_order():
    picked = selected_baselines(_host_space(), "all_5x5,mbv2_a0.35_32px,all_3x3")
    assert [name for name, _ in picked] == ["all_5x5", "mbv2_a0.35_32px", "all_3x3"]
    assert isinstance(picked[0][1], ArchSpec)
    assert picked[1][1] == ("mbv2", 0.35, 32)


def test_selected_baselines_default_is_all_and_unknown_names_fail():
    space = _host_space()
    names = [name for name, _ in selected_baselines(space, None)]
    assert "cifar_mbv2_w1" in names and "all_7x7" not in names  # host has no 7x7
    with pytest.raises(SystemExit, match="all_7x7"):
        selected_baselines(space, "all_3x3,all_7x7")
    assert selected_baselines(space, "none") == []


def _parsed(*flags):
    return parse_args(["--quick", *flags])


def test_seeds_flag_parses_and_defaults_to_the_seed():
    assert _parsed().seed_list == [0]
    assert _parsed("--seed=3").seed_list == [3]
    assert _parsed("--seeds=0,1,2").seed_list == [0, 1, 2]
    for bad in ("--seeds=a", "--seeds=,", "--seeds=1,1"):
        with pytest.raises(SystemExit):
            _parsed(bad)


def test_stage_widths_flag_parses():
    assert _parsed().stage_width_list == ()
    assert _parsed("--stage_widths=0.75,1.25").stage_width_list == (0.75, 1.25)
    with pytest.raises(SystemExit):
        _parsed("--stage_widths=wide")


def test_tuner_runs_at_the_middle_target_or_at_every_one():
    assert _parsed().tuner_at == "middle"
    assert tuner_targets([0.3, 0.1, 0.2], "middle") == [0.2]
    assert tuner_targets([0.1, 0.2], "middle") == [0.2]
    assert tuner_targets([0.3, 0.1, 0.2], "every") == [0.3, 0.1, 0.2]
    with pytest.raises(SystemExit):
        _parsed("--tuner_at=some")


def test_seeded_runs_train_once_per_seed_and_keep_the_first_model(tmp_path):
    args = _parsed("--seeds=4,5,6", f"--output_dir={tmp_path}")
    bench = Bench(args, None, None, None, TrainConfig(epochs=1, warmup_epochs=0), lambda m: 0.1)
    calls = []

    def train_one(config, run_dir):
        calls.append((config.seed, run_dir))
        return f"model{config.seed}", {"test_acc": 0.8 + config.seed / 100, "train_seconds": 60}

    model, figures = bench.seeded_runs("child", train_one)
    assert model == "model4"
    assert [seed for seed, _ in calls] == [4, 5, 6]
    assert calls[0][1] == tmp_path / "child" and calls[1][1] == tmp_path / "child" / "seed5"
    assert figures["test_acc"] == pytest.approx(0.85)
    assert figures["test_acc_std_pt"] == pytest.approx(1.0)
    assert figures["train_minutes"] == 1.0


def _model(name, family, acc, latency, runs=None):
    return {
        "name": name,
        "family": family,
        "target_ms": 0.2 if family != "baseline" else None,
        "test_acc": acc,
        "host_latency_ms": latency,
        "test_acc_runs": runs,
    }


def test_verdict_compares_means_and_reports_the_margin_and_its_error():
    models = [
        _model("ednas", "ednas", 0.880, 0.20, [0.875, 0.885]),
        _model("fast", "baseline", 0.870, 0.15, [0.865, 0.875]),
        _model("slow", "baseline", 0.950, 0.40, [0.95, 0.95]),
    ]
    [row] = verdict(models)
    assert row["baselines_at_or_below_latency"] == ["fast"]
    assert row["ednas_beats_all_by_0.5pt"] and row["closest_baseline"] == "fast"
    assert row["margin_pt"] == pytest.approx(1.0)
    # sqrt(0.005²·2/2 + 0.005²·2/2) in points: the runs' sample variances over two seeds each
    assert row["margin_se_pt"] == pytest.approx(100 * (2 * 0.005**2) ** 0.5, rel=1e-3)
    assert margin_standard_error(models[0], _model("one", "baseline", 0.9, 0.1)) is None
