"""Which worker a process is, where it writes, and whose checkpoints it resumes from (in-process,
no cluster: tests/test_multiworker.py starts real workers)."""

import json
from types import SimpleNamespace

import pytest
import tensorflow as tf

from ednas_tf.checkpointing import CheckpointKeeper
from ednas_tf.distribute import Worker, check_global_batch, make_strategy, this_worker
from ednas_tf.layers.gumbel import GumbelSoftmaxGate
from ednas_tf.rundir import chief_path, worker_output


def _tf_config(task_type="worker", index=0, chief=False, workers=2):
    cluster = {"worker": [f"localhost:{1000 + i}" for i in range(workers)]}
    if chief:
        cluster["chief"] = ["localhost:999"]
    task = {"type": task_type, "index": index}
    return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": task})}


def test_the_chief_is_worker_0_or_the_chief_task():
    assert this_worker("default", {}) == Worker()
    assert this_worker("mirrored", _tf_config(index=1)).chief  # TF_CONFIG only for multi_worker
    assert this_worker("multi_worker", _tf_config(index=0)).chief
    other = this_worker("multi_worker", _tf_config(index=1))
    assert not other.chief and other.scratch == "worker-1"
    assert not this_worker("multi_worker", _tf_config(index=0, chief=True)).chief
    assert this_worker("multi_worker", _tf_config("chief", 0, chief=True)).scratch is None


@pytest.mark.parametrize(
    "environ, message",
    [
        ({}, "needs TF_CONFIG"),
        ({"TF_CONFIG": "{not json"}, "not a cluster spec"),
        ({"TF_CONFIG": json.dumps({"cluster": {}})}, "not a cluster spec"),
        (_tf_config(index=2), "not in its cluster"),
    ],
)
def test_a_bad_tf_config_is_a_one_line_error(environ, message):
    with pytest.raises(ValueError, match=message):
        this_worker("multi_worker", environ)


def test_a_workers_outputs_map_back_to_the_chiefs(tmp_path):
    assert worker_output(tmp_path, None) == tmp_path
    scratch = worker_output(tmp_path / "train", "worker-1")
    assert scratch == tmp_path / "train" / ".workers" / "worker-1"
    assert chief_path(scratch / "ckpt") == tmp_path / "train" / "ckpt"
    assert chief_path(tmp_path / "ckpt") == tmp_path / "ckpt"


def test_a_non_chief_resumes_from_the_chiefs_checkpoints_and_writes_its_own(tmp_path):
    variable = tf.Variable(1.0)
    chief = CheckpointKeeper(tf.train.Checkpoint(v=variable), tmp_path / "ckpt")
    chief.save({"at": "chief"})
    scratch = worker_output(tmp_path, "w-1") / "ckpt"
    other = CheckpointKeeper(tf.train.Checkpoint(v=variable), scratch)
    assert other.paths() == chief.paths()
    variable.assign(5.0)
    state, path = other.restore()
    assert state == {"at": "chief"} and float(variable.numpy()) == 1.0
    written = other.save({"at": "other"})
    assert written.parent == tmp_path / ".workers" / "w-1" / "ckpt"
    other.clear()  # its own, never the chief's
    assert not written.exists() and len(chief.paths()) == 1


def test_the_global_batch_must_split_evenly():
    check_global_batch(16, SimpleNamespace(num_replicas_in_sync=2))
    with pytest.raises(ValueError, match="global batch.*2 replicas"):
        check_global_batch(15, SimpleNamespace(num_replicas_in_sync=2))
    with pytest.raises(ValueError, match="--tpu"):
        make_strategy("tpu")


def test_every_replica_draws_the_same_gumbel_noise():
    # one replica here (the process has one logical CPU): a replica's sample must still equal
    # the one-device sample, which a generator folding in the replica id would not give
    strategy = make_strategy("mirrored")
    with strategy.scope():
        gate = GumbelSoftmaxGate(4, seed=7)
        gate.build(None)
    reference = GumbelSoftmaxGate(4, seed=7)
    samples = strategy.run(tf.function(lambda: gate.sample()))
    expected = reference.sample().numpy()
    for sample in strategy.experimental_local_results(samples):
        assert (sample.numpy() == expected).all()
