"""Quantization-aware fine-tuning of the run's trained child, after merging kernels and folding BN.

Writes, per scheme, RUN/train/qat/<scheme>/qat_model.h5 and qat_metrics.json (float vs QAT
accuracy). The data facts come from the run directory (flags override them).

Example:
  ednas-qat --run_dir=runs/demo --scheme=both
"""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf
from absl import flags

from deploy.merge import merge_model
from deploy.qat import QatConfig, run_qat, save_qat_model
from ednas_tf.checkpointing import CKPT_DIR
from ednas_tf.io_utils import atomic_write_json
from ednas_tf.rundir import QAT_DIR, QAT_METRICS_FILE, QAT_MODEL_FILE, RunDir
from ednas_tf.training import load_trained
from pipelines import dist_flags
from pipelines.generic_flags import keras_verbose
from pipelines.precision_flags import define_precision_flag, deployed_precision
from pipelines.resume_flags import apply_determinism, define_checkpoint_flags, policy_from_flags
from pipelines.run_flags import (
    check_run_paths,
    define_run_flags,
    load_stage_data,
    record_stage,
    stage_facts,
)
from pipelines.stage import console_script, stage_main

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(dist_flags)  # --help lists --strategy and --tpu
define_run_flags("Run directory whose train/ (ednas-train's output) is fine-tuned.")
flags.DEFINE_enum(
    "scheme",
    "both",
    ["tfmot", "pow2", "both"],
    "tfmot: TFMOT's default 8-bit "
    "scheme (TFLite int8); pow2: TIDL-faithful power-of-two symmetric per-tensor "
    "scales; both: one after the other.",
)
flags.DEFINE_integer("epochs", 2, "QAT epochs.", lower_bound=1)
flags.DEFINE_integer("steps_per_epoch", None, "Steps per epoch (default: one pass).", lower_bound=1)
flags.DEFINE_integer(
    "batch_size", 128, "Global batch size (split among the replicas of --strategy).", lower_bound=1
)
flags.DEFINE_float(
    "learning_rate", 0.005, "Peak learning rate of the fine-tuning (cosine).", lower_bound=0.0
)
flags.DEFINE_string("output_dir", None, "Where outputs go (default: RUN/train/qat).")
flags.mark_flag_as_required("run_dir")
define_checkpoint_flags()
define_precision_flag(
    inherit=False,
    note="QAT accepts float32 only and refuses the others: TFMOT's fake-quant op takes "
    "float32 tensors. A child trained in mixed precision is fine-tuned in float32.",
)


def _fine_tune(run: RunDir, output: Path, strategy: tf.distribute.Strategy, chief: bool) -> None:
    """Each scheme's fine-tuning into `output`; the run's record only from the chief."""
    arch, child = load_trained(run.train)
    facts = deployed_precision(stage_facts(run), "QAT")
    splits = load_stage_data(
        facts, arch, f"the trained network ({run.train})", batch_size=FLAGS.batch_size
    )
    merged = merge_model(child)
    schemes = ["tfmot", "pow2"] if FLAGS.scheme == "both" else [FLAGS.scheme]
    for scheme in schemes:
        config = QatConfig(
            scheme=scheme,
            epochs=FLAGS.epochs,
            batch_size=FLAGS.batch_size,
            learning_rate=FLAGS.learning_rate,
            steps_per_epoch=FLAGS.steps_per_epoch,
            seed=facts["seed"],
        )
        scheme_dir = output / scheme
        model, report = run_qat(
            merged,
            splits,
            config,
            verbose=keras_verbose() if chief else 0,
            checkpoint_dir=scheme_dir / CKPT_DIR,
            policy=policy_from_flags(),
            strategy=strategy,
        )
        save_qat_model(model, scheme_dir / QAT_MODEL_FILE)
        atomic_write_json(scheme_dir / QAT_METRICS_FILE, report)
        print(
            f"{scheme}: float accuracy {report['float_acc']:.4f}, fake-quantized "
            f"{report['qat_acc']:.4f}; {scheme_dir / QAT_MODEL_FILE}",
            flush=True,
        )
    if chief:
        more = dist_flags.recorded(strategy)
        record_stage(run, "qat", facts, arch, schemes=schemes, output=str(output), **more)


def _qat() -> int:
    apply_determinism()
    strategy = dist_flags.strategy_from_flags(FLAGS.batch_size)
    run = RunDir.at(FLAGS.run_dir)
    output = dist_flags.output_for_worker(FLAGS.output_dir or run.train / QAT_DIR)
    _fine_tune(run, output, strategy, dist_flags.worker().chief)
    return 0


def _check_flags() -> Path | None:
    """Refusals before any work; the run directory the QAT writes and locks (None for a
    multi-worker non-chief)."""
    if FLAGS.precision != "float32":
        raise ValueError(
            f"--precision={FLAGS.precision}: QAT runs in float32 (TFMOT's fake-quant op "
            "FakeQuantWithMinMaxVars takes float32 tensors only)"
        )
    return dist_flags.locked(check_run_paths())


main = stage_main(_qat, "qat", writes=_check_flags)
run = console_script(main)


if __name__ == "__main__":
    run()
