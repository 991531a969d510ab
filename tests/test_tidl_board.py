"""The TDA2x board loop: TIDL probes, the board script, the cycles import, a search on the table.

TI's tools only run with TI's SDK, so the board script runs here with stand-ins that print the
lines TI's test application prints (docs/TIDL.md, "Board loop"); the rest is the real code.
"""

import csv
import os
import stat
import subprocess
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from deploy import export, tidl
from deploy.deliver import import_advice, model_activation, ruled_out_by_activation
from deploy.merge import merge_probe
from ednas_tf.arch import ArchSpec
from ednas_tf.cost.lut import OVERHEAD_KEY, LookupTable, LutError
from ednas_tf.cost.network import arch_configs
from ednas_tf.geometry import BlockConfig
from ednas_tf.measure import probes, tidl_cycles
from ednas_tf.measure import tables as lut
from ednas_tf.presets import preset_space
from tests.cli import run_cli

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "data" / "tidl_cycles_sample.txt"
SCRIPT = ROOT / "tools" / "tidl_board_loop.sh"
SPACE_ARGS = ["--space=tiny", "--image_size=16", "--channels=1", "--num_classes=4"]
SPACE_ARGS += ["--device=tda2x"]

FAKE_IMPORT = """#!/bin/sh
# stand-in for tidl_model_import.out: reads the config, writes the network files
grep -q "modelType = 1" "$1" || exit 3
: > tidl_net.bin; : > tidl_param.bin
"""
# stand-in for eve_test_dl_algo.out: TI's EVE profile line per frame, cycles from the .pb size
FAKE_APP = """#!/bin/sh
size=$(wc -c < model.pb)
tail=", SCTM VCOP BUSY cycles = 0, SCTM VCOP Overhead = 0"
echo "TEST_REPORT_INIT_PROFILE_DATA : TSC cycles = 1$tail"
for frame in 1 2 3; do
  echo "TEST_REPORT_PROCESS_PROFILE_DATA : TSC cycles = $((size * 20 + frame))$tail"
done
"""


def _executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture(scope="module")
def probe_dir(tmp_path_factory):
    """`ednas-build-lut --export_probes --format=tidl` of the tiny space at 16 px."""
    directory = tmp_path_factory.mktemp("tidl_probes")
    result = run_cli(
        ["pipelines/build_lut.py", *SPACE_ARGS, f"--export_probes={directory}", "--format=tidl"]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "tools/tidl_board_loop.sh" in result.stdout
    return directory


def _manifest(directory: Path) -> list[dict]:
    with (directory / "manifest.csv").open() as f:
        return list(csv.DictReader(f))


def test_every_tidl_probe_is_a_checked_frozen_graph(probe_dir):
    rows = _manifest(probe_dir)
    space = preset_space("tiny", input_shape=(16, 16, 1), num_classes=4)
    convs, blocks = lut.space_configs(space)
    assert [r["key"] for r in rows] == [OVERHEAD_KEY, *(c.key for c in [*convs, *blocks])]
    assert all(r["tidl_check"] == "pass" and r["ms"] == r["cycles"] == "" for r in rows)
    for row in rows:
        report = tidl.check_file(probe_dir / row["pb"], "tda2x")
        assert report.passed, report.render_text()
        assert "FusedBatchNormV3" not in report.op_counts()  # merged like the deployed child
        config = tidl.read_import_config(probe_dir / row["import_config"])
        assert config["modelType"] == "1" and config["inputNetFile"] == "model.pb"
        shape = [int(config[k]) for k in ("inHeight", "inWidth", "inNumChannels")]
        frames = int(config["numSampleInData"])
        raw = probe_dir / row["key"] / config["sampleInData"]
        assert raw.stat().st_size == frames * int(np.prod(shape))


def test_merged_probe_computes_what_the_probe_computes(tmp_path):
    config = BlockConfig(8, 8, 8, 8, 1, (3, 7), 3.0, True)  # a parallel kernel set, residual
    probe = probes.block_probe(config, "relu")
    merged = merge_probe(probe)
    images = np.random.default_rng(0).standard_normal((2, 8, 8, 8)).astype(np.float32)
    pb = export.export_frozen_graph(merged, tmp_path / "probe.pb")
    expected = probe.predict(images, verbose=0)
    assert np.allclose(export.frozen_graph_outputs(pb, images), expected, atol=1e-4)
    assert tidl.check_file(pb).passed


def test_sample_cycles_file_parses():
    blocks = tidl_cycles.parse_cycles_log(SAMPLE)
    assert blocks[OVERHEAD_KEY].frames == [66000, 65000, 65500]  # the INIT line is not a frame
    assert blocks[OVERHEAD_KEY].cycles == 65500
    assert blocks["conv_16x16_i1_o16_k3_s1"].cycles == 130000
    dw7 = blocks["ir_16x16_i16_o8_k7_e1_s1"]  # "Network Cycles" and its per-layer table
    assert dw7.cycles == 390000 and [row[2] for row in dw7.layers] == [120000, 210000, 60000]
    classifier = blocks["classifier_4x4_i24_o4_k1_s1"]  # our own lines
    assert classifier.cycles == 80000 and classifier.layers[1] == (2, "classifier", 50000)
    assert tidl_cycles.cycles_to_ms(65000, 650) == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("=== probe a ===\nnetwork_cycles = 5\n", "no end line"),
        ("=== probe a ===\nstatus = import failed: x\n=== end a ===\n", "import failed"),
        ("=== probe a ===\nhello\n=== end a ===\n", "no network cycles line"),
        ("=== probe a ===\n=== end b ===\n", "without its start"),
    ],
)
def test_bad_cycles_files_name_the_probe(tmp_path, body, message):
    space = preset_space("tiny", input_shape=(16, 16, 1), num_classes=4)
    path = tmp_path / "cycles.txt"
    path.write_text(body)
    with pytest.raises(LutError, match=message):
        tidl_cycles.import_board_file(path, space)


def test_manifest_cycles_column_imports(tmp_path):
    space = preset_space("tiny", input_shape=(16, 16, 1), num_classes=4)
    convs, blocks = lut.space_configs(space)
    path = tmp_path / "manifest.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["key", "kind", "ms", "cycles"])
        writer.writerow([OVERHEAD_KEY, "overhead", "", 6500])
        writer.writerows([c.key, "x", "", 65000 + i] for i, c in enumerate([*convs, *blocks]))
    table = tidl_cycles.import_board_file(path, space, clock_mhz=650)
    assert table.invoke_overhead_ms == pytest.approx(0.01)
    assert table.rows[convs[0].key] == pytest.approx(0.1)
    assert table.metadata["clock_mhz"] == 650


def test_board_loop_cycles_drive_a_search(probe_dir, tmp_path):
    env = dict(
        os.environ,
        TIDL_IMPORT_TOOL=str(_executable(tmp_path / "import.sh", FAKE_IMPORT)),
        TIDL_TEST_APP=str(_executable(tmp_path / "app.sh", FAKE_APP)),
    )
    cycles = tmp_path / "tidl_cycles.txt"
    result = subprocess.run(
        ["bash", str(SCRIPT), str(probe_dir), str(cycles)], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert cycles.read_text().count("=== probe ") == len(_manifest(probe_dir))
    table_path = tmp_path / "lut.json"
    result = run_cli(
        [
            "pipelines/build_lut.py",
            *SPACE_ARGS,
            f"--import_measurements={cycles}",
            "--clock_mhz=650",
            f"--output={table_path}",
        ]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    table = LookupTable.load(table_path)
    pb_size = (probe_dir / OVERHEAD_KEY / "model.pb").stat().st_size
    assert table.invoke_overhead_ms == pytest.approx((pb_size * 20 + 2) / 650e3)
    out = tmp_path / "run"
    result = run_cli(
        [
            "pipelines/search.py",
            f"--device=lut:{table_path}",
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
        ],
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    arch = ArchSpec.load(out / "arch.json")
    fixed, arch_blocks = arch_configs(arch)
    expected = sum(table.conv_latency(c) for c in fixed)
    expected += sum(table.block_latency(b) for b in arch_blocks)
    assert arch.predicted_latency_ms == pytest.approx(expected, abs=1e-6)


def test_import_advice_follows_the_activation():
    inputs = tf.keras.Input((4, 4, 1))
    relu6 = tf.keras.Model(inputs, tf.keras.layers.ReLU(6.0)(inputs))
    relu = tf.keras.Model(inputs, tf.keras.layers.ReLU()(inputs))
    assert model_activation(relu6) == "relu6" and model_activation(relu) == "relu"
    passing = [tidl.TidlReport("m", fmt, "tda2x", []) for fmt in ("tf", "onnx")]
    assert "ReLU6 becomes Clip" in import_advice("relu6", passing)
    clips = [tidl.Row(f"c{i}", "Clip", tidl.FAIL, "no") for i in range(15)]
    relu6_onnx = [passing[0], tidl.TidlReport("m", "onnx", "tda2x", clips)]
    assert ruled_out_by_activation(relu6_onnx[1], "relu6")
    assert not ruled_out_by_activation(relu6_onnx[1], "relu")
    advice = import_advice("relu6", relu6_onnx)
    assert "model.onnx is not importable" in advice and "(15 layers)" in advice
    assert "fails" not in advice  # the .pb, the file to import, passes
    assert import_advice("relu", passing).startswith("import model.onnx (ONNX")
    failing = [tidl.TidlReport("m", "onnx", "tda2x", [tidl.Row("x", "Clip", tidl.FAIL, "no")])]
    assert "fails onnx" in import_advice("relu", failing)
