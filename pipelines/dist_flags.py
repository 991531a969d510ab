"""`--strategy` and `--tpu`: how every stage that trains (search, train, QAT) is distributed.

`--batch_size` stays the global batch under every strategy (`ednas_tf.distribute`). Under
`--strategy=multi_worker` each worker runs the same command with its own `TF_CONFIG`; the chief
writes the run and holds its lock, the others write to `OUT/.workers/<task>-<index>/` and resume
from the chief's checkpoints.
"""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf
from absl import flags

from ednas_tf.distribute import (
    STRATEGIES,
    Worker,
    check_global_batch,
    make_strategy,
    this_worker,
)
from ednas_tf.rundir import worker_output

FLAGS = flags.FLAGS
flags.DEFINE_enum(
    "strategy",
    "default",
    list(STRATEGIES),
    "tf.distribute strategy: default (one device), mirrored (this machine's GPUs, or its CPU), "
    "multi_worker (the processes TF_CONFIG names, each running this same command; the chief "
    "writes the outputs, the others scratch copies under OUT/.workers/) or tpu (with --tpu). "
    "--batch_size is the global batch, split evenly among the replicas.",
)
flags.DEFINE_string(
    "tpu", None, "With --strategy=tpu: the TPU's address for TPUClusterResolver (local on a VM)."
)


def worker() -> Worker:
    """This process's task (ValueError on a missing or broken TF_CONFIG under multi_worker)."""
    if FLAGS.strategy == "tpu" and not FLAGS.tpu:
        raise ValueError("--strategy=tpu needs --tpu (the TPU's address, or local)")
    return this_worker(FLAGS.strategy)


def locked(run_dir: str | Path | None) -> str | Path | None:
    """The folder the stage locks: the run's for the chief, none for another worker (which
    writes only its scratch copy)."""
    return run_dir if worker().chief else None


def output_for_worker(output: str | Path) -> Path:
    """Where this process writes what the stage writes into `output`."""
    return worker_output(output, worker().scratch)


def strategy_from_flags(batch_size: int) -> tf.distribute.Strategy:
    """The strategy (create it before other TensorFlow work), with `batch_size` checked to split
    evenly among its replicas."""
    strategy = make_strategy(FLAGS.strategy, FLAGS.tpu)
    check_global_batch(batch_size, strategy)
    return strategy


def recorded(strategy: tf.distribute.Strategy) -> dict:
    """What run.json records of a stage's distribution."""
    return {"strategy": FLAGS.strategy, "replicas": strategy.num_replicas_in_sync}
