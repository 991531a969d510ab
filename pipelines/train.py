"""Train a derived architecture from scratch (weights, arch.json, train_metrics.json).

Example:
  python pipelines/train.py --arch=runs/demo/arch.json --output_dir=runs/demo/train
"""

from __future__ import annotations

import os
import sys

from absl import app, flags, logging

FLAGS = flags.FLAGS
flags.DEFINE_string("arch", None, "arch.json written by pipelines/search.py (or by hand).")
flags.DEFINE_string("dataset", "fashion_mnist", "Dataset name (see pipelines/search.py --help).")
flags.DEFINE_string("data_dir", None, "Where the dataset lives (default: its usual places).")
flags.DEFINE_integer("limit", None, "Use at most this many training (and test) examples.")
flags.DEFINE_float(
    "val_fraction", 0.1, "Share of the training data held out to pick the best epoch."
)
flags.DEFINE_integer("epochs", 30, "Training epochs.")
flags.DEFINE_integer("warmup_epochs", 2, "Epochs of linear learning-rate warm-up.")
flags.DEFINE_integer("steps_per_epoch", None, "Steps per epoch (default: one pass).")
flags.DEFINE_integer("batch_size", 128, "Batch size.")
flags.DEFINE_float("learning_rate", 0.1, "Peak learning rate (SGD, Nesterov, cosine decay).")
flags.DEFINE_float("weight_decay", 5e-5, "Decoupled weight decay on kernels (not BN, biases).")
flags.DEFINE_float("label_smoothing", 0.1, "Label smoothing of the cross-entropy.")
flags.DEFINE_bool("augment", True, "Random flip and crop of training images.")
flags.DEFINE_float(
    "random_erasing",
    0.0,
    "Probability per training image of random erasing (a box of 2-40 % of the image replaced "
    "by noise; with --augment). Reported to pay over schedules of hundreds of epochs; 0: off.",
    lower_bound=0.0,
    upper_bound=1.0,
)
flags.DEFINE_string("output_dir", None, "Where outputs go (default: <arch dir>/train).")
flags.DEFINE_integer("seed", 0, "Seed of data order and initialisation.")
flags.DEFINE_integer(
    "verbose", 1, "Keras progress output: 0 silent, 1 progress bar, 2 a line per epoch."
)
flags.mark_flag_as_required("arch")


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    from ednas_tf.arch import ArchSpec, ArchSpecError
    from ednas_tf.data import DatasetError, load_splits
    from ednas_tf.training import TrainConfig, train_child

    try:
        arch = ArchSpec.load(FLAGS.arch)
        splits = load_splits(
            FLAGS.dataset,
            data_dir=FLAGS.data_dir,
            image_size=arch.input_shape[0],
            val_fraction=FLAGS.val_fraction,
            arch_fraction=0.0,
            limit=FLAGS.limit,
            seed=FLAGS.seed,
        )
        config = TrainConfig(
            epochs=FLAGS.epochs,
            batch_size=FLAGS.batch_size,
            learning_rate=FLAGS.learning_rate,
            warmup_epochs=FLAGS.warmup_epochs,
            weight_decay=FLAGS.weight_decay,
            label_smoothing=FLAGS.label_smoothing,
            steps_per_epoch=FLAGS.steps_per_epoch,
            augment=FLAGS.augment,
            random_erasing=FLAGS.random_erasing,
            seed=FLAGS.seed,
        )
        output = FLAGS.output_dir or os.path.join(os.path.dirname(FLAGS.arch) or ".", "train")
        metrics = train_child(arch, splits, config, output, verbose=FLAGS.verbose)
    except (ArchSpecError, DatasetError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(
        f"test accuracy {metrics['test_acc']:.4f} (best val {metrics['best_val_acc']:.4f} at "
        f"epoch {metrics['best_epoch']}), {metrics['params']:,} params, "
        f"{metrics['train_seconds']:.0f} s; outputs in {output}"
    )
    return 0


def run() -> None:
    """Console-script entry point (see pyproject.toml [project.scripts])."""
    app.run(main)


if __name__ == "__main__":
    run()
