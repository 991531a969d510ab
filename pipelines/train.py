"""Train the run's derived architecture from scratch (weights, metrics) into RUN/train.

The dataset, its location, the example limit, the seed, the augmentation policy (`--augment`) and
the hold-out group rule (`--holdout_groups`) come from what the search recorded in the run
directory; a flag overrides one (and is recorded).

Example:
  ednas-train --run_dir=runs/demo
  ednas-train --arch=my_arch.json --dataset=image_folder --data_dir=imgs   # an arch by hand
"""

from __future__ import annotations

from pathlib import Path

from absl import flags

from ednas_tf.arch import ArchSpec
from ednas_tf.rundir import RunDir, existing_dir, writable_dir
from ednas_tf.training import TrainConfig, train_child
from pipelines import dist_flags
from pipelines.data_flags import check_holdout_flag, input_options
from pipelines.generic_flags import keras_verbose
from pipelines.precision_flags import PRECISION_DEFAULTS, define_precision_flag
from pipelines.resume_flags import apply_determinism, define_checkpoint_flags, policy_from_flags
from pipelines.run_flags import define_run_flags, load_stage_data, record_stage, stage_facts
from pipelines.stage import console_script, stage_main

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(dist_flags)  # --help lists --strategy and --tpu
define_run_flags("Run directory written by ednas-search: its arch.json is trained into RUN/train.")
flags.DEFINE_string(
    "arch", None, "An arch.json to train instead of the run's (its folder is then the run)."
)
flags.DEFINE_float(
    "val_fraction",
    0.1,
    "Share of the training data held out to pick the best epoch.",
    lower_bound=0.0,
    upper_bound=0.9,
)
flags.DEFINE_integer("epochs", 30, "Training epochs.", lower_bound=1)
flags.DEFINE_integer("warmup_epochs", 2, "Epochs of linear learning-rate warm-up.", lower_bound=0)
flags.DEFINE_integer("steps_per_epoch", None, "Steps per epoch (default: one pass).", lower_bound=1)
flags.DEFINE_integer(
    "batch_size", 128, "Global batch size (split among the replicas of --strategy).", lower_bound=1
)
flags.DEFINE_float(
    "learning_rate", 0.1, "Peak learning rate (SGD, Nesterov, cosine decay).", lower_bound=0.0
)
flags.DEFINE_float(
    "weight_decay",
    5e-5,
    "Decoupled weight decay on kernels (not BN, biases).",
    lower_bound=0.0,
)
flags.DEFINE_float(
    "label_smoothing",
    0.1,
    "Label smoothing of the cross-entropy.",
    lower_bound=0.0,
    upper_bound=0.99,
)
flags.DEFINE_float(
    "random_erasing",
    0.0,
    "Probability per training image of random erasing (a box of 2-40 % of the image replaced "
    "by noise; with any --augment). Reported to pay over schedules of hundreds of epochs; 0: off.",
    lower_bound=0.0,
    upper_bound=1.0,
)
flags.DEFINE_string("output_dir", None, "Where outputs go (default: RUN/train).")
define_checkpoint_flags()
define_precision_flag(inherit=True)


def _check_flags() -> Path | None:
    """Refusals before any work; the run directory the training writes (locked meanwhile; None
    for a multi-worker run's non-chief, which writes a scratch copy)."""
    if not FLAGS.run_dir and not FLAGS.arch:
        raise ValueError("give --run_dir (a search's output) or --arch (an arch.json)")
    if FLAGS.warmup_epochs > FLAGS.epochs:
        raise ValueError(f"--warmup_epochs={FLAGS.warmup_epochs} exceeds --epochs={FLAGS.epochs}")
    input_options()  # a --data_cache that is no folder
    check_holdout_flag()
    if FLAGS.arch:
        arch = Path(FLAGS.arch)
        if arch.is_dir():
            raise ValueError(f"--arch={arch} is a folder: give an arch.json file")
        if not arch.is_file():
            raise FileNotFoundError(f"--arch={arch} does not exist")
    run_dir = existing_dir(FLAGS.run_dir, "run_dir") if FLAGS.run_dir else Path(FLAGS.arch).parent
    if FLAGS.output_dir:
        writable_dir(FLAGS.output_dir, "output_dir")
    return dist_flags.locked(run_dir)


def _run_and_arch() -> tuple[RunDir, ArchSpec]:
    run = RunDir.at(FLAGS.run_dir or Path(FLAGS.arch).parent)
    arch_path = Path(FLAGS.arch) if FLAGS.arch else run.arch
    if not arch_path.is_file():
        raise FileNotFoundError(f"{arch_path} not found: run ednas-search first (or give --arch)")
    return run, ArchSpec.load(arch_path)


def _train() -> int:
    apply_determinism()
    strategy = dist_flags.strategy_from_flags(FLAGS.batch_size)
    chief = dist_flags.worker().chief
    run, arch = _run_and_arch()
    facts = stage_facts(run, defaults=PRECISION_DEFAULTS)
    splits = load_stage_data(
        facts,
        arch,
        f"the network ({run.arch})",
        batch_size=FLAGS.batch_size,
        val_fraction=FLAGS.val_fraction,
    )
    config = TrainConfig(
        epochs=FLAGS.epochs,
        batch_size=FLAGS.batch_size,
        learning_rate=FLAGS.learning_rate,
        warmup_epochs=FLAGS.warmup_epochs,
        weight_decay=FLAGS.weight_decay,
        label_smoothing=FLAGS.label_smoothing,
        steps_per_epoch=FLAGS.steps_per_epoch,
        random_erasing=FLAGS.random_erasing,
        seed=facts["seed"],
        precision=facts["precision"],
    )
    output = dist_flags.output_for_worker(FLAGS.output_dir or run.train)
    metrics = train_child(
        arch,
        splits,
        config,
        output,
        verbose=keras_verbose() if chief else 0,
        policy=policy_from_flags(),
        strategy=strategy,
    )
    if chief:
        record_stage(run, "train", facts, arch, output=str(output), **dist_flags.recorded(strategy))
    print(
        f"test accuracy {metrics['test_acc']:.4f} (best val {metrics['best_val_acc']:.4f} at "
        f"epoch {metrics['best_epoch']}), {metrics['params']:,} params, "
        f"{metrics['train_seconds']:.0f} s; outputs in {output}"
    )
    return 0


main = stage_main(_train, "train", writes=_check_flags)
run = console_script(main)


if __name__ == "__main__":
    run()
