"""The search's flags, and the library objects they make (schedule, loop config, run options).

Kept apart from `pipelines/search.py` so the entry point reads as what it does: flags → library →
files. The data and space flags are shared with the tuner (`pipelines/common_flags.py`).
"""

from __future__ import annotations

from pathlib import Path

from absl import flags

from ednas_tf.rundir import writable_dir
from ednas_tf.search.loop import SearchConfig
from ednas_tf.search.runner import RunOptions
from ednas_tf.search.schedules import ExponentialTemperature, LinearTemperature, make_schedule
from ednas_tf.search.warmup import warmup_record
from pipelines import common_flags, dist_flags
from pipelines.common_flags import define_data_flags, define_space_flags
from pipelines.generic_flags import show_bars
from pipelines.precision_flags import define_precision_flag
from pipelines.resume_flags import define_checkpoint_flags

FLAGS = flags.FLAGS
define_data_flags("Share of the training data held out for validation.")
flags.DEFINE_float(
    "arch_fraction",
    0.2,
    "Share of the training data held out for architecture steps (FBNet: 0.2).",
    lower_bound=0.0,
    upper_bound=0.9,
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
flags.DEFINE_integer(
    "epochs", 10, "Epochs of step 2 (and of step 1 unless --step1_epochs).", lower_bound=1
)
flags.DEFINE_integer("step1_epochs", None, "Epochs of step 1 (default: --epochs).", lower_bound=1)
flags.DEFINE_integer(
    "warmup_epochs",
    2,
    "Epochs at the start of each step that train weights only.",
    lower_bound=0,
)
flags.DEFINE_integer(
    "steps_per_epoch",
    None,
    "Iterations per epoch (default: one pass over the weight split).",
    lower_bound=1,
)
flags.DEFINE_integer(
    "batch_size", 64, "Global batch size of weight and architecture steps.", lower_bound=1
)
flags.DEFINE_float(
    "weight_lr", 0.05, "Initial learning rate of the weights (SGD, cosine).", lower_bound=0.0
)
flags.DEFINE_float(
    "weight_decay", 4e-5, "L2 on conv kernels (not BN, biases or gates).", lower_bound=0.0
)
flags.DEFINE_float(
    "arch_lr", 0.01, "Learning rate of the architecture logits (Adam).", lower_bound=0.0
)
flags.DEFINE_integer(
    "arch_update_every", 1, "One architecture step every N weight steps.", lower_bound=1
)
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
flags.DEFINE_float("target_latency_ms", None, "Latency target (ms) on the device.", lower_bound=0.0)
flags.DEFINE_float(
    "target_latency_fraction",
    None,
    "Latency target as a position in the "
    "space's latency range: 0 = fastest child, 1 = slowest (instead of "
    "--target_latency_ms).",
    lower_bound=0.0,
    upper_bound=1.0,
)
flags.DEFINE_float(
    "latency_weight",
    None,
    "λ of the additive / target and budget objectives (default 0.1 / 0.5).",
    lower_bound=0.0,
)
flags.DEFINE_float("fbnet_alpha", 0.2, "α of the FBNet objective.", lower_bound=0.0)
flags.DEFINE_float("fbnet_beta", 0.6, "β of the FBNet objective.", lower_bound=0.0)
# derivation and run
flags.DEFINE_enum(
    "derive_mode",
    "parallel",
    ["argmax", "parallel"],
    "argmax: one kernel per block; parallel: keep every kernel size above --derive_threshold.",
)
flags.DEFINE_float(
    "derive_threshold",
    0.4,
    "Probability a kernel size needs to stay in a parallel kernel set.",
    lower_bound=0.0,
    upper_bound=1.0,
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
    "probe_steps",
    200,
    "Training steps of each child with --probe_mode=finetune or --evolve_final=finetune.",
    lower_bound=1,
)
flags.DEFINE_bool(
    "derive_fill_budget",
    True,
    "With --objective=budget: a derived child below the band [budget x (1 - "
    "--derive_tolerance), budget] is grown into it, most probable decisions first; the budget "
    "stays a hard ceiling either way. On NAS-Bench-Macro it raised the true accuracy of the "
    "children by 0.2-27 pt (docs/results/32); --noderive_fill_budget keeps the gates' child.",
)
flags.DEFINE_float(
    "derive_tolerance",
    0.02,
    "The latency fit's band as a fraction of the target: a target's child within +-this; with "
    "--derive_fill_budget, a budget's child within [budget x (1 - this), budget].",
    lower_bound=0.0,
    upper_bound=0.5,
)
flags.DEFINE_integer(
    "evolve_candidates",
    0,
    "With a latency target: after the gates' child is derived and fitted, an evolutionary "
    "search scores this many distinct children whose latency lies in the band [target x (1 - "
    "--evolve_band), target] (a budget; +-band around another target) on the trained supernet "
    "(each pinned path's accuracy on --evolve_images validation images, batch norm "
    "re-estimated), scores the best --evolve_finalists again by --evolve_final and keeps the best; "
    "the gates' child competes too. On NAS-Bench-Macro the supernet ranks children well and "
    "the gates do not (docs/results/35). A child costs a supernet pass over the images: "
    "100 children of 1,000 CIFAR-10 images take about 8 minutes on 2 cores. 0: the gates' "
    "child. Widths (--stage_widths) are not searched this way.",
    lower_bound=0,
)
flags.DEFINE_float(
    "evolve_band",
    0.1,
    "With --evolve_candidates: the latency band searched, a fraction of the target.",
    lower_bound=0.0,
    upper_bound=0.9,
)
flags.DEFINE_integer(
    "evolve_images",
    1000,
    "With --evolve_candidates: validation images each child is screened on (0: all).",
    lower_bound=0,
)
flags.DEFINE_integer(
    "evolve_finalists",
    3,
    "With --evolve_candidates: the best screened children scored again by --evolve_final.",
    lower_bound=1,
)
flags.DEFINE_enum(
    "evolve_final",
    "supernet",
    ["supernet", "finetune"],
    "With --evolve_candidates: how the finalists are scored again: supernet (the pinned path on "
    "the whole validation split) or finetune (each finalist built as a child from the "
    "supernet's weights, trained --probe_steps steps on its own, then scored on the whole "
    "validation split: a shared weight that serves several options is judged after it served "
    "one; about 0.3 s a step on 2 cores for a full-width NAS-Bench-Macro child). On "
    "NAS-Bench-Macro a 200-step fine-tune of 5 finalists chose no better than the supernet "
    "(mean regret 0.55 pt both; docs/results/36).",
)
flags.DEFINE_integer(
    "rank_children",
    0,
    "After the search, score this many distinct children drawn uniformly from the space (seeded by "
    "--seed) on the trained supernet: each pinned path's validation accuracy with batch norm "
    "re-estimated, and the gates' log-probability of it, into RUN/ranking.json. Tells whether "
    "the supernet tells children apart (bench/nb_macro.py compares it with ground truth); about "
    "a second per child on 2 cores at 32 px. 0: none.",
    lower_bound=0,
)
flags.DEFINE_bool(
    "warmup_only",
    False,
    "Run only the weights-only warm-up (--warmup_epochs of the schedule of --epochs), checkpoint "
    "it and stop: searches at several latency targets can then share it (--warmup_from). One "
    "search step only (--steps=1 or 2, or a space without step 1).",
)
flags.DEFINE_string(
    "warmup_from",
    None,
    "A --warmup_only run's output folder: this search starts from the end of that warm-up "
    "instead of running its own. Every setting but the objective and its target must match "
    "(checked); the child is the one the search run whole would derive.",
)
flags.DEFINE_integer(
    "rank_images",
    0,
    "With --rank_children: score each child on this many validation images (0: the whole "
    "validation split). A child costs a pass of the supernet over them: 4,000 CIFAR-10 images "
    "take about half a minute on 2 cores.",
    lower_bound=0,
)
flags.DEFINE_string("output_dir", "runs/search", "Where outputs go; an existing run resumes.")
flags.DEFINE_integer(
    "seed", 0, "Seed of data order, initialisation and Gumbel sampling.", lower_bound=0
)
flags.DEFINE_bool(
    "deterministic", True, "Deterministic TF ops: the same seed gives the same arch.json."
)
flags.DEFINE_bool(
    "resume",
    True,
    "Resume from the checkpoints in --output_dir if there are any "
    "(--noresume starts over and overwrites them).",
)
define_checkpoint_flags(resume=False, deterministic=False)  # both defined above
define_precision_flag(inherit=False)


def check_flags() -> str | None:
    """What can be refused before any work: the settings together, the output folder and the
    cluster. Returns the run directory the search writes and locks (None for a multi-worker
    run's non-chief, which writes a scratch copy). Nothing is created."""
    if FLAGS.target_latency_ms is not None and FLAGS.target_latency_fraction is not None:
        raise ValueError("give --target_latency_ms or --target_latency_fraction, not both")
    if FLAGS.warmup_epochs > FLAGS.epochs:
        raise ValueError(f"--warmup_epochs={FLAGS.warmup_epochs} exceeds --epochs={FLAGS.epochs}")
    if FLAGS.warmup_only and FLAGS.warmup_epochs == 0:
        raise ValueError("--warmup_only needs --warmup_epochs >= 1: there is no warm-up to run")
    if FLAGS.warmup_from:
        warmup_record(Path(FLAGS.warmup_from))  # a folder without a finished warm-up: refused
    if FLAGS.evolve_candidates:
        if FLAGS.target_latency_ms is None and FLAGS.target_latency_fraction is None:
            raise ValueError(
                "--evolve_candidates needs a latency target to search under: give "
                "--target_latency_ms or --target_latency_fraction"
            )
        if common_flags.stage_widths():
            raise ValueError("--evolve_candidates does not search widths: drop --stage_widths")
        if FLAGS.evolve_band == 0:
            raise ValueError("--evolve_band must be above 0 (a band of latencies to search)")
    config_from_flags(train_size=FLAGS.batch_size)  # SearchConfig's own checks
    schedule_from_flags()
    common_flags.check_data_and_space_flags()
    return dist_flags.locked(str(writable_dir(FLAGS.output_dir, "output_dir")))


def schedule_from_flags() -> ExponentialTemperature | LinearTemperature:
    """The Gumbel temperature schedule (ValueError on a temperature <= 0)."""
    return make_schedule(
        FLAGS.temperature_schedule,
        FLAGS.temperature_init,
        FLAGS.temperature_decay,
        FLAGS.temperature_final,
    )


def config_from_flags(train_size: int) -> SearchConfig:
    """The loop's settings; an epoch is one pass over the weight split unless given."""
    steps_per_epoch = FLAGS.steps_per_epoch or max(1, train_size // FLAGS.batch_size)
    return SearchConfig(
        epochs=FLAGS.epochs,
        warmup_epochs=FLAGS.warmup_epochs,
        steps_per_epoch=steps_per_epoch,
        weight_lr=FLAGS.weight_lr,
        weight_decay=FLAGS.weight_decay,
        arch_lr=FLAGS.arch_lr,
        arch_update_every=FLAGS.arch_update_every,
        bn_recalibration_steps=FLAGS.bn_recalibration_steps,
        stop_when_committed=FLAGS.stop_when_committed,
        precision=FLAGS.precision,
    )


def options_from_flags() -> RunOptions:
    return RunOptions(
        output_dir=str(dist_flags.output_for_worker(FLAGS.output_dir)),
        steps=FLAGS.steps,
        step1_epochs=FLAGS.step1_epochs,
        batch_size=FLAGS.batch_size,
        derive_mode=FLAGS.derive_mode,
        derive_threshold=FLAGS.derive_threshold,
        probe_candidates=FLAGS.probe_candidates,
        probe_mode=FLAGS.probe_mode,
        probe_steps=FLAGS.probe_steps,
        rank_children=FLAGS.rank_children,
        rank_images=FLAGS.rank_images,
        derive_fill_budget=FLAGS.derive_fill_budget,
        derive_tolerance=FLAGS.derive_tolerance,
        evolve_candidates=FLAGS.evolve_candidates,
        evolve_band=FLAGS.evolve_band,
        evolve_images=FLAGS.evolve_images,
        evolve_finalists=FLAGS.evolve_finalists,
        evolve_final=FLAGS.evolve_final,
        gate_mode=FLAGS.gate_mode,
        seed=FLAGS.seed,
        progress=show_bars() and dist_flags.worker().chief,  # one set of bars
        resume=FLAGS.resume,
        checkpoint_every_steps=FLAGS.checkpoint_every_steps,
        on_nan=FLAGS.on_nan,
        max_rollbacks=FLAGS.max_rollbacks,
        warmup_only=FLAGS.warmup_only,
        warmup_from=FLAGS.warmup_from,
    )
