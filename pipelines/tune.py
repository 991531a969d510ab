"""keras-tuner baseline over the E-DNAS search space: writes the best arch.json and trials.csv.

Each trial samples a child of the same space the E-DNAS search uses, trains it briefly and scores
it on validation accuracy under the device's latency budget. The arch.json has the search's format,
so pipelines/train.py and the deploy stage take it unchanged.

Example:
  ednas-tune --dataset=fashion_mnist --space=small --tuner=random --max_trials=20 \
      --latency_budget_fraction=0.3 --constraint=reject --output_dir=runs/tune
"""

from __future__ import annotations

import dataclasses

from absl import flags

from ednas_tf.baselines.tuner import LatencyConstraint, TuneConfig, resolve_budget, tune
from ednas_tf.rundir import RunDir, writable_dir
from ednas_tf.search.runner import summary_table
from ednas_tf.search.targets import resolve_target_ms
from pipelines.common_flags import (
    check_data_and_space_flags,
    define_data_flags,
    define_space_flags,
    load_data_and_space,
    recorded_facts,
)
from pipelines.generic_flags import keras_verbose
from pipelines.stage import console_script, stage_main

FLAGS = flags.FLAGS
define_data_flags("Share of the training data held out to score trials.")
define_space_flags()
# tuner
flags.DEFINE_enum(
    "tuner",
    "random",
    ["random", "hyperband", "bayesian"],
    "keras-tuner oracle: random search, Hyperband (successive halving of epochs, promoted trials "
    "resume) or Bayesian optimisation (needs scikit-learn).",
)
flags.DEFINE_integer(
    "max_trials", 10, "Trials that train a child (refused children not counted).", lower_bound=1
)
flags.DEFINE_integer(
    "max_rejected_trials",
    200,
    "With --constraint=reject: give up after this many over-budget children were refused.",
    lower_bound=0,
)
flags.DEFINE_float(
    "max_time_minutes",
    None,
    "Start no new trial after this many minutes (default: no limit).",
    lower_bound=0.0,
)
# each trial's training
flags.DEFINE_integer(
    "epochs", 2, "Training epochs per trial (Hyperband: the largest budget).", lower_bound=1
)
flags.DEFINE_integer(
    "steps_per_epoch",
    None,
    "Steps per epoch (default: one pass over the training split).",
    lower_bound=1,
)
flags.DEFINE_integer("batch_size", 64, "Batch size of each trial's training.", lower_bound=1)
flags.DEFINE_float(
    "learning_rate", 0.05, "Peak learning rate of each trial (SGD, cosine).", lower_bound=0.0
)
# latency constraint
flags.DEFINE_float("latency_budget_ms", None, "Latency budget (ms) on the device.", lower_bound=0.0)
flags.DEFINE_float(
    "latency_budget_fraction",
    None,
    "Latency budget as a position in the space's latency range: 0 = fastest child, "
    "1 = slowest (instead of --latency_budget_ms).",
    lower_bound=0.0,
    upper_bound=1.0,
)
flags.DEFINE_enum(
    "constraint",
    "reject",
    ["reject", "penalty"],
    "reject: over-budget children are not trained and get the worst score; penalty: "
    "score = val_acc - penalty_weight * max(0, latency / budget - 1).",
)
flags.DEFINE_float("penalty_weight", 1.0, "λ of --constraint=penalty.", lower_bound=0.0)
# run
flags.DEFINE_string(
    "output_dir", "runs/tune", "Where arch.json, trials.csv and tuner/ go (a re-run starts over)."
)
flags.DEFINE_integer(
    "seed", 0, "Seed of the data split, the oracle and each trial's training.", lower_bound=0
)


def _check_flags() -> str:
    """Refusals before any work; the output folder (the run directory the tuner writes)."""
    if FLAGS.latency_budget_ms is not None and FLAGS.latency_budget_fraction is not None:
        raise ValueError("give --latency_budget_ms or --latency_budget_fraction, not both")
    check_data_and_space_flags()
    return str(writable_dir(FLAGS.output_dir, "output_dir"))


def _run_stage() -> int:
    config = TuneConfig(
        tuner=FLAGS.tuner,
        max_trials=FLAGS.max_trials,
        max_rejected_trials=FLAGS.max_rejected_trials,
        max_time_minutes=FLAGS.max_time_minutes,
        epochs=FLAGS.epochs,
        steps_per_epoch=FLAGS.steps_per_epoch,
        batch_size=FLAGS.batch_size,
        learning_rate=FLAGS.learning_rate,
        seed=FLAGS.seed,
    )
    constraint = LatencyConstraint(None, FLAGS.constraint, FLAGS.penalty_weight)
    splits, profile, space = load_data_and_space(arch_fraction=0.0, batch_size=FLAGS.batch_size)
    if splits.sizes["val"] == 0:
        raise ValueError("no validation examples to score trials on: raise --val_fraction")
    latency_model = profile.latency()
    budget = resolve_budget(
        space, latency_model, FLAGS.latency_budget_ms, FLAGS.latency_budget_fraction
    )
    _, (low, high) = resolve_target_ms(space, latency_model)
    print(
        f"latency range of the space on {profile.name}: {low:.4g}-{high:.4g} ms; "
        + (f"budget {budget:.4g} ms ({FLAGS.constraint})" if budget else "no latency budget"),
        flush=True,
    )
    constraint = dataclasses.replace(constraint, budget_ms=budget)
    result = tune(
        space,
        splits,
        latency_model,
        constraint,
        config,
        FLAGS.output_dir,
        log=lambda line: print(line, flush=True),
        keras_verbose=keras_verbose(),
    )
    RunDir.at(FLAGS.output_dir).record("tune", recorded_facts(splits, profile))
    print(summary_table(result.arch))
    search = result.arch.search
    print(
        f"best trial {result.best.trial_id}: val_acc {result.best.val_acc:.4f}, score "
        f"{result.best.score:.4f}; {search['trials_run']} trials ({search['trials_trained']} "
        f"trained, {search['trials_rejected']} refused, {search['trials_failed']} failed) in "
        f"{result.seconds:.0f} s, stopped: {result.stop_reason}; outputs in {FLAGS.output_dir}: "
        "arch.json, trials.csv, tuner/",
        flush=True,
    )
    return 0


main = stage_main(_run_stage, "tune", writes=_check_flags)
run = console_script(main)


if __name__ == "__main__":
    run()
