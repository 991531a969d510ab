"""Flags of every stage that checkpoints (search, train, QAT): how often, what a NaN does.

A stage resumes from its checkpoints by default (`--noresume` starts over); a checkpoint is
written every `--checkpoint_every_steps` steps and at every epoch end, and a non-finite loss,
gradient or gate logit fails the run (`--on_nan=fail`) or rolls it back to the last good
checkpoint with halved learning rates (`--on_nan=rollback`, at most `--max_rollbacks` times).
"""

from __future__ import annotations

import tensorflow as tf
from absl import flags

from ednas_tf.checkpointing import DEFAULT_EVERY_STEPS, ON_NAN, CheckpointPolicy

FLAGS = flags.FLAGS


def define_checkpoint_flags(resume: bool = True, deterministic: bool = True) -> None:
    """The checkpoint flags; also --resume and --deterministic where the stage lacks them."""
    flags.DEFINE_integer(
        "checkpoint_every_steps",
        DEFAULT_EVERY_STEPS,
        "A checkpoint every this many steps, and at every epoch end (0: at epoch ends only). A "
        "re-run of the same command after a crash or kill continues from the newest one.",
        lower_bound=0,
    )
    flags.DEFINE_enum(
        "on_nan",
        "fail",
        list(ON_NAN),
        "At a non-finite loss, gradient or gate logit: fail (one-line error naming the step) or "
        "rollback (restart from the last good checkpoint with the learning rates halved).",
    )
    flags.DEFINE_integer(
        "max_rollbacks", 3, "Rollbacks --on_nan=rollback may take before it fails.", lower_bound=0
    )
    if resume:
        flags.DEFINE_bool(
            "resume",
            True,
            "Continue from the checkpoints in the output folder if there are any (--noresume "
            "starts over and overwrites them).",
        )
    if deterministic:
        flags.DEFINE_bool(
            "deterministic",
            True,
            "Deterministic TF ops: the same seed gives the same weights, and a resumed run ends "
            "with the weights of an uninterrupted one.",
        )


def policy_from_flags() -> CheckpointPolicy:
    return CheckpointPolicy(
        every_steps=FLAGS.checkpoint_every_steps,
        resume=FLAGS.resume,
        on_nan=FLAGS.on_nan,
        max_rollbacks=FLAGS.max_rollbacks,
    )


def apply_determinism() -> None:
    """Deterministic ops under --deterministic (before any op runs)."""
    if FLAGS.deterministic:
        tf.config.experimental.enable_op_determinism()
