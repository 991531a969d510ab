"""The Pareto benchmark's flags: their definitions, the quick and full defaults of the ones left
unset, and the checks that must fail before hours of baselines rather than at the search.

Flag names and defaults are those results files and flags.json record (`record.RESULT_FLAGS`),
so they stay as they are.
"""

from __future__ import annotations

from types import SimpleNamespace

from absl import flags

from bench import cli
from bench.common import BENCH_SPACES
from ednas_tf.search.loop import SearchConfig
from ednas_tf.search.schedules import make_schedule

NAME = "pareto_fmnist"
DEVICES = ("host", "tda2x")  # --device: the latency every model is placed by
# --quick's values of the flags left unset, and the full run's
QUICK = dict(
    target_fractions="0.5",
    limit=3000,
    num_test=1000,
    epochs=2,
    steps_per_epoch=40,
    search_epochs=2,
    search_steps_per_epoch=30,
    steps="2",
    tuner_trials=2,
    baselines="mbv2_a0.35_32px,cifar_mbv2_w0.35,all_3x3",
)
FULL = dict(
    target_fractions="0.2,0.5,0.8",
    limit=None,
    num_test=None,
    epochs=10,
    steps_per_epoch=None,
    search_epochs=5,
    search_steps_per_epoch=120,
    steps="both",
    tuner_trials=100,
    baselines=None,
)


def _define_data_flags(fv: flags.FlagValues) -> None:
    """What every model trains on and how (TRAINING_FLAGS)."""
    flags.DEFINE_bool("quick", False, "Smoke configuration (see the module doc).", flag_values=fv)
    flags.DEFINE_enum(
        "device",
        "host",
        list(DEVICES),
        "Whose latency the searches optimise and every model is placed by: host (this "
        "machine's measured LiteRT table; kernels 3 and 5) or tda2x (the tda2x profile's "
        "predicted TIDL latency of each model's Keras graph, nothing timed; kernels 3, 5 and 7, "
        "so the fixed children add all_7x7).",
        flag_values=fv,
    )
    flags.DEFINE_string(
        "dataset", "fashion_mnist", "Dataset name from ednas_tf.data.", flag_values=fv
    )
    flags.DEFINE_string(
        "data_dir", None, "Where the dataset lies (default: its registry location).", flag_values=fv
    )
    flags.DEFINE_integer("image_size", 32, "Input side in pixels for every model.", flag_values=fv)
    flags.DEFINE_string(
        "target_fractions",
        None,
        "Targets as fractions of the space's latency range on --device (default 0.2,0.5,0.8).",
        flag_values=fv,
    )
    flags.DEFINE_float("width", 0.5, "Width of the search space.", flag_values=fv)
    flags.DEFINE_enum(
        "space",
        "small",
        list(BENCH_SPACES),
        "Search-space preset (small_hires: stage 2 at full resolution). The targets and the "
        "fixed children (all_3x3, ...) are those of this space.",
        flag_values=fv,
    )
    flags.DEFINE_integer(
        "limit", None, "Training images (default all; quick: 3000).", flag_values=fv
    )
    flags.DEFINE_integer(
        "num_test", None, "Test images (default all; quick: 1000).", flag_values=fv
    )
    flags.DEFINE_integer("num_calibration", 200, "Images for int8 calibration.", flag_values=fv)
    flags.DEFINE_integer("epochs", None, "Training epochs (default 10; quick: 2).", flag_values=fv)
    flags.DEFINE_integer(
        "steps_per_epoch",
        None,
        "Training steps per epoch (default one pass; quick: 40).",
        flag_values=fv,
    )
    flags.DEFINE_integer("seed", 0, "Seed for data splits, search and training.", flag_values=fv)
    flags.DEFINE_string(
        "seeds",
        None,
        "Training seeds, comma-separated (default: --seed). Every model is trained once per "
        "seed and compared on its mean test accuracy; int8 accuracy and latency come from the "
        "first seed's model. The search runs once, with --seed.",
        flag_values=fv,
    )


def _define_search_space_flags(fv: flags.FlagValues) -> None:
    """What the searches may choose (SEARCH_FLAGS)."""
    flags.DEFINE_string(
        "stage_widths",
        "",
        "Also search each stage's channels, as multipliers of them (e.g. 0.75,1.25; the "
        "searched models are then named ednas_w_t...). Targets and the fixed children stay "
        "those of the space without width search, so runs with and without compare.",
        flag_values=fv,
    )
    flags.DEFINE_string(
        "kernels",
        "",
        "Depthwise kernel sizes the searches (and the tuner) offer, e.g. 3 (default: every "
        "size --device runs: 3 and 5 on host, 3, 5 and 7 on tda2x; one size: no kernel search "
        "and no step 1). The fixed children stay those of the default space.",
        flag_values=fv,
    )
    flags.DEFINE_integer(
        "search_epochs", None, "Search epochs (default 5; quick: 2).", flag_values=fv
    )
    flags.DEFINE_integer(
        "search_steps_per_epoch",
        None,
        "Search steps per epoch (default 120; quick: 30).",
        flag_values=fv,
    )
    flags.DEFINE_enum(
        "steps", None, ["1", "2", "both"], "Search steps (default both; quick: 2).", flag_values=fv
    )


def _define_search_loop_flags(fv: flags.FlagValues) -> None:
    """How the searches run (SEARCH_FLAGS)."""
    flags.DEFINE_float(
        "arch_lr",
        SearchConfig.arch_lr,
        f"Learning rate of the architecture logits (default {SearchConfig.arch_lr:g}); a short "
        "search warns when arch steps x arch_lr is too small for its gates to commit.",
        flag_values=fv,
    )
    flags.DEFINE_float(
        "stop_when_committed",
        SearchConfig.stop_when_committed,
        "A search step ends after an architecture epoch at which every gate puts at least this "
        f"on the option it led with an epoch before (default "
        f"{SearchConfig.stop_when_committed:g}; 0: every epoch runs).",
        flag_values=fv,
    )
    flags.DEFINE_enum(
        "temperature_schedule",
        None,
        ["exponential", "linear"],
        "Gumbel temperature over the architecture epochs: FBNet's exponential (default; "
        "5.0 x exp(-0.045 epoch), so a short search stays near 5) or GDAS' linear from "
        "--temperature_init to --temperature_final on the last architecture epoch.",
        flag_values=fv,
    )
    flags.DEFINE_float(
        "temperature_init",
        None,
        "First architecture epoch's temperature (default 5 exponential, 10 linear).",
        flag_values=fv,
    )
    flags.DEFINE_float(
        "temperature_final",
        None,
        "Last architecture epoch's temperature, linear schedule only (default 0.1).",
        flag_values=fv,
    )
    flags.DEFINE_enum(
        "objective",
        None,
        ["target", "budget"],
        "Architecture loss of the searches: target, CE + 0.5 |LAT/T - 1| (default; pulls each "
        "search onto its target), or budget, CE + 0.5 max(0, LAT/T - 1) (latency costs only "
        "above the target and the child is derived at or below it; the searched models are "
        "then named ednas_budget_t...).",
        flag_values=fv,
    )
    flags.DEFINE_enum(
        "gate_mode",
        None,
        ["soft", "hard"],
        "Supernet gates during the search: soft Gumbel-softmax mixtures (default) or hard "
        "one-hot samples with straight-through gradients (one sampled child per step).",
        flag_values=fv,
    )


def _define_probe_and_tuner_flags(fv: flags.FlagValues) -> None:
    """How a search picks its child, and the keras-tuner baseline (SEARCH_FLAGS)."""
    flags.DEFINE_integer(
        "probe_candidates",
        0,
        "Score this many of the most probable fitted children that meet each target on the "
        "supernet's weights and keep the most accurate (ednas_tf/search/probe.py; default 0: "
        "the most probable, unscored; one fitted child per width assignment with "
        "--stage_widths, then the children one block decision away); the probes count as "
        "search time.",
        flag_values=fv,
    )
    flags.DEFINE_enum(
        "probe_mode",
        None,
        ["supernet", "finetune"],
        "How --probe_candidates scores a child: supernet (its pinned path, untrained; default) "
        "or finetune (the child from the supernet's weights, trained --probe_steps steps on "
        "its own).",
        flag_values=fv,
    )
    flags.DEFINE_integer(
        "probe_steps",
        None,
        "Training steps of each probed child with --probe_mode=finetune (default 200).",
        flag_values=fv,
    )
    flags.DEFINE_integer(
        "tuner_trials", None, "Tuner max trials (default 100; quick: 2).", flag_values=fv
    )
    flags.DEFINE_integer("tuner_epochs", 1, "Epochs per tuner trial.", flag_values=fv)


def _define_run_flags(fv: flags.FlagValues) -> None:
    """Which models run and where (not what they measure)."""
    flags.DEFINE_string(
        "baselines",
        None,
        "Comma-separated baseline names to run, in that order (default: all, cheapest first; "
        "quick: 3); 'none' runs only the searches, e.g. to compare search settings against an "
        "earlier run's baselines.",
        flag_values=fv,
    )
    flags.DEFINE_string(
        "baselines_from",
        "",
        "Comma-separated results files of earlier bench/pareto.py runs (e.g. "
        "bench/results/pareto_fmnist.json) whose baselines join this run's verdict, table and "
        "plot without training again; they must have been trained with this run's data and "
        "training flags and timed as its host table is (else the bench stops and says what "
        "differs). Their space may differ: a fixed child of another space is renamed with it "
        "(all_3x3_small); a baseline this run trains itself wins over an imported one.",
        flag_values=fv,
    )
    flags.DEFINE_bool("no_tuner", False, "Skip the keras-tuner baseline.", flag_values=fv)
    flags.DEFINE_enum(
        "tuner_at",
        "middle",
        ["middle", "every"],
        "Run keras-tuner at the middle latency target only (default) or at every target, each "
        "with the E-DNAS search's wall-clock budget at that target.",
        flag_values=fv,
    )
    flags.DEFINE_string("output_dir", "runs/pareto", "Scratch for the runs.", flag_values=fv)
    flags.DEFINE_bool(
        "resume",
        False,
        "Continue the run in --output_dir: models its partial.json records as finished are "
        "reused, not run again, provided every flag that changes figures is as it was (else "
        "the bench stops and names the flags that differ); failed models run again. Host "
        "latencies are timed against a speed yardstick, so figures from the earlier process "
        "compare with the new ones. Without it, an earlier run's partial.json and flags.json "
        "are moved to *.previous.json.",
        flag_values=fv,
    )
    cli.define_results_name(fv, NAME)  # .json and .png


def define_flags(fv: flags.FlagValues) -> None:
    """Every flag of bench/pareto.py, in `fv`."""
    _define_data_flags(fv)
    _define_search_space_flags(fv)
    _define_search_loop_flags(fv)
    _define_probe_and_tuner_flags(fv)
    _define_run_flags(fv)


def _check_search_flags(args: SimpleNamespace) -> None:
    """The search settings' own checks, before hours of baselines rather than at the search."""
    if args.temperature_final is not None and args.temperature_schedule != "linear":
        cli.error("--temperature_final needs --temperature_schedule=linear")
    try:
        make_schedule(
            args.temperature_schedule or "exponential",
            args.temperature_init,
            final=args.temperature_final,
        )
    except ValueError as err:
        cli.error(str(err))
    if args.probe_candidates < 0:
        cli.error(f"--probe_candidates must be >= 0, got {args.probe_candidates}")
    if args.probe_steps is not None and args.probe_steps < 1:
        cli.error(f"--probe_steps must be >= 1, got {args.probe_steps}")


def finish(fv: flags.FlagValues, args: SimpleNamespace) -> SimpleNamespace:
    """The parsed flags `args` checked, with the lists derived from them (seed_list,
    stage_width_list, kernel_list) and the quick or full defaults of the flags left unset."""
    args.seed_list = cli.seed_list(args)
    _check_search_flags(args)
    if args.device != "host" and args.baselines_from:
        cli.error("--baselines_from needs --device=host (it checks the host table's timing)")
    args.stage_width_list = cli.comma_separated(fv, "stage_widths", float)
    args.kernel_list = cli.comma_separated(fv, "kernels", int)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args
