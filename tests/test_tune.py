"""keras-tuner baseline: the pipeline end to end (2 tiny trials) and the latency constraint."""

import csv
import time
from pathlib import Path

import pytest
from keras_tuner.engine.trial import Trial

import ednas_tf.baselines.tuner as tune_lib
from ednas_tf.arch import ArchSpec
from ednas_tf.cost.network import child_latency, space_latency_bounds
from ednas_tf.data import load_splits
from ednas_tf.model import build
from ednas_tf.presets import preset_space
from ednas_tf.profiles import get_profile
from tests.cli import run_cli

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "--dataset=synthetic",
    "--space=tiny",
    "--image_size=16",
    "--limit=300",
    "--epochs=1",
    "--steps_per_epoch=3",
    "--batch_size=16",
]


def _run(args, timeout=300):
    return run_cli(["pipelines/tune.py", *args], timeout=timeout)


def test_pipeline_writes_a_buildable_arch_and_trials_csv(tmp_path):
    result = _run([*TINY, "--max_trials=2", "--tuner=random", f"--output_dir={tmp_path}"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert sum(line.startswith("trial ") for line in result.stdout.splitlines()) == 2

    arch = ArchSpec.load(tmp_path / "arch.json")
    model = build(arch)
    assert model.output_shape == (None, 4) and model.input_shape == (None, 16, 16, 1)
    search = arch.search
    assert search["method"] == "keras_tuner" and search["tuner"] == "random"
    assert search["trials_trained"] == 2 and 0 <= search["best_val_acc"] <= 1
    assert search["search_seconds"] > 0 and "max_trials" in search["stop_reason"]
    assert len(search["source_blocks"]) == len(arch.blocks)
    assert arch.predicted_latency_ms > 0

    with (tmp_path / "trials.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == tune_lib.TRIALS_CSV_FIELDS
    trained = [r for r in rows if r["status"] == "trained"]
    assert len(trained) == 2
    best = max(trained, key=lambda r: float(r["score"]))
    assert best["trial_id"] == search["best_trial"]
    assert best["blocks"].split() == [b.encode() for b in arch.blocks]


def test_bad_flags_are_clear_errors(tmp_path):
    both = ["--latency_budget_ms=5", "--latency_budget_fraction=0.5"]
    result = _run([*TINY, *both, f"--output_dir={tmp_path}"])
    assert result.returncode == 2 and "not both" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def setting():
    model = get_profile("tda2x").latency()
    space = preset_space("tiny", input_shape=(16, 16, 1), num_classes=4, profile="tda2x")
    splits = load_splits("synthetic", image_size=16, limit=120, arch_fraction=0.0, seed=0)
    return space, splits, model


def _tuner(setting, tmp_path, constraint, **config):
    space, splits, model = setting
    config = tune_lib.TuneConfig(epochs=1, steps_per_epoch=2, batch_size=8, **config)
    return tune_lib.ArchTuner(
        tune_lib.make_oracle(config), space, splits, model, constraint, config, tmp_path
    )


def _trial(tuner, decisions):
    """A trial whose hyperparameters pick `decisions` ({hp name: value})."""
    hp = tuner.oracle.get_space()
    hp.values.update(decisions)
    return Trial(hyperparameters=hp, trial_id="t0")


def _largest(space):
    values = {}
    for b in space.blocks:
        if b.searches_skip:
            values[tune_lib.hp_name(b.name, "skip")] = False
        if b.searches_kernel:
            values[tune_lib.hp_name(b.name, "kernel")] = max(o[0] for o in b.kernel_options)
        if b.searches_expansion:
            values[tune_lib.hp_name(b.name, "expansion")] = max(b.expansion_options)
    return values


def test_every_searched_decision_is_a_hyperparameter(setting, tmp_path):
    space, _, _ = setting
    tuner = _tuner(setting, tmp_path, tune_lib.LatencyConstraint())
    names = {hp.name for hp in tuner.oracle.get_space().space}
    assert names == set(_largest(space))


def test_reject_refuses_an_over_budget_child_untrained(setting, tmp_path, monkeypatch):
    space, _, model = setting
    largest = space.largest_child()
    budget = child_latency(largest, model) * 0.9  # the largest child is over it
    assert budget > space_latency_bounds(space, model)[0]
    tuner = _tuner(setting, tmp_path, tune_lib.LatencyConstraint(budget, "reject"))

    def no_training(*args, **kwargs):
        raise AssertionError("an over-budget child must not be trained")

    monkeypatch.setattr(tune_lib, "train_trial", no_training)
    result = tuner.run_trial(_trial(tuner, _largest(space)))
    assert result == {"score": tune_lib.REJECTED_SCORE}
    record = tuner.records[-1]
    assert record.status == "rejected" and record.val_acc is None and record.epochs == 0
    assert record.latency_ms == pytest.approx(child_latency(largest, model))


def test_within_budget_trains_and_penalty_lowers_the_score(setting, tmp_path, monkeypatch):
    space, _, model = setting
    latency = child_latency(space.largest_child(), model)
    monkeypatch.setattr(tune_lib, "train_trial", lambda *a, **k: (0.75, None))
    accepting = _tuner(setting, tmp_path / "a", tune_lib.LatencyConstraint(latency * 2, "reject"))
    assert accepting.run_trial(_trial(accepting, _largest(space))) == {"score": 0.75}
    assert accepting.records[-1].status == "trained"

    penalty = tune_lib.LatencyConstraint(latency / 2, "penalty", penalty_weight=0.5)
    penalised = _tuner(setting, tmp_path / "p", penalty)
    result = penalised.run_trial(_trial(penalised, _largest(space)))
    assert result["score"] == pytest.approx(0.75 - 0.5 * (latency / (latency / 2) - 1))


def test_budget_checks():
    model = get_profile("tda2x").latency()
    space = preset_space("tiny", input_shape=(16, 16, 1), num_classes=4, profile="tda2x")
    low, high = space_latency_bounds(space, model)
    assert tune_lib.resolve_budget(space, model, fraction=0.5) == pytest.approx((low + high) / 2)
    assert tune_lib.resolve_budget(space, model) is None
    with pytest.raises(ValueError, match="below the fastest child"):
        tune_lib.resolve_budget(space, model, budget_ms=low / 2)
    with pytest.raises(ValueError, match="fraction"):
        tune_lib.resolve_budget(space, model, fraction=1.5)
    with pytest.raises(ValueError, match="constraint"):
        tune_lib.LatencyConstraint(1.0, "maybe")


def test_time_budget_stops_new_trials(setting, tmp_path):
    tuner = _tuner(setting, tmp_path, tune_lib.LatencyConstraint(), max_time_minutes=0.01)
    tuner.start_time = time.time() - 60
    tuner.pre_create_trial()
    assert "time budget" in tuner.stop_reason
    trial = tuner.oracle.create_trial(tuner.tuner_id)
    assert trial.status == "STOPPED"
