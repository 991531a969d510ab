"""The Pareto benchmark's library (bench/harness/, bench/cli.py, ednas_tf/baselines/):
the resume record, the verdict, imported baselines, the flags, the plot — without training."""

import dataclasses
import json
from types import SimpleNamespace

import pytest

from bench import cli, pareto
from bench.harness import pareto_run, record
from bench.harness.models import FIELDS
from bench.harness.pareto_run import searched_name
from bench.harness.plot import plot
from bench.harness.recipe import search_config, train_config
from bench.harness.verdict import table, verdict, verdict_line
from bench.pareto import parse_args
from ednas_tf.baselines.fixed import fixed_kernel_arch, mbv2_cifar_arch
from ednas_tf.baselines.imported import (
    baselines_of,
    first_of_each,
    read_results,
    timing_differences,
)
from ednas_tf.cost.macs import MacsProxy
from ednas_tf.presets import preset_space


def test_partial_record_round_trips_and_flags_are_stored_as_json(tmp_path):
    assert record.read_partial(tmp_path) == []
    models = [{"name": "a", "family": "baseline", "test_acc": 0.9}, {"name": "b", "error": "X"}]
    record.write_partial(tmp_path, models)
    assert record.read_partial(tmp_path) == models
    flags = record.result_flags(parse_args(["--quick", "--kernels=3,5"]))
    assert set(flags) == set(record.RESULT_FLAGS)
    assert flags["seed_list"] == [0] and flags["kernels"] == "3,5"  # lists, as JSON holds them


def test_still_valid_keeps_baselines_when_only_search_flags_differ(tmp_path, capsys):
    args = parse_args(["--quick"])
    before = record.result_flags(args)
    (tmp_path / record.FLAGS_FILE).write_text(json.dumps(before))
    finished = {"all_3x3": {"family": "baseline"}, "ednas_t0.5": {"family": "ednas"}}
    assert record.still_valid(tmp_path, before, finished) == finished
    assert list(record.still_valid(tmp_path, dict(before, arch_lr=1.0), finished)) == ["all_3x3"]
    assert "(ednas_t0.5)" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="epochs"):
        record.still_valid(tmp_path, dict(before, epochs=99), finished)


def test_move_aside_keeps_the_earlier_run(tmp_path):
    record.write_partial(tmp_path, [{"name": "a"}])
    record.move_aside(tmp_path, finished=1)
    assert not (tmp_path / record.PARTIAL_FILE).exists()
    assert json.loads((tmp_path / "partial.previous.json").read_text()) == [{"name": "a"}]


def _m(name, family, acc, latency, target=None):
    """A model's entry as Bench records it: every field, these set."""
    entry = dict.fromkeys(FIELDS)
    entry.update(name=name, family=family, target_ms=target, test_acc=acc)
    return dict(entry, host_latency_ms=latency)


def test_verdict_margin_without_peers_and_with_a_tuner():
    models = [
        _m("ednas", "ednas", 0.90, 0.10, target=0.1),
        _m("tuner", "tuner", 0.89, 0.09, target=0.1),
        _m("slow", "baseline", 0.95, 0.50),
        {"name": "broken", "family": "baseline", "error": "OOM"},
    ]
    [row] = verdict(models)
    assert row["vacuous"] and row["ednas_beats_all_by_0.5pt"]  # nothing at or below 0.1 ms
    assert row["margin_pt"] is None and row["closest_baseline"] is None
    assert row["tuner"] == "tuner" and row["tuner_worse"] is True
    models.append(_m("fast", "baseline", 0.897, 0.05))
    [row] = verdict(models)
    assert row["margin_pt"] == pytest.approx(0.3) and row["not_beaten"] == ["fast"]
    assert not row["ednas_beats_all_by_0.5pt"]
    assert "margin over the closest, fast: 0.3 pt" in verdict_line(row)
    lines = table(models).splitlines()
    assert any("ERROR OOM" in line for line in lines)


def test_plot_writes_a_png(tmp_path):
    models = [
        dict(_m("ednas", "ednas", 0.9, 0.1), tda2x_latency_ms=5.0, test_acc_std_pt=0.5),
        dict(_m("all_3x3", "baseline", 0.88, 0.2), tda2x_latency_ms=None),
    ]
    plot(models, tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_imported_baselines_are_renamed_by_space_and_listed_once(tmp_path):
    own = {"all_3x3": ["ir_k3_e6_c16_s1"]}
    models = [
        {"name": "all_3x3", "family": "baseline", "arch": ["ir_k5_e6_c16_s1"]},
        {"name": "mbv2", "family": "baseline"},
        {"name": "x", "family": "baseline", "imported_from": "first.json"},
        {"name": "e", "family": "ednas"},
        {"name": "f", "family": "baseline", "error": "OOM"},
    ]
    got = baselines_of(models, "b.json", "small_hires", own)
    assert [m["name"] for m in got] == ["all_3x3_small_hires", "mbv2", "x"]
    assert [m["imported_from"] for m in got] == ["b.json", "b.json", "first.json"]
    assert [m["imported_from"] for m in first_of_each(got + got[:1])] == [
        "b.json", "b.json", "first.json"
    ]  # fmt: skip
    assert timing_differences({"threads": 1}, {"threads": 2})[0].startswith("host timing threads")
    (tmp_path / "r.json").write_text(json.dumps({"config": {"a": 1}, "models": []}))
    assert read_results(tmp_path / "r.json") == ({"a": 1}, [])
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(SystemExit, match="not a bench/pareto.py results file"):
        read_results(tmp_path / "bad.json")


def test_cifar_layout_rounds_channels_as_mobilenet_v2():
    space = preset_space("small", input_shape=(32, 32, 1), num_classes=10, profile="host")
    arch = mbv2_cifar_arch(space, 0.35)
    assert arch.stem.channels == 16 and arch.stem.stride == 1  # 11.2 -> 8 is > 10 % down
    assert len(arch.blocks) == 17 and arch.head.channels == 1280


def test_searched_names_and_configs_follow_the_flags():
    args = parse_args(["--quick", "--kernels=3", "--stage_widths=1,1.5", "--objective=budget"])
    assert searched_name(args, 0.5) == "ednas_w_budget_k3_t0.5"
    assert searched_name(parse_args(["--quick"]), 0.2) == "ednas_t0.2"
    assert train_config(args).warmup_epochs == 1 and train_config(args).epochs == 2
    assert search_config(args).steps_per_epoch == 30


def test_flags_parse_afresh_from_a_flagfile_and_fail_in_one_line(tmp_path, capsys):
    flagfile = tmp_path / "quick.cfg"
    flagfile.write_text("--quick\n--seed=3\n--epochs=5\n")
    args = parse_args([f"--flagfile={flagfile}"])
    assert (args.seed, args.epochs, args.limit) == (3, 5, 3000)  # quick fills only unset flags
    assert parse_args([]).seed == 0 and parse_args([]).epochs == 10  # defaults again
    for bad in (["--epochs=x"], ["--no_such_flag"], ["positional"], ["--probe_candidates=-1"]):
        with pytest.raises(SystemExit) as exit_info:
            parse_args(bad)
        assert exit_info.value.code == 2
        assert capsys.readouterr().err.startswith("error: ")
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--help"])
    assert exit_info.value.code == 0 and "--baselines_from" in capsys.readouterr().out


def test_seeds_parse_or_say_what_is_wrong():
    assert cli.parse_seeds("0, 1,2") == [0, 1, 2]
    assert cli.seeds_of({"seeds": None, "seed": 4}) == [4]
    assert cli.seeds_of({"seeds": "5,6", "seed": 4}) == [5, 6]
    for text, message in (("a", "integers"), (",", "no seed"), ("1,1", "repeats")):
        with pytest.raises(ValueError, match=message):
            cli.parse_seeds(text)
    with pytest.raises(SystemExit):
        cli.seed_list(SimpleNamespace(seeds="x", seed=0))


class _Table(MacsProxy):
    """The MACs proxy standing in for the host table: the run's wiring, not its timings."""

    metadata = {"runtime": "stub", "threads": 1}

    def time_network(self, model) -> float:
        return 0.001 * model.count_params()


def test_a_tiny_run_writes_its_figures_and_resumes_without_searching_again(tmp_path, monkeypatch):
    """bench/pareto.py's main end to end on synthetic data, the search stubbed by a fixed child:
    the results keys, the resume record, and a --resume run that reuses the finished model."""
    searches = []

    def search(space, splits, config, table, target, output_dir, **options):
        searches.append(target)
        return dataclasses.replace(fixed_kernel_arch(space, 3), predicted_latency_ms=0.1)

    written = {}
    monkeypatch.setattr(pareto_run, "search_at_target", search)
    monkeypatch.setattr(pareto_run, "host_lookup_table", _Table)
    monkeypatch.setattr(pareto, "emit", lambda name, figures: written.update(figures))
    monkeypatch.setattr(pareto, "RESULTS_DIR", tmp_path)
    argv = [
        "--quick", "--dataset=synthetic", "--image_size=16", "--limit=200", "--num_test=32",
        "--num_calibration=16", "--epochs=1", "--steps_per_epoch=2", "--baselines=none",
        "--no_tuner", f"--output_dir={tmp_path / 'run'}", "--results_name=tiny",
    ]  # fmt: skip
    assert pareto.main(argv) == 0
    [model] = written["models"]
    assert model["name"] == "ednas_t0.5" and not model.get("error")
    assert set(FIELDS) <= set(model) and model["predicted_host_ms"] == 0.1
    assert written["config"]["targets_ms"] == [model["target_ms"]] == searches
    assert written["verdict"][0]["vacuous"] and "kernel_list" not in written["config"]
    assert (tmp_path / "tiny.png").exists() and (tmp_path / "run" / "flags.json").exists()
    assert pareto.main([*argv, "--resume"]) == 0
    assert len(searches) == 1 and written["config"]["reused_models"] == ["ednas_t0.5"]
