"""Two local worker processes (MultiWorkerMirroredStrategy, TF_CONFIG on localhost ports) search
and train a tiny config: both finish, the chief writes the run, the other worker its scratch copy
under .workers/, and the two agree to 1e-5. Kept small for CI: 16 px synthetic images, the
one-kernel space (step 2 alone), a few steps.
"""

import json
import textwrap

import h5py
import numpy as np
import pytest
import tensorflow as tf

from ednas_tf.rundir import WORKERS_DIR, RunDir
from tests.cli import run_cli, run_workers

pytestmark = pytest.mark.multiworker

SEARCH = [
    "--dataset=synthetic",
    "--space=tiny",
    "--kernels=3",
    "--image_size=16",
    "--limit=300",
    "--epochs=2",
    "--warmup_epochs=1",
    "--steps_per_epoch=3",
    "--batch_size=16",
    "--bn_recalibration_steps=2",
    "--checkpoint_every_steps=2",
    "--progress=false",
]
TRAIN = ["--epochs=1", "--warmup_epochs=0", "--steps_per_epoch=3", "--batch_size=16", "--verbose=0"]
OTHER = f"{WORKERS_DIR}/worker-1"  # worker 1's scratch copy of what the chief writes

# The single-process reference has the workers' replica layout: one process, two replicas
# (logical CPUs). Batch norm normalises each replica's share of the batch, so a one-replica run
# of the same global batch is another computation, not the same one on fewer processes.
ONE_PROCESS = textwrap.dedent("""
    import sys
    import ednas_tf  # Keras 2 first
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from pipelines import search
    sys.argv = ["ednas-search", *sys.argv[1:]]
    search.run()
""")


def _ok(results):
    for result in results:
        assert result.returncode == 0, result.stderr[-3000:]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("mw") / "run"
    args = ["pipelines/search.py", *SEARCH, "--strategy=multi_worker", f"--output_dir={out}"]
    _ok(run_workers(args))
    return out


def _newest_checkpoint(folder):
    found = sorted(folder.glob("ckpt/ckpt-*"), key=lambda p: int(p.name.split("-")[1]))
    assert found, f"no checkpoint in {folder}"
    return tf.train.load_checkpoint(str(found[-1] / "state"))


def _float_variables(reader) -> dict:
    shapes = reader.get_variable_to_dtype_map()
    return {k: reader.get_tensor(k) for k, dtype in shapes.items() if dtype.is_floating}


def test_two_workers_write_one_run(run):
    assert (run / "arch.json").is_file() and (run / OTHER / "arch.json").is_file()
    assert not (run / ".lock").exists()  # the chief's lock went with it
    facts = RunDir.at(run).stage_records()["search"]
    assert facts["strategy"] == "multi_worker" and facts["replicas"] == 2
    # the other worker's copy is scratch: nothing of it in the chief's record
    assert not list((run / OTHER).glob(f"{WORKERS_DIR}/*"))


def test_architecture_logits_agree_across_workers(run):
    chief = _float_variables(_newest_checkpoint(run))
    other = _float_variables(_newest_checkpoint(run / OTHER))
    assert chief.keys() == other.keys()
    logits = [k for k in chief if "logits" in k and "OPTIMIZER_SLOT" not in k]
    assert logits, sorted(chief)[:20]
    for key in chief:  # gates, weights, batch-norm statistics, optimizer slots
        np.testing.assert_allclose(chief[key], other[key], atol=1e-5, err_msg=key)
    moved = [float(np.abs(chief[k]).max()) for k in logits]
    assert max(moved) > 0, "the architecture never stepped"


def test_chief_arch_equals_a_single_process_run(run, tmp_path):
    out = tmp_path / "one"
    args = ["-c", ONE_PROCESS, *SEARCH, "--strategy=mirrored", f"--output_dir={out}"]
    result = run_cli(args, timeout=900)  # minutes on a loaded 2-core machine
    assert result.returncode == 0, result.stderr[-3000:]
    assert RunDir.at(out).stage_records()["search"]["replicas"] == 2
    mine, single = (json.loads((d / "arch.json").read_text()) for d in (run, out))
    assert mine["blocks"] == single["blocks"]
    assert mine["stem"] == single["stem"]


def test_a_rerun_resumes_every_worker_from_the_chiefs_checkpoint(run):
    def derived():
        arch = json.loads((run / "arch.json").read_text())
        return arch["blocks"], arch["gate_probs"]

    before = derived()
    args = ["pipelines/search.py", *SEARCH, "--strategy=multi_worker", f"--output_dir={run}"]
    results = run_workers(args)
    _ok(results)
    for result in results:  # both restart where the chief's newest checkpoint says: finished
        line = next(ln for ln in result.stdout.splitlines() if "resumed from" in ln)
        assert f"{run}/ckpt/ckpt-" in line and WORKERS_DIR not in line and "finished" in line
    assert derived() == before


def test_two_worker_training_weights_agree(run):
    _ok(run_workers(["pipelines/train.py", f"--run_dir={run}", *TRAIN, "--strategy=multi_worker"]))
    weights = run / "train" / "child.weights.h5"
    other = run / "train" / OTHER / "child.weights.h5"
    assert weights.is_file() and other.is_file()
    assert RunDir.at(run).stage_records()["train"]["replicas"] == 2
    with h5py.File(weights) as a, h5py.File(other) as b:
        names = []

        def collect(name, item):  # h5py stops at the first callback that returns a value
            if isinstance(item, h5py.Dataset):
                names.append(name)

        a.visititems(collect)
        assert names
        for name in names:
            np.testing.assert_allclose(a[name][()], b[name][()], atol=1e-5, err_msg=name)


def test_multi_worker_without_tf_config_is_a_clear_error(tmp_path):
    result = run_cli(["pipelines/search.py", *SEARCH, "--strategy=multi_worker",
                      f"--output_dir={tmp_path / 'x'}"])
    assert result.returncode == 2
    assert "error: --strategy=multi_worker needs TF_CONFIG" in result.stderr
    assert not (tmp_path / "x").exists()
