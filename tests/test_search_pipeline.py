"""End-to-end search runs (subprocesses, tiny space, synthetic data, 2 epochs)."""

import csv
import json
import textwrap
from pathlib import Path

import pytest

from ednas_tf.rundir import RunDir
from tests.cli import TINY, run_cli

ROOT = Path(__file__).resolve().parents[1]


# the module's search runs also search stage widths (step 2 only)
WIDTHS = ["--stage_widths=0.5,1.5"]


def _run(args, timeout=300):
    return run_cli(args, timeout=timeout)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    outs = []
    for name in ("a", "b"):
        out = tmp_path_factory.mktemp(name)
        result = _run(["pipelines/search.py", *TINY, *WIDTHS, "--seed=3", f"--output_dir={out}"])
        assert result.returncode == 0, result.stderr[-3000:]
        outs.append((out, result.stdout))
    return outs


def test_search_writes_all_outputs(two_runs):
    out, stdout = two_runs[0]
    for step in ("step1", "step2"):
        for name in ("arch.json", "gates.csv", "history.json"):
            assert (out / step / name).stat().st_size > 0
        assert list((out / step / "tb").glob("events.out.tfevents.*"))
        assert list((out / step / "ckpt").glob("ckpt-*/meta.json"))
    arch = json.loads((out / "arch.json").read_text())
    assert arch["blocks"] and arch["predicted_latency_ms"] > 0
    assert "s1b1" in arch["gate_probs"]  # step 1's early-block evidence is kept
    with (out / "gates.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {r["step"] for r in rows} == {"1", "2"}
    assert {r["epoch"] for r in rows} == {"0", "1", "2"}
    width_rows = [r for r in rows if r["choice"] == "width"]
    assert {r["step"] for r in width_rows} == {"2"} and {r["block"] for r in width_rows} == {
        "s1",
        "s2",
        "s3",
    }
    assert set(arch["search"]["widths"]) <= {"s1", "s2", "s3"}
    assert arch["search"]["epochs_run"] == 2  # one architecture epoch: too few to commit
    assert "derived architecture" in stdout and "outputs in" in stdout
    # the facts the later stages inherit instead of asking again
    facts = RunDir.at(out).stage_records()["search"]
    assert facts["dataset"] == "synthetic" and facts["limit"] == 600 and facts["seed"] == 3
    assert facts["image_size"] == 16 and facts["num_classes"] == arch["num_classes"]
    assert facts["device"] == arch["device"] and facts["space"] == "tiny"
    # TDA2x (the default device) defaults to ReLU, whose export imports as ONNX and as .pb
    assert arch["device"] == "tda2x" and facts["activation"] == arch["activation"] == "relu"


def test_same_seed_same_arch(two_runs):
    (a, _), (b, _) = two_runs
    arch_a = json.loads((a / "arch.json").read_text())
    arch_b = json.loads((b / "arch.json").read_text())
    for arch in (arch_a, arch_b):  # wall-clock times: the only fields allowed to differ
        arch["search"].pop("search_seconds")
        arch["search"].pop("derive_seconds")
    assert arch_a == arch_b


def test_rerun_resumes_from_checkpoint(two_runs):
    out, _ = two_runs[0]
    result = _run(["pipelines/search.py", *TINY, *WIDTHS, "--seed=3", f"--output_dir={out}"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resumed" in result.stdout


def test_unreachable_target_is_a_clear_error(tmp_path):
    result = _run(
        ["pipelines/search.py", *TINY, "--target_latency_ms=1e-6", f"--output_dir={tmp_path}"]
    )
    assert result.returncode == 2
    assert "outside what this search space can reach" in result.stderr


def test_one_kernel_size_runs_step_2_alone(tmp_path):
    out = tmp_path / "run"
    result = _run(["pipelines/search.py", *TINY, "--kernels=3", f"--output_dir={out}"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "no step 1; running step 2 alone" in result.stderr
    assert not (out / "step1").exists()
    arch = json.loads((out / "arch.json").read_text())
    assert arch["blocks"] and all("_k3_" in block for block in arch["blocks"])


@pytest.mark.parametrize(
    "flag,message",
    [
        ("--temperature_init=0", "error: initial temperature must be > 0"),
        ("--kernels=3,4", "kernel sizes must be odd"),
        ("--objective=budget", "the budget objective needs target_ms > 0"),
    ],
)
def test_bad_flag_is_a_clear_error(tmp_path, flag, message):
    out = tmp_path / "run"
    result = _run(["pipelines/search.py", *TINY, flag, f"--output_dir={out}"])
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()  # refused before anything is written


MIRRORED = textwrap.dedent("""
    import ednas_tf
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from ednas_tf.data import batched, load_splits
    from ednas_tf.search.expected import ExpectedLatency
    from ednas_tf.cost.macs import MacsProxy
    from ednas_tf.model import build
    from ednas_tf.search.loop import SearchConfig, SearchLoop
    from ednas_tf.search.objectives import make_objective
    from ednas_tf.search.schedules import make_schedule
    from ednas_tf.presets import preset_space
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    splits = load_splits("synthetic", image_size=16, limit=300)
    space = preset_space("tiny", input_shape=splits.input_shape,
                         num_classes=splits.num_classes).step_space(2)
    with strategy.scope():
        model = build(space, seed=0)
        loop = SearchLoop(model, ExpectedLatency(model, space, MacsProxy()), make_objective(),
                          make_schedule("exponential"),
                          SearchConfig(epochs=1, warmup_epochs=0, steps_per_epoch=2), strategy)
    before = [v.numpy().copy() for v in loop.arch_vars]
    logs = loop.fit(batched(splits.train, 16, training=True, drop_remainder=True),
                    batched(splits.arch, 16, training=True, drop_remainder=True),
                    batched(splits.val, 32, training=False), progress=False)
    assert 0.0 <= logs[-1]["val_acc"] <= 1.0  # batch norm recalibrated across replicas
    moved = sum(float(abs(v.numpy() - b).max()) > 0 for v, b in zip(loop.arch_vars, before))
    values = [[t.numpy() for t in strategy.experimental_local_results(v)]
              for v in loop.arch_vars]
    same = all((r[0] == r[1]).all() for r in values)
    print("RESULT", moved, same, logs[-1]["loss"])
""")


def test_mirrored_strategy_runs_search_steps():
    result = _run(["-c", MIRRORED])
    assert result.returncode == 0, result.stderr[-3000:]
    line = [ln for ln in result.stdout.splitlines() if ln.startswith("RESULT")][-1]
    _, moved, same, loss = line.split()
    assert int(moved) > 0 and same == "True" and float(loss) > 0


def test_resume_with_other_settings_is_refused(two_runs):
    out, _ = two_runs[1]
    result = _run(
        ["pipelines/search.py", *TINY, *WIDTHS, "--seed=3", "--arch_lr=0.5", f"--output_dir={out}"]
    )
    assert result.returncode == 2
    assert "different settings (config)" in result.stderr
