"""bench/seed_spread.py: one child, several training seeds, one split; the spread."""

import json
from types import SimpleNamespace

import pytest

from bench import seed_spread
from ednas_tf.baselines.fixed import fixed_kernel_arch
from ednas_tf.presets import preset_space


def test_spread_in_points():
    figures = seed_spread.spread([0.80, 0.81, 0.83])
    assert figures["mean_pt"] == pytest.approx(81.333, abs=1e-3)
    assert figures["range_pt"] == pytest.approx(3.0)
    assert figures["std_pt"] == pytest.approx(1.528, abs=1e-3)
    assert seed_spread.spread([0.5])["std_pt"] is None


def test_two_seeds_of_a_named_child_on_synthetic(tmp_path, monkeypatch):
    written = {}

    def capture(name, figures):
        written.update(figures)
        return figures

    monkeypatch.setattr(seed_spread, "emit", capture)
    rc = seed_spread.main(
        [
            "--arch=all_3x3",
            "--dataset=synthetic",
            "--image_size=16",
            "--limit=200",
            "--num_test=64",
            "--epochs=1",
            "--steps_per_epoch=2",
            "--seeds=1,2",
            f"--output_dir={tmp_path}",
        ]
    )
    assert rc == 0
    assert [r["seed"] for r in written["runs"]] == [1, 2]
    assert all(0.0 <= r["test_acc"] <= 1.0 for r in written["runs"])
    assert written["blocks"] and written["range_pt"] >= 0
    assert (tmp_path / "seed1" / "child.weights.h5").is_file()
    json.dumps(written)  # what emit writes must be JSON


def test_bad_arguments_fail_clearly(tmp_path):
    with pytest.raises(SystemExit):
        seed_spread.parse_args(["--seeds=a,b"])
    with pytest.raises(SystemExit, match="no arch file"):
        seed_spread.resolve_arch(str(tmp_path / "missing.json"), None, 0.5)
    with pytest.raises(SystemExit, match="one child"):
        seed_spread.resolve_arch("all_3x3,all_5x5", None, 0.5)


def test_a_named_child_comes_from_the_space_asked_for():
    """all_3x3 of small_hires (stage 2 at full resolution) is not small's all_3x3: --space
    decides which network a named --arch trains."""
    splits = SimpleNamespace(input_shape=(32, 32, 1), num_classes=10)
    small = seed_spread.resolve_arch("all_3x3", splits, 0.5)
    hires = seed_spread.resolve_arch("all_3x3", splits, 0.5, "small_hires")
    hires_space = preset_space(
        "small_hires", input_shape=(32, 32, 1), num_classes=10, profile="host", width=0.5
    )
    expected = fixed_kernel_arch(hires_space, 3)
    assert [b.encode() for b in hires.blocks] == [b.encode() for b in expected.blocks]
    assert [b.stride for b in hires.blocks] != [b.stride for b in small.blocks]
    with pytest.raises(SystemExit):
        seed_spread.parse_args(["--space=no_such_space"])
