"""Measured lookup tables: files, probes, board import, host table, a search driven by one."""

import csv
import json
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from ednas_tf.cost.network import arch_configs, child_latency, space_latency_bounds
from ednas_tf.geometry import BlockConfig, ConvConfig
from ednas_tf.layers.gumbel import gates_of
from ednas_tf.measure import calibration, probes
from ednas_tf.measure import tables as lut
from ednas_tf.model import build
from ednas_tf.presets import preset_space
from ednas_tf.profiles import available_profiles, get_profile
from ednas_tf.search.derive import derive
from ednas_tf.search.expected import ExpectedLatency
from tests.cli import run_cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def space():
    return preset_space("tiny", input_shape=(16, 16, 1), num_classes=3)


@pytest.fixture(scope="module")
def made_up(space):
    """Fake board measurements: a distinct positive ms per key of the space."""
    convs, blocks = lut.space_configs(space)
    return {c.key: round(0.05 + 0.01 * i, 4) for i, c in enumerate([*convs, *blocks])}


def _write_csv(path: Path, rows: dict, extra: list[tuple[str, str]] = ()) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["key", "ms"])
        writer.writerows([*rows.items(), *extra])
    return path


def _child(space, seed=0):
    rng = np.random.default_rng(seed)
    decisions = {
        b.name: {
            "kernel": b.kernel_options[rng.integers(len(b.kernel_options))],
            "expansion": b.expansion_options[rng.integers(len(b.expansion_options))],
        }
        for b in space.blocks
    }
    return space.child(decisions)


def test_json_and_csv_round_trip(tmp_path):
    meta = {"device": "x", "threads": 1, "repeats": 5, lut.OVERHEAD_FIELD: 0.002}
    table = lut.LookupTable({"conv_a": 0.5, "ir_b": 1.25}, meta)
    loaded = lut.LookupTable.load(table.save(tmp_path / "t.json"))
    assert loaded.rows == table.rows and loaded.metadata == meta
    from_csv = lut.LookupTable.load(table.save(tmp_path / "t.csv"))
    assert from_csv.rows == table.rows and from_csv.invoke_overhead_ms == 0.002
    assert (tmp_path / "t.csv").read_text().splitlines()[0] == "key,ms"


def test_missing_keys_are_listed(space, made_up):
    keys = sorted(made_up)
    table = lut.LookupTable({k: made_up[k] for k in keys[2:]})
    with pytest.raises(lut.MissingLatencyError) as err:
        space_latency_bounds(space, table)
    assert err.value.keys == keys[:2]
    assert all(k in str(err.value) for k in keys[:2])
    with pytest.raises(lut.MissingLatencyError, match="conv_9x9"):
        table.conv_latency(ConvConfig(9, 9, 1, 4, 3, 1))


def test_import_refuses_missing_keys_and_bad_rows(tmp_path, space, made_up):
    keys = list(made_up)
    partial = {k: v for k, v in made_up.items() if k not in keys[3:5]}
    with pytest.raises(lut.MissingLatencyError) as err:
        lut.import_measurements(_write_csv(tmp_path / "a.csv", partial), space)
    assert err.value.keys == sorted(keys[3:5])
    for bad in ("fast", "-0.1", "0", "nan"):
        rows = dict(made_up)
        rows[keys[4]] = bad
        with pytest.raises(lut.LutError, match=rf"line 6 \({keys[4]}\).*{bad}"):
            lut.import_measurements(_write_csv(tmp_path / "b.csv", rows), space)


def test_imported_table_costs_a_child_as_the_sum_of_its_rows(tmp_path, space, made_up):
    table = lut.import_measurements(_write_csv(tmp_path / "m.csv", made_up), space)
    for seed in range(3):
        arch = _child(space, seed)
        fixed, blocks = arch_configs(arch)
        rows = sum(made_up[c.key] for c in [*fixed, *blocks])
        assert child_latency(arch, table) == pytest.approx(rows, rel=1e-9)
    # a parallel kernel set deploys as one depthwise conv: it costs its largest kernel's row
    block = blocks[-1]
    wide = BlockConfig(**{**block.__dict__, "kernel": (3, 7)})
    assert table.block_latency(wide) == made_up[lut.lookup_config(wide).key]


def test_invoke_overhead_counts_once_per_network(tmp_path, space, made_up):
    overhead = 0.01
    table = lut.import_measurements(
        _write_csv(tmp_path / "m.csv", made_up, [(lut.OVERHEAD_KEY, str(overhead))]), space
    )
    assert table.invoke_overhead_ms == overhead
    fixed, blocks = arch_configs(_child(space))
    rows = sum(made_up[c.key] for c in [*fixed, *blocks])
    expected = rows - overhead * (len(fixed) + len(blocks) - 1)
    assert child_latency(_child(space), table) == pytest.approx(expected, rel=1e-9)


def test_expected_latency_equals_lut_child_when_one_hot(tmp_path, space, made_up):
    table = lut.import_measurements(_write_csv(tmp_path / "m.csv", made_up), space)
    step2 = space.step_space(2)
    model = build(step2, seed=0)
    rng = np.random.default_rng(1)
    for gate in gates_of(model):
        gate.logits.assign(tf.one_hot(rng.integers(gate.num_options), gate.num_options) * 30.0)
    expected = float(ExpectedLatency(model, step2, table)())
    child = derive(model, step2, table)
    assert expected == pytest.approx(child_latency(child, table), rel=1e-5)


def test_lut_profile_uses_the_base_profile_rules(tmp_path):
    table = lut.LookupTable({"conv_a": 1.0}, {"device": "board"})
    default = get_profile(f"lut:{table.save(tmp_path / 'a.json')}")
    assert default.depthwise == get_profile("tda2x").depthwise
    assert default.latency().rows == {"conv_a": 1.0}
    table.metadata["base_profile"] = "host"
    host_rules = get_profile(f"lut:{table.save(tmp_path / 'b.json')}")
    assert host_rules.depthwise == get_profile("host").depthwise
    assert "lut:<path>" in available_profiles()
    with pytest.raises(ValueError, match="nope.json"):
        get_profile(f"lut:{tmp_path / 'nope.json'}")


def test_parallel_kernel_probe_is_one_depthwise_conv():
    config = BlockConfig(8, 8, 8, 8, 1, (3, 7), 3.0, True)
    ops = probes.tflite_op_names(probes.to_tflite(probes.block_probe(config)))
    assert ops.count("DEPTHWISE_CONV_2D") == 1
    assert ops == ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "ADD"]


def test_timing_against_a_yardstick_is_relative():
    model = probes.to_tflite(probes.block_probe(BlockConfig(8, 8, 8, 8, 1, (3,), 3.0, True)))
    assert probes.time_tflite(model, 40, 5, rounds=4) > 0
    # timed against itself with a nominal 2 ms, a model takes 2 ms whatever the machine's speed
    assert probes.time_tflite(model, 40, 5, rounds=4, reference=(model, 2.0)) == pytest.approx(
        2.0, rel=0.25
    )


def test_export_probes_writes_loadable_models(tmp_path, space):
    small = space.replace_blocks([b.fixed(kernel=(3,), expansion=6.0) for b in space.blocks[:2]])
    manifest = lut.export_probes(small, tmp_path, progress=False)
    with manifest.open() as f:
        rows = list(csv.DictReader(f))
    convs, blocks = lut.space_configs(small)
    assert [r["key"] for r in rows] == [lut.OVERHEAD_KEY, *(c.key for c in [*convs, *blocks])]
    assert {r["kind"] for r in rows} == {"overhead", "conv", "classifier", "block"}
    assert all(r["ms"] == "" for r in rows)
    for row in rows:
        interpreter = Interpreter(model_path=str(tmp_path / row["tflite"]))
        interpreter.allocate_tensors()
        session = onnxruntime.InferenceSession(str(tmp_path / row["onnx"]))
        feed = {
            i.name: np.zeros([d if isinstance(d, int) else 1 for d in i.shape], np.float32)
            for i in session.get_inputs()
        }
        assert session.run(None, feed)[0].size > 0
    # the board fills the ms column; the manifest itself is importable
    for i, row in enumerate(rows):
        row["ms"] = str(0.1 + i)
    with manifest.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=lut.MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    table = lut.import_measurements(manifest, small)
    assert table.invoke_overhead_ms == pytest.approx(0.1)
    assert len(table.rows) == len(rows) - 1


def test_chained_probe_repeats_a_shape_keeping_block():
    chain = probes.block_probe(probes.REFERENCE_CONFIG, copies=3)
    blocks = [layer for layer in chain.layers if "block" in layer.name]
    assert len(blocks) == 3 and chain.output_shape == chain.input_shape
    with pytest.raises(ValueError, match="shape-keeping"):
        probes.block_probe(BlockConfig(8, 8, 8, 16, 1, (3,), 3.0, False), copies=2)


def test_old_cache_gets_the_chain_overhead(tmp_path):
    old = lut.LookupTable(
        {},
        {**lut.MeasureSettings(repeats=4, warmup=1, rounds=2).as_metadata(), "device": "x"},
    )
    old.metadata[lut.OVERHEAD_FIELD] = 0.0016  # the one-ReLU figure of older caches
    old.save(tmp_path / "old.json")
    table = lut.open_cache(
        tmp_path / "old.json",
        lut.MeasureSettings(repeats=4, warmup=1, rounds=2, calibration_networks=0),
    )
    assert table.metadata[lut.OVERHEAD_METHOD_FIELD] == lut.CHAIN_INTERCEPT
    reloaded = lut.LookupTable.load(tmp_path / "old.json")
    assert reloaded.metadata[lut.OVERHEAD_METHOD_FIELD] == lut.CHAIN_INTERCEPT


def test_overhead_fit_on_other_networks_is_replaced(tmp_path):
    def cache_with_fit(name: str, children: str) -> Path:
        table = lut.LookupTable(
            {}, {**lut.MeasureSettings(repeats=4, warmup=1, rounds=2).as_metadata()}
        )
        table.metadata[lut.REFERENCE_FIELD] = 0.05
        table.metadata[lut.OVERHEAD_FIELD] = 0.123
        table.metadata[lut.OVERHEAD_METHOD_FIELD] = lut.NETWORK_FIT
        table.metadata[lut.OVERHEAD_FIT_FIELD] = {"children": children}
        return table.save(tmp_path / name)

    settings = lut.MeasureSettings(repeats=4, warmup=1, rounds=2, calibration_networks=0)
    current = lut.open_cache(cache_with_fit("now.json", calibration.calibration_id()), settings)
    assert current.invoke_overhead_ms == 0.123  # kept: fitted on today's calibration networks
    stale = lut.open_cache(cache_with_fit("stale.json", "small 32x32x3 host [3, 5, 7]"), settings)
    assert stale.metadata[lut.OVERHEAD_METHOD_FIELD] == lut.CHAIN_INTERCEPT
    assert stale.invoke_overhead_ms != 0.123


def test_probe_overhead_fitted_on_whole_networks(tmp_path):
    tiny = preset_space("tiny", input_shape=(16, 16, 1), num_classes=4, profile="host")
    rng = np.random.default_rng(0)
    children = [tiny.random_child(rng) for _ in range(2)]
    settings = lut.MeasureSettings(repeats=6, warmup=1, rounds=2, calibration_networks=0)
    table = lut.open_cache(tmp_path / "t.json", settings)
    fit = calibration.fit_probe_overhead(table, children)
    assert fit["networks"] == 2 and fit["overhead_ms"] >= 0
    assert fit["children"] == calibration.calibration_id()
    assert len(fit["measured_ms"]) == 2 and all(m > 0 for m in fit["measured_ms"])
    # every row the children need was measured (and cached) on the way
    for child in children:
        fixed, blocks = arch_configs(child)
        assert not table.missing([*fixed, *blocks])
    with pytest.raises(ValueError, match="at least one network"):
        calibration.fit_probe_overhead(table, [])


def test_host_table_measures_missing_keys_lazily(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(lut.CACHE_ENV, str(tmp_path))
    monkeypatch.setenv(lut.CALIBRATION_ENV, "0")  # the chain intercept: seconds, not minutes
    table = get_profile("host").latency()
    assert table.path == tmp_path / f"host_{lut.cpu_id()}_t1.json"
    config = BlockConfig(8, 8, 8, 8, 1, (3,), 3.0, True)
    ms = table.block_latency(config)
    assert ms >= 0 and table.rows[config.key] > 0 and table.invoke_overhead_ms >= 0
    assert table.metadata[lut.OVERHEAD_METHOD_FIELD] == lut.CHAIN_INTERCEPT
    assert table.timing_reference()[1] > 0
    assert "measuring 1 missing configuration(s)" in capsys.readouterr().err
    cached = json.loads(table.path.read_text())
    assert config.key in cached["rows"] and cached["metadata"]["threads"] == 1
    again = lut.host_table()
    assert again.block_latency(config) == ms  # from the cache, no new measurement
    assert "measuring" not in capsys.readouterr().err


def _run(args, timeout=300):
    return run_cli(args, timeout=timeout)


def test_imported_measurements_drive_a_search(tmp_path):
    # synthetic data: 16x16x1, 4 classes
    search_space = preset_space("tiny", input_shape=(16, 16, 1), num_classes=4)
    convs, blocks = lut.space_configs(search_space)
    measured = {c.key: round(0.02 + 0.003 * i, 4) for i, c in enumerate([*convs, *blocks])}
    bad = _write_csv(tmp_path / "bad.csv", dict(list(measured.items())[1:]))
    common = ["pipelines/build_lut.py", "--space=tiny", "--image_size=16", "--channels=1"]
    common += ["--num_classes=4", "--device=tda2x", f"--output={tmp_path / 'lut.json'}"]
    result = _run([*common, f"--import_measurements={bad}"])
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert list(measured)[0] in result.stderr
    good = _write_csv(tmp_path / "good.csv", measured)
    result = _run([*common, f"--import_measurements={good}"])
    assert result.returncode == 0, result.stderr[-3000:]

    out = tmp_path / "run"
    result = _run(
        [
            "pipelines/search.py",
            f"--device=lut:{tmp_path / 'lut.json'}",
            "--dataset=synthetic",
            "--space=tiny",
            "--image_size=16",
            "--limit=300",
            "--epochs=1",
            "--warmup_epochs=0",
            "--steps_per_epoch=3",
            "--batch_size=8",
            "--steps=2",
            "--progress=false",
            f"--output_dir={out}",
        ]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    from ednas_tf.arch import ArchSpec

    arch = ArchSpec.load(out / "arch.json")
    fixed, arch_blocks = arch_configs(arch)
    expected = sum(measured[lut.lookup_config(c).key] for c in [*fixed, *arch_blocks])
    assert arch.predicted_latency_ms == pytest.approx(expected, abs=1e-6)
