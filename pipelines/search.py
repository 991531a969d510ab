"""E-DNAS search: writes arch.json, gates.csv, TensorBoard logs and checkpoints to --output_dir.

Example:
  python pipelines/search.py --flagfile=configs/fmnist_tda2x.cfg --output_dir=runs/demo
"""

from __future__ import annotations

import sys
import time

from absl import app, flags, logging

from pipelines.common_flags import define_data_flags, define_space_flags, load_data_and_space

FLAGS = flags.FLAGS
define_data_flags("Share of the training data held out for validation.")
flags.DEFINE_float(
    "arch_fraction", 0.2, "Share of the training data held out for architecture steps (FBNet: 0.2)."
)
define_space_flags()
# schedule
flags.DEFINE_enum(
    "steps",
    "both",
    ["1", "2", "both"],
    "Search step 1 (early kernel sets), "
    "step 2 (joint kernel/expansion pairs of the rest) or both in sequence.",
)
flags.DEFINE_integer("epochs", 10, "Epochs of step 2 (and of step 1 unless --step1_epochs).")
flags.DEFINE_integer("step1_epochs", None, "Epochs of step 1 (default: --epochs).")
flags.DEFINE_integer(
    "warmup_epochs", 2, "Epochs at the start of each step that train weights only."
)
flags.DEFINE_integer(
    "steps_per_epoch", None, "Iterations per epoch (default: one pass over the weight split)."
)
flags.DEFINE_integer("batch_size", 64, "Global batch size of weight and architecture steps.")
flags.DEFINE_float("weight_lr", 0.05, "Initial learning rate of the weights (SGD, cosine).")
flags.DEFINE_float("weight_decay", 4e-5, "L2 on conv kernels (not BN, biases or gates).")
flags.DEFINE_float("arch_lr", 0.01, "Learning rate of the architecture logits (Adam).")
flags.DEFINE_integer("arch_update_every", 1, "One architecture step every N weight steps.")
flags.DEFINE_float(
    "stop_when_committed",
    0.9,
    "A step ends early after an architecture epoch at which every gate puts at least this "
    "probability on the option it also led with the epoch before: more epochs would derive the "
    "same child. 0: always run every epoch.",
    lower_bound=0.0,
    upper_bound=1.0,
)
flags.DEFINE_integer(
    "bn_recalibration_steps",
    20,
    "Before each epoch's val_acc (the accuracy of the path the gates point to), that path's "
    "batch norms re-estimate their statistics on this many training batches; the supernet's "
    "own statistics describe the sampled mixtures and score the path near chance. 0: skip.",
    lower_bound=0,
)
flags.DEFINE_enum(
    "temperature_schedule",
    "exponential",
    ["exponential", "linear"],
    "Gumbel temperature: FBNet exponential or GDAS linear.",
)
flags.DEFINE_float(
    "temperature_init", None, "Initial temperature (default 5 exponential, 10 linear)."
)
flags.DEFINE_float(
    "temperature_decay", None, "Per-epoch decay of the exponential schedule (default 0.045)."
)
flags.DEFINE_float(
    "temperature_final", None, "Final temperature of the linear schedule (default 0.1)."
)
flags.DEFINE_enum(
    "gate_mode",
    "soft",
    ["soft", "hard"],
    "Gumbel-softmax (soft) or straight-through one-hot (hard).",
)
# objective
flags.DEFINE_enum(
    "objective",
    "auto",
    ["auto", "fbnet", "additive", "target", "budget"],
    "Architecture loss; auto = target when --target_latency_ms is set, else fbnet. target "
    "pulls the latency onto the target from both sides; budget penalises only latency above "
    "it and derives a child at or below it.",
)
flags.DEFINE_float("target_latency_ms", None, "Latency target (ms) on the device.")
flags.DEFINE_float(
    "target_latency_fraction",
    None,
    "Latency target as a position in the "
    "space's latency range: 0 = fastest child, 1 = slowest (instead of "
    "--target_latency_ms).",
)
flags.DEFINE_float(
    "latency_weight",
    None,
    "λ of the additive / target and budget objectives (default 0.1 / 0.5).",
)
flags.DEFINE_float("fbnet_alpha", 0.2, "α of the FBNet objective.")
flags.DEFINE_float("fbnet_beta", 0.6, "β of the FBNet objective.")
# derivation and run
flags.DEFINE_enum(
    "derive_mode",
    "parallel",
    ["argmax", "parallel"],
    "argmax: one kernel per block; parallel: keep every kernel size above --derive_threshold.",
)
flags.DEFINE_float(
    "derive_threshold", 0.4, "Probability a kernel size needs to stay in a parallel kernel set."
)
flags.DEFINE_integer(
    "probe_candidates",
    0,
    "With a latency target: score this many of the most probable children that meet it on the "
    "supernet's own weights (validation accuracy of the pinned path, batch norm re-estimated) "
    "and keep the most accurate (within one standard error of the validation accuracy, the more "
    "probable). The candidates are one fitted child per width assignment (--stage_widths), "
    "then the children one block decision away from the most probable. 0: keep the most "
    "probable one, unscored.",
    lower_bound=0,
)
flags.DEFINE_enum(
    "probe_mode",
    "supernet",
    ["supernet", "finetune"],
    "How --probe_candidates scores each child: supernet (the pinned path of the supernet, "
    "untrained; a second or two each) or finetune (the child built on its own from the "
    "supernet's weights and trained --probe_steps steps; about 0.1 s a step on 2 cores at 32 px).",
)
flags.DEFINE_integer(
    "probe_steps", 200, "Training steps of each child with --probe_mode=finetune.", lower_bound=1
)
flags.DEFINE_string("output_dir", "runs/search", "Where outputs go; an existing run resumes.")
flags.DEFINE_integer("seed", 0, "Seed of data order, initialisation and Gumbel sampling.")
flags.DEFINE_bool(
    "deterministic", True, "Deterministic TF ops: the same seed gives the same arch.json."
)
flags.DEFINE_enum("strategy", "default", ["default", "mirrored"], "tf.distribute strategy.")
flags.DEFINE_bool("progress", True, "Show progress bars.")
flags.DEFINE_bool(
    "resume",
    True,
    "Resume from the checkpoints in --output_dir if there are any "
    "(--noresume starts over and overwrites them).",
)


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    import tensorflow as tf

    from ednas_tf.cost.network import space_latency_bounds
    from ednas_tf.data import DatasetError
    from ednas_tf.search.loop import SearchConfig
    from ednas_tf.search.objectives import make_objective, target_from_fraction
    from ednas_tf.search.runner import RunOptions, run_search, summary_table
    from ednas_tf.search.schedules import make_schedule

    try:  # flags only: refused before the data and the latency table are loaded
        schedule = make_schedule(
            FLAGS.temperature_schedule,
            FLAGS.temperature_init,
            FLAGS.temperature_decay,
            FLAGS.temperature_final,
        )
    except ValueError as err:  # a temperature <= 0: a message, not a traceback
        print(f"error: {err}", file=sys.stderr)
        return 2
    if FLAGS.deterministic:
        tf.config.experimental.enable_op_determinism()
    tf.keras.utils.set_random_seed(FLAGS.seed)
    strategy = (
        tf.distribute.MirroredStrategy()
        if FLAGS.strategy == "mirrored"
        else tf.distribute.get_strategy()
    )

    try:
        splits, profile, space = load_data_and_space(arch_fraction=FLAGS.arch_fraction)
    except (DatasetError, ValueError) as err:  # bad data or device flags: a message
        print(f"error: {err}", file=sys.stderr)
        return 2
    steps_per_epoch = FLAGS.steps_per_epoch or max(1, splits.sizes["train"] // FLAGS.batch_size)
    config = SearchConfig(
        epochs=FLAGS.epochs,
        warmup_epochs=FLAGS.warmup_epochs,
        steps_per_epoch=steps_per_epoch,
        weight_lr=FLAGS.weight_lr,
        weight_decay=FLAGS.weight_decay,
        arch_lr=FLAGS.arch_lr,
        arch_update_every=FLAGS.arch_update_every,
        bn_recalibration_steps=FLAGS.bn_recalibration_steps,
        stop_when_committed=FLAGS.stop_when_committed,
    )
    latency_model = profile.latency()
    target_ms = FLAGS.target_latency_ms
    if FLAGS.target_latency_fraction is not None:
        if target_ms is not None:
            print(
                "error: give --target_latency_ms or --target_latency_fraction, not both",
                file=sys.stderr,
            )
            return 2
        bounds = space_latency_bounds(space, latency_model)
        target_ms = target_from_fraction(bounds, FLAGS.target_latency_fraction)
        print(
            f"latency range of the space on {profile.name}: {bounds[0]:.4g}-{bounds[1]:.4g} ms;"
            f" target {target_ms:.4g} ms",
            flush=True,
        )
    try:
        objective = make_objective(
            FLAGS.objective,
            target_ms=target_ms,
            latency_weight=FLAGS.latency_weight,
            alpha=FLAGS.fbnet_alpha,
            beta=FLAGS.fbnet_beta,
        )
    except ValueError as err:  # target/budget without a latency target
        print(f"error: {err}", file=sys.stderr)
        return 2
    opts = RunOptions(
        output_dir=FLAGS.output_dir,
        steps=FLAGS.steps,
        step1_epochs=FLAGS.step1_epochs,
        batch_size=FLAGS.batch_size,
        derive_mode=FLAGS.derive_mode,
        derive_threshold=FLAGS.derive_threshold,
        probe_candidates=FLAGS.probe_candidates,
        probe_mode=FLAGS.probe_mode,
        probe_steps=FLAGS.probe_steps,
        gate_mode=FLAGS.gate_mode,
        seed=FLAGS.seed,
        progress=FLAGS.progress,
        resume=FLAGS.resume,
    )
    start = time.time()
    try:
        arch = run_search(space, splits, config, objective, schedule, latency_model, opts, strategy)
    except ValueError as err:  # bad flags / unreachable target: a message, not a traceback
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(summary_table(arch))
    print(
        f"search took {time.time() - start:.0f} s; outputs in {FLAGS.output_dir}: arch.json, "
        f"gates.csv, history.json, tb/ (TensorBoard), ckpt/",
        flush=True,
    )
    return 0


def run() -> None:
    """Console-script entry point (see pyproject.toml [project.scripts])."""
    app.run(main)


if __name__ == "__main__":
    run()
