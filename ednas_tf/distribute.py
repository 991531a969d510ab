"""`tf.distribute` strategies by name, and which worker of a multi-worker run this process is.

* `default`: TensorFlow's default strategy, one device;
* `mirrored`: `MirroredStrategy`, synchronous over this machine's GPUs (without one, over its
  logical CPU devices: one unless a program configured several);
* `multi_worker`: `MultiWorkerMirroredStrategy`, synchronous over the processes `TF_CONFIG`
  names (each process runs the same command with its own `TF_CONFIG`; gradients are all-reduced
  over gRPC collectives, which also work between processes on one host);
* `tpu`: `TPUStrategy` on the TPU a `TPUClusterResolver` finds at the given address.

Every stage's batch size is the global batch: one step takes `batch_size` examples in all, each
of the R replicas `batch_size / R` of them, so the learning rates and the number of steps of an
epoch mean the same on one device and on many.

In a multi-worker run every worker takes every step and every save (a checkpoint's write reads
variables through collectives all workers join), but only the chief's outputs are the run's: the
chief is the `chief` task, or worker 0 of a cluster without one (TensorFlow's convention). The
others write theirs to scratch (`ednas_tf.rundir.worker_output`) and take no lock.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Mapping

import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


@dataclasses.dataclass(frozen=True)
class Worker:
    """This process's task in the cluster (the chief of a one-process run by default)."""

    task_type: str = "chief"
    index: int = 0
    chief: bool = True

    @property
    def scratch(self) -> str | None:
        """The name of this worker's scratch folder; None for the chief, which writes the run."""
        return None if self.chief else f"{self.task_type}-{self.index}"


def this_worker(strategy: str, environ: Mapping[str, str] | None = None) -> Worker:
    """The task `TF_CONFIG` gives this process under `multi_worker` (ValueError when it is
    missing or not a cluster spec naming this task); the chief under any other strategy."""
    if strategy != "multi_worker":
        return Worker()
    text = (os.environ if environ is None else environ).get("TF_CONFIG")
    if not text:
        raise ValueError(
            "--strategy=multi_worker needs TF_CONFIG: the cluster's worker addresses and this "
            'process\'s task, e.g. {"cluster": {"worker": ["host1:port", "host2:port"]}, '
            '"task": {"type": "worker", "index": 0}}'
        )
    try:
        config = json.loads(text)
        cluster, task = config["cluster"], config["task"]
        task_type, index = str(task["type"]), int(task["index"])
        addresses = cluster.get(task_type, [])
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise ValueError(f"TF_CONFIG is not a cluster spec with a task ({err!r})") from None
    if not 0 <= index < len(addresses):
        raise ValueError(
            f"TF_CONFIG's task {task_type} {index} is not in its cluster "
            f"({len(addresses)} {task_type} address(es))"
        )
    chief = task_type == "chief" or (
        task_type == "worker" and index == 0 and "chief" not in cluster
    )
    return Worker(task_type, index, chief)


def make_strategy(name: str, tpu: str | None = None) -> tf.distribute.Strategy:
    """The strategy `name` (one of STRATEGIES); `tpu`: the TPU's address for `tpu` ("local" on
    a TPU VM). Create it before any other TensorFlow work: the multi-worker and TPU strategies
    configure the runtime."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":  # every GPU; without one, every logical CPU (one, unless configured)
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        if not tpu:
            raise ValueError("--strategy=tpu needs --tpu (the TPU's address, or local)")
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"unknown strategy {name!r}: one of {', '.join(STRATEGIES)}")


def check_global_batch(batch_size: int, strategy: tf.distribute.Strategy) -> None:
    """Refuse a global batch the replicas cannot share evenly (one line naming both)."""
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ValueError(
            f"--batch_size={batch_size} is the global batch: it must split evenly among the "
            f"{replicas} replicas (give a multiple of {replicas})"
        )


def barrier(strategy: tf.distribute.Strategy) -> Callable[[], None]:
    """A function that returns once every replica of `strategy` has called it: an all-reduce
    of a constant (a no-op for one process, a collective every worker joins for many)."""

    @tf.function
    def wait() -> tf.Tensor:
        ones = strategy.run(lambda: tf.constant(1.0))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, ones, axis=None)

    def call() -> None:
        wait()

    return call


def run_summed(strategy: tf.distribute.Strategy, step_fn, *args) -> tf.Tensor:
    """`step_fn(*args)` on every replica's share of a distributed batch; its results (the
    non-finite flags of `ednas_tf.checkpointing.nonfinite_code`) summed over the replicas, so
    every worker sees a step fail where any replica did."""
    flags = strategy.run(step_fn, args=args)
    return strategy.reduce(tf.distribute.ReduceOp.SUM, flags, axis=None)
