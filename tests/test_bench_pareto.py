"""The Pareto benchmark: keras.applications train under our recipe, `--baselines` picks them in
its order and refuses unknown names up front, `--seeds` trains every model once per seed, the
verdict compares the means and `--resume` reuses a cut-off run's finished models."""

import json

import pytest
import tensorflow as tf

from bench import pareto
from bench.harness.imported import imported_baselines
from bench.harness.kernels import kernel_figures
from bench.harness.models import Bench
from bench.harness.pareto_run import tuner_targets
from bench.harness.record import resumable_models
from bench.harness.verdict import margin_standard_error, verdict
from bench.pareto import parse_args
from ednas_tf.arch import ArchSpec
from ednas_tf.baselines.fixed import baseline_list, fixed_kernel_arch, selected_baselines
from ednas_tf.baselines.keras_apps import keras_app
from ednas_tf.cost.network import arch_configs, child_latency
from ednas_tf.layers.blocks import BN_MOMENTUM
from ednas_tf.presets import preset_space
from ednas_tf.profiles import get_profile
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
    assert {"mbv1_a0.25_32px", "mbv1_a0.5_32px", "mbv1_a0.5_96px"} <= set(names)
    assert len(names) == len(set(names)) == 17
    # cheapest first: a long run cut off late still has the models near the targets
    assert names[:2] == ["all_3x3", "all_5x5"] and names[-1].endswith("96px")
    assert max(names.index(n) for n in names if n.endswith("32px")) < names.index(
        "cifar_mbv2_w0.35"
    )
    with pytest.raises(SystemExit, match="all_7x7"):
        selected_baselines(space, "all_3x3,all_7x7")
    assert selected_baselines(space, "none") == []


def test_tda2x_baselines_add_all_7x7_and_the_applications_at_the_run_size():
    space = _tda2x_space(64)
    names = [name for name, _ in selected_baselines(space, None, (32, 64, 96))]
    assert names[:3] == ["all_3x3", "all_5x5", "all_7x7"]
    assert {"mbv1_a0.25_64px", "mbv2_a0.35_64px"} <= set(names)
    all_7x7 = dict(selected_baselines(space, "all_7x7"))["all_7x7"]
    # TIDL runs depthwise 7x7 at stride 1 only: the strided blocks keep 3x3
    assert {(b.stride, b.kernel) for b in all_7x7.blocks} == {(1, (7,)), (2, (3,))}


def test_keras_app_mobilenet_v1_and_an_unknown_kind():
    model = keras_app("mbv1", 0.25, 32, (32, 32, 1), 10)
    assert model.output_shape == (None, 10) and model.name == "mbv1_0.25_32px"
    with pytest.raises(ValueError, match="mbv1"):
        keras_app("mbv9", 1.0, 32, (32, 32, 1), 10)


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


def test_kernels_flag_parses():
    assert _parsed().kernel_list == ()
    assert _parsed("--kernels=3").kernel_list == (3,)
    assert _parsed("--kernels=3,5").kernel_list == (3, 5)
    with pytest.raises(SystemExit):
        _parsed("--kernels=large")


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


def _model(name, family, acc, latency, runs=None, key="host_latency_ms"):
    return {
        "name": name,
        "family": family,
        "target_ms": 0.2 if family != "baseline" else None,
        "test_acc": acc,
        key: latency,
        "test_acc_runs": runs,
    }


def test_verdict_places_the_models_by_the_runs_latency_key():
    key = "tda2x_latency_ms"
    models = [
        _model("ednas", "ednas", 0.88, 20.0, key=key) | {"host_latency_ms": None},
        _model("fast", "baseline", 0.87, 15.0, key=key) | {"host_latency_ms": None},
        _model("slow", "baseline", 0.95, 25.0, key=key) | {"host_latency_ms": None},
    ]
    [row] = verdict(models, key)
    assert row["baselines_at_or_below_latency"] == ["fast"]
    assert row["ednas_tda2x_latency_ms"] == 20 and row["latency_key"] == key
    assert row["ednas_beats_all_by_0.5pt"] and row["margin_pt"] == pytest.approx(1.0)
    assert verdict(models) == []  # nothing placed on the host: no row rather than a crash


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


def _figures(acc):
    return {
        "test_acc": acc,
        "int8_acc": acc,
        "host_latency_ms": 0.1,
        "tda2x_latency_ms": 20.0,
        "params": 1000,
        "train_minutes": 1.0,
    }


def _cut_off_run(out, *flags):
    """A run in `out` with `flags` that finished model "a" and failed model "b"."""
    resumable_models(out, _parsed(f"--output_dir={out}", *flags))  # writes flags.json
    models = [{"name": "a", "family": "baseline", **_figures(0.9)}, {"name": "b", "error": "X"}]
    (out / "partial.json").write_text(json.dumps(models))


def test_resume_reuses_finished_models_and_runs_failed_ones_again(tmp_path, capsys):
    _cut_off_run(tmp_path, "--epochs=3")
    args = _parsed(f"--output_dir={tmp_path}", "--epochs=3", "--resume")
    finished = resumable_models(tmp_path, args)
    assert list(finished) == ["a"]
    assert "1 finished model(s) reused" in capsys.readouterr().err
    bench = Bench(args, None, None, None, None, lambda m: 0.1, finished)

    def must_not_run():
        raise AssertionError("a finished model ran again")

    entry = bench.run("b", "baseline", lambda: _figures(0.8))
    assert entry["test_acc"] == 0.8 and "error" not in entry
    # cut off again here, "a" (not reached yet) must still be in partial.json
    saved = json.loads((tmp_path / "partial.json").read_text())
    assert [m["name"] for m in saved] == ["b", "a"]
    assert bench.run("a", "baseline", must_not_run) == finished["a"]
    assert bench.reused == ["a"]
    saved = json.loads((tmp_path / "partial.json").read_text())
    assert [m["name"] for m in saved] == ["b", "a"]


def test_resume_refuses_a_run_measured_with_other_flags(tmp_path):
    _cut_off_run(tmp_path, "--epochs=3")
    with pytest.raises(SystemExit, match=r"epochs 3 \(now 4\)"):
        resumable_models(tmp_path, _parsed(f"--output_dir={tmp_path}", "--epochs=4", "--resume"))
    # flags that only choose which models run do not block it
    args = _parsed(f"--output_dir={tmp_path}", "--epochs=3", "--resume", "--no_tuner")
    assert list(resumable_models(tmp_path, args)) == ["a"]


def test_resume_takes_a_run_recorded_before_device_existed_as_host(tmp_path):
    _cut_off_run(tmp_path)
    flags = json.loads((tmp_path / "flags.json").read_text())
    del flags["device"]  # flags.json of a run before --device
    (tmp_path / "flags.json").write_text(json.dumps(flags))
    assert list(resumable_models(tmp_path, _parsed(f"--output_dir={tmp_path}", "--resume"))) == [
        "a"
    ]
    _cut_off_run(tmp_path)
    with pytest.raises(SystemExit, match="device 'host' \\(now 'tda2x'\\)"):
        resumable_models(
            tmp_path, _parsed(f"--output_dir={tmp_path}", "--resume", "--device=tda2x")
        )


def test_device_flag_and_its_checks(capsys):
    assert _parsed().device == "host" and _parsed("--device=tda2x").device == "tda2x"
    for bad in (["--device=gpu"], ["--device=tda2x", "--baselines_from=x.json"]):
        with pytest.raises(SystemExit) as exit_info:
            _parsed(*bad)
        assert exit_info.value.code == 2
    assert "needs --device=host" in capsys.readouterr().err


def test_resume_with_other_search_flags_runs_only_the_searched_models_again(tmp_path, capsys):
    resumable_models(tmp_path, _parsed(f"--output_dir={tmp_path}"))
    models = [
        {"name": "ednas_t0.5", "family": "ednas", **_figures(0.9)},
        {"name": "tuner_random_t0.5", "family": "tuner", **_figures(0.88)},
        {"name": "all_3x3", "family": "baseline", **_figures(0.87)},
    ]
    (tmp_path / "partial.json").write_text(json.dumps(models))
    args = _parsed(
        f"--output_dir={tmp_path}", "--resume", "--temperature_schedule=linear", "--arch_lr=0.02"
    )
    assert list(resumable_models(tmp_path, args)) == ["all_3x3"]
    err = capsys.readouterr().err
    assert "arch_lr 0.01 (now 0.02)" in err and "temperature_schedule None (now 'linear')" in err
    assert "(ednas_t0.5, tuner_random_t0.5)" in err
    # the new flags were saved: resuming again with them keeps every model
    (tmp_path / "partial.json").write_text(json.dumps(models))
    assert len(resumable_models(tmp_path, args)) == 3


def test_resume_with_more_targets_keeps_the_models_searched_at_the_earlier_ones(tmp_path):
    resumable_models(tmp_path, _parsed(f"--output_dir={tmp_path}", "--target_fractions=0.5"))
    models = [
        {"name": "ednas_t0.5", "family": "ednas", **_figures(0.9)},
        {"name": "tuner_random_t0.5", "family": "tuner", **_figures(0.88)},
    ]
    (tmp_path / "partial.json").write_text(json.dumps(models))
    args = _parsed(f"--output_dir={tmp_path}", "--resume", "--target_fractions=0.2,0.5,0.8")
    assert list(resumable_models(tmp_path, args)) == ["ednas_t0.5", "tuner_random_t0.5"]


_TIMING = {"runtime": "litert", "threads": 1, "repeats": 200, "warmup": 20, "rounds": 10}


def _results_file(path, space, models, **config):
    """An earlier run's results file: default flags (`_parsed()`), `space`, `models`."""
    args = _parsed()
    flags = {k: v for k, v in vars(args).items() if k not in ("seed_list", "stage_width_list")}
    flags.update(space=space, host_timing=dict(_TIMING, speed_reference_ms=0.05), **config)
    path.write_text(json.dumps({"config": flags, "models": models}))
    return path


def test_imported_baselines_keep_their_figures_and_fixed_children_of_another_space_renamed(
    tmp_path,
):
    small = dict(baseline_list(_host_space()))
    hires = preset_space("small_hires", input_shape=(32, 32, 1), num_classes=10, profile="host")
    encoded = lambda arch: [b.encode() for b in arch.blocks]  # noqa: E731
    models = [
        {
            "name": "all_3x3",
            "family": "baseline",
            "arch": encoded(small["all_3x3"]),
            **_figures(0.91),
        },
        {
            "name": "cifar_mbv2_w0.35",
            "family": "baseline",
            "arch": encoded(small["cifar_mbv2_w0.35"]),
            **_figures(0.92),
        },
        {"name": "mbv2_a0.35_96px", "family": "baseline", **_figures(0.919)},
        {"name": "ednas_t0.5", "family": "ednas", **_figures(0.93)},
        {"name": "mbv2_a1_96px", "family": "baseline", "error": "OOM"},
    ]
    path = _results_file(tmp_path / "earlier.json", "small", models)
    args = _parsed("--space=small_hires")
    imported = imported_baselines([str(path)], args, hires, _TIMING)
    assert [m["name"] for m in imported] == ["all_3x3_small", "cifar_mbv2_w0.35", "mbv2_a0.35_96px"]
    assert [m["test_acc"] for m in imported] == [0.91, 0.92, 0.919]
    assert all(m["imported_from"] == str(path) for m in imported)
    # in its own space the fixed child keeps its name
    assert (
        imported_baselines([str(path)], _parsed(), _host_space(), _TIMING)[0]["name"] == "all_3x3"
    )


def test_a_baseline_imported_twice_keeps_its_first_name_and_source(tmp_path):
    """The second file imported the first's baseline itself: listing both must not rename it
    again (all_3x3_small_small_hires) nor count it twice."""
    small = dict(baseline_list(_host_space()))
    hires = preset_space("small_hires", input_shape=(32, 32, 1), num_classes=10, profile="host")
    first = _results_file(
        tmp_path / "small.json",
        "small",
        [
            {
                "name": "all_3x3",
                "family": "baseline",
                "arch": [b.encode() for b in small["all_3x3"].blocks],
                **_figures(0.91),
            }
        ],
    )
    args = _parsed("--space=small_hires")
    carried = imported_baselines([str(first)], args, hires, _TIMING)
    second = _results_file(
        tmp_path / "hires.json",
        "small_hires",
        carried + [{"name": "mbv2_a0.35", "family": "baseline", **_figures(0.86)}],
    )
    both = imported_baselines([str(first), str(second)], args, hires, _TIMING)
    assert [m["name"] for m in both] == ["all_3x3_small", "mbv2_a0.35"]
    assert both[0]["imported_from"] == str(first)
    assert both[1]["imported_from"] == str(second)


def test_imported_baselines_must_have_trained_and_been_timed_as_this_run(tmp_path):
    other_epochs = _results_file(tmp_path / "e.json", "small", [], epochs=3)
    with pytest.raises(SystemExit, match=r"epochs 3 \(here 2\)"):
        imported_baselines([str(other_epochs)], _parsed(), _host_space(), _TIMING)
    other_threads = _results_file(tmp_path / "t.json", "small", [])
    with pytest.raises(SystemExit, match="host timing threads 1 \\(here 2\\)"):
        imported_baselines([str(other_threads)], _parsed(), _host_space(), dict(_TIMING, threads=2))
    (tmp_path / "bad.json").write_text("[]")
    with pytest.raises(SystemExit, match="not a bench/pareto.py results file"):
        imported_baselines([str(tmp_path / "bad.json")], _parsed(), _host_space(), _TIMING)


def test_a_resumed_searched_model_at_another_target_runs_again(tmp_path, capsys):
    args = _parsed(f"--output_dir={tmp_path}")
    finished = {"ednas_t0.5": {"name": "ednas_t0.5", "family": "ednas", "target_ms": 0.3}}
    bench = Bench(args, None, None, None, None, lambda m: 0.1, finished)
    fresh = {**_figures(0.9), "arch": []}
    entry = bench.run("ednas_t0.5", "ednas", lambda: fresh, target_ms=0.2)
    assert entry["target_ms"] == 0.2 and entry["test_acc"] == 0.9 and not bench.reused
    assert "searched it at 0.3 ms, not 0.2 ms" in capsys.readouterr().out
    same = {"name": "ednas_t0.5", "family": "ednas", "target_ms": 0.2, **_figures(0.8)}
    bench = Bench(args, None, None, None, None, lambda m: 0.1, {"ednas_t0.5": same})
    assert bench.run("ednas_t0.5", "ednas", lambda: fresh, target_ms=0.2) is same
    assert bench.reused == ["ednas_t0.5"]


def test_a_final_temperature_needs_the_linear_schedule():
    assert _parsed("--temperature_schedule=linear", "--temperature_final=0.2").temperature_final
    with pytest.raises(SystemExit):
        _parsed("--temperature_final=0.2")
    with pytest.raises(SystemExit):
        _parsed("--temperature_schedule=linear", "--temperature_init=0")


def test_without_resume_an_earlier_run_is_moved_aside(tmp_path, capsys):
    _cut_off_run(tmp_path)
    assert resumable_models(tmp_path, _parsed(f"--output_dir={tmp_path}")) == {}
    assert "--resume would reuse them" in capsys.readouterr().err
    assert not (tmp_path / "partial.json").exists()
    previous = json.loads((tmp_path / "partial.previous.json").read_text())
    assert [m["name"] for m in previous] == ["a", "b"]
    assert (tmp_path / "flags.previous.json").exists()
    (tmp_path / "flags.json").unlink()
    (tmp_path / "partial.json").write_text(json.dumps([{"name": "a"}]))
    with pytest.raises(SystemExit, match="no flags.json"):
        resumable_models(tmp_path, _parsed(f"--output_dir={tmp_path}", "--resume"))


def _tda2x_space(size=32):
    return preset_space("small", input_shape=(size, size, 1), num_classes=10, profile="tda2x")


def test_kernel_figures_give_the_share_and_every_allowed_kernels_cost_per_block():
    space = _tda2x_space()
    arch = fixed_kernel_arch(space, 7)
    model = get_profile("tda2x").latency()
    figures = kernel_figures(arch, model, (3, 5, 7), space.profile)
    strided = sum(b.stride == 2 for b in arch.blocks)
    assert figures["kernel_share"] == {
        "3x3": round(strided / len(arch.blocks), 4),
        "7x7": round(1 - strided / len(arch.blocks), 4),
    }
    costs = figures["kernel_costs"]
    assert len(costs) == len(arch.blocks) and costs[0]["in_hw"] == [32, 32]
    for row, block in zip(costs, arch.blocks):
        assert row["kernel"] == max(block.kernel)
        assert list(row["ms"]) == (["3x3"] if block.stride == 2 else ["3x3", "5x5", "7x7"])
        assert all(ms > 0 for ms in row["ms"].values())
    # the per-block costs are the model's: at the chosen kernels they add up to the blocks'
    blocks_ms = sum(r["ms"][f"{r['kernel']}x{r['kernel']}"] for r in costs)
    fixed, _ = arch_configs(arch)
    rest_ms = sum(model.conv_latency(c) for c in fixed)
    assert blocks_ms + rest_ms == pytest.approx(child_latency(arch, model), rel=1e-3)


def test_a_tiny_tda2x_run_places_every_model_by_its_predicted_latency(tmp_path, monkeypatch):
    """`--quick --device=tda2x` end to end on tiny synthetic data, a real (two-step) search:
    nothing is timed on the host, every model has its Keras graph's predicted TDA2x latency,
    the searched child its kernel share and per-block kernel costs, the verdict uses them."""
    written = {}
    monkeypatch.setattr(pareto, "emit", lambda name, figures: written.update(figures))
    monkeypatch.setattr(pareto, "RESULTS_DIR", tmp_path)
    argv = [
        "--quick", "--device=tda2x", "--dataset=synthetic", "--image_size=32", "--limit=400",
        "--num_test=32", "--num_calibration=8", "--epochs=1", "--steps_per_epoch=1",
        "--search_epochs=1", "--search_steps_per_epoch=1", "--no_tuner",
        "--baselines=mbv1_a0.25_32px", f"--output_dir={tmp_path / 'run'}",
        "--results_name=tiny_tda2x",
    ]  # fmt: skip
    assert pareto.main(argv) == 0
    config = written["config"]
    assert config["device_for_search"] == "tda2x" and config["latency_key"] == "tda2x_latency_ms"
    assert config["host_timing"] is None and config["latency_model"] == "tda2x-analytic"
    lo, hi = config["space_bounds_ms"]
    assert lo < config["targets_ms"][0] < hi
    ednas, mbv1 = written["models"]
    assert not ednas.get("error") and not mbv1.get("error")
    assert ednas["name"] == "ednas_t0.5" and mbv1["name"] == "mbv1_a0.25_32px"
    for m in (ednas, mbv1):
        assert m["host_latency_ms"] is None and m["tda2x_latency_ms"] > 0
    assert ednas["predicted_tda2x_ms"] == pytest.approx(ednas["tda2x_latency_ms"], rel=1e-3)
    assert sum(ednas["kernel_share"].values()) == pytest.approx(1, abs=1e-3)
    assert len(ednas["kernel_costs"]) == len(ednas["arch"])
    assert set(ednas["kernel_costs"][0]["ms"]) == {"3x3", "5x5", "7x7"}
    [row] = written["verdict"]
    assert row["latency_key"] == "tda2x_latency_ms"
    assert row["ednas_tda2x_latency_ms"] == ednas["tda2x_latency_ms"]
    assert (mbv1["tda2x_latency_ms"] <= ednas["tda2x_latency_ms"]) == (
        row["baselines_at_or_below_latency"] == ["mbv1_a0.25_32px"]
    )
    assert (tmp_path / "tiny_tda2x.png").exists()
