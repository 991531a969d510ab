"""bench/fmnist_best.py: one child on the full training split, the target's parts judged apart."""

import json

import pytest

from bench import fmnist_best
from ednas_tf.cost.macs import MacsProxy


class ParamsTimer(MacsProxy):
    """A stand-in host table: predicts by MACs and 'times' a network by its parameter count, so
    the child and MobileNetV2-0.35 get different, known latencies without LiteRT timing."""

    def time_network(self, model) -> float:
        return model.count_params() / 1e6


def test_verdict_judges_accuracy_int8_and_latency_separately():
    figures = {
        "test_acc": 0.9400,
        "int8_acc": 0.9360,
        "host_latency_ms": 0.20,
        "reference_host_latency_ms": {"mbv2_a0.35_32px": 0.10, "mbv2_a0.35_96px": 0.40},
    }
    v = fmnist_best.verdict(figures, target_acc=0.945, int8_tolerance_pt=0.3)
    assert v["float_meets_target"] is False
    assert v["float_short_by_pt"] == pytest.approx(0.5)
    assert v["int8_drop_pt"] == pytest.approx(0.4)
    assert v["int8_within_tolerance"] is False
    assert v["at_or_below_mbv2_a0.35_32px"] is False
    assert v["at_or_below_mbv2_a0.35_96px"] is True
    figures.update(test_acc=0.95, int8_acc=0.949)
    v = fmnist_best.verdict(figures, target_acc=0.945, int8_tolerance_pt=0.3)
    assert v["float_meets_target"] and v["int8_within_tolerance"]
    assert v["float_short_by_pt"] == 0.0


def test_tiny_run_on_synthetic_writes_every_figure(tmp_path, monkeypatch):
    written = {}

    def capture(name, figures):
        written.update(figures)
        return figures

    monkeypatch.setattr(fmnist_best, "emit", capture)
    monkeypatch.setattr(fmnist_best, "host_lookup_table", lambda: ParamsTimer())
    rc = fmnist_best.main(
        [
            "--arch=all_3x3",
            "--dataset=synthetic",
            "--image_size=16",
            "--limit=200",
            "--epochs=1",
            "--steps_per_epoch=2",
            "--num_calibration=16",
            f"--output_dir={tmp_path}",
        ]
    )
    assert rc == 0
    assert 0.0 <= written["test_acc"] <= 1.0 and 0.0 <= written["int8_acc"] <= 1.0
    assert written["splits"]["arch"] == 0  # no search split: everything but val trains
    # the merged child (BN folded) has fewer parameters than the trained one
    assert 0.5 * written["params"] / 1e6 < written["host_latency_ms"] <= written["params"] / 1e6
    refs = written["reference_host_latency_ms"]
    assert set(refs) == {"mbv2_a0.35_32px", "mbv2_a0.35_96px"}
    assert refs["mbv2_a0.35_32px"] > written["host_latency_ms"]  # 0.4 M params vs 0.13 M
    assert written["verdict"]["at_or_below_mbv2_a0.35_32px"] is True
    assert written["predicted_host_ms"] > 0 and written["tda2x_latency_ms"] > 0
    assert (tmp_path / "child.weights.h5").is_file() and (tmp_path / "int8.tflite").is_file()
    json.dumps(written)  # what emit writes must be JSON


def test_bad_arguments_fail_clearly():
    with pytest.raises(SystemExit):
        fmnist_best.parse_args([])  # --arch is required
    with pytest.raises(SystemExit):
        fmnist_best.parse_args(["--arch=all_3x3", "--epochs=0"])
