"""E-DNAS search: writes arch.json, run.json, gates.csv, TensorBoard logs and checkpoints.

The output directory is the run directory every later stage takes (`--run_dir`); run.json
records the data, seed, device and space the search used, so those are not asked for again.

Example:
  ednas-search --flagfile=configs/fmnist_tda2x.cfg --output_dir=runs/demo
"""

from __future__ import annotations

import time

import tensorflow as tf
from absl import flags

from ednas_tf.rundir import RunDir
from ednas_tf.search.objectives import make_objective
from ednas_tf.search.runner import run_search, summary_table
from ednas_tf.search.targets import resolve_target_ms
from pipelines import dist_flags, search_flags
from pipelines.common_flags import load_data_and_space, recorded_facts
from pipelines.stage import console_script, stage_main

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(search_flags)  # --help lists the search's flags too
flags.adopt_module_key_flags(dist_flags)


def _search() -> int:
    schedule = search_flags.schedule_from_flags()
    if FLAGS.deterministic:
        tf.config.experimental.enable_op_determinism()
    tf.keras.utils.set_random_seed(FLAGS.seed)
    strategy = dist_flags.strategy_from_flags(FLAGS.batch_size)
    splits, profile, space = load_data_and_space(
        arch_fraction=FLAGS.arch_fraction, batch_size=FLAGS.batch_size
    )
    latency_model = profile.latency()
    target_ms, bounds = resolve_target_ms(
        space, latency_model, FLAGS.target_latency_ms, FLAGS.target_latency_fraction
    )
    if FLAGS.target_latency_fraction is not None:
        print(
            f"latency range of the space on {profile.name}: {bounds[0]:.4g}-{bounds[1]:.4g} ms;"
            f" target {target_ms:.4g} ms",
            flush=True,
        )
    objective = make_objective(
        FLAGS.objective,
        target_ms=target_ms,
        latency_weight=FLAGS.latency_weight,
        alpha=FLAGS.fbnet_alpha,
        beta=FLAGS.fbnet_beta,
    )
    config = search_flags.config_from_flags(splits.sizes["train"])
    opts = search_flags.options_from_flags()
    start = time.time()
    arch = run_search(space, splits, config, objective, schedule, latency_model, opts, strategy)
    if arch is None:  # --warmup_only
        print(
            f"weights-only warm-up of {config.warmup_epochs} epochs took "
            f"{time.time() - start:.0f} s; start each search from it with "
            f"--warmup_from={opts.output_dir}",
            flush=True,
        )
        return 0
    facts = {**recorded_facts(splits, profile), "precision": config.precision}
    facts.update(dist_flags.recorded(strategy))
    RunDir.at(opts.output_dir).record("search", facts)
    print(summary_table(arch))
    print(
        f"search took {time.time() - start:.0f} s; outputs in {opts.output_dir}: arch.json, "
        f"run.json, gates.csv, history.json, tb/ (TensorBoard), ckpt/",
        flush=True,
    )
    return 0


# the flags and the output folder are checked before anything else runs; the folder is locked
main = stage_main(_search, "search", writes=search_flags.check_flags)
run = console_script(main)


if __name__ == "__main__":
    run()
