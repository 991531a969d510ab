"""bench/gpu_check.py: refuses to run without a GPU (one line, non-zero), runs on the CPU with
--allow_cpu, and reports a network that fails under the precision policy in its JSON."""

import json

import pytest
import tensorflow as tf

import bench.common
from bench import gpu_check

TINY = ["--preset=tiny", "--image_size=16", "--num_classes=10", "--batch_size=2", "--steps=2"]


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setattr(bench.common, "RESULTS_DIR", tmp_path)
    return tmp_path


def test_no_gpu_is_one_error_line_and_non_zero(monkeypatch, capsys, results):
    monkeypatch.setattr(gpu_check, "visible_gpus", lambda: [])
    with pytest.raises(SystemExit) as exit_info:
        gpu_check.main(["gpu_check", *TINY])
    assert exit_info.value.code != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: no GPU"), err
    assert "--allow_cpu" in err[0]
    assert not list(results.iterdir())  # nothing written


def test_allow_cpu_times_both_networks(monkeypatch, capsys, results):
    monkeypatch.setattr(gpu_check, "visible_gpus", lambda: [])
    gpu_check.main(["gpu_check", *TINY, "--allow_cpu", "--precision=float32"])
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed == json.loads((results / "gpu_check.json").read_text())
    assert printed["device_kind"] == "cpu" and "error" not in printed
    for name in ("supernet", "largest_child"):
        assert printed["networks"][name]["images_per_s"] > 0
    ratio = (
        printed["networks"]["supernet"]["ms_per_step"]
        / printed["networks"]["largest_child"]["ms_per_step"]
    )
    assert printed["supernet_over_child"] == pytest.approx(ratio, rel=0.01)


def test_mixed_float16_answers_with_figures_or_an_error_entry(monkeypatch, capsys, results):
    """Under mixed_float16 the check either steps both networks in float16 or names, in its
    JSON, the network that failed (exit 1); the global policy is float32 again afterwards."""
    monkeypatch.setattr(gpu_check, "visible_gpus", lambda: [])
    argv = ["gpu_check", *TINY, "--allow_cpu", "--precision=mixed_float16", "--warmup_steps=1"]
    try:
        gpu_check.main(argv)
        code = 0
    except SystemExit as exit_info:
        code = exit_info.code
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert tf.keras.mixed_precision.global_policy().name == "float32"
    if code:
        assert code == 1 and printed["error"]
        assert any("error" in r for r in printed["networks"].values())
    else:
        assert {r["compute_dtype"] for r in printed["networks"].values()} == {"float16"}
        assert printed["supernet_over_child"] > 0
