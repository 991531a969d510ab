"""Flags and facts of the stages that follow the search (train, qat, export).

They take `--run_dir` and inherit the facts the run recorded (`ednas_tf.rundir`): the dataset, where
it lives, the example limit, the seed, the augmentation policy, the hold-out group rule and the
device. A flag given on the
command line overrides the recorded fact and is recorded in turn; a different `--dataset`, or data
whose class count or image size is not the network's, is a one-line error rather than a silent
mismatch.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from absl import flags

from ednas_tf.arch import ArchSpec
from ednas_tf.data import DataSplits, load_splits
from ednas_tf.data.augment import DEFAULT_POLICY
from ednas_tf.data.groups import NO_RULE
from ednas_tf.rundir import (
    RunDir,
    RunDirError,
    absolute_data_dir,
    check_data_matches,
    existing_dir,
    resolve_facts,
    writable_dir,
)
from pipelines.data_flags import (
    check_holdout_flag,
    data_checks,
    define_augment_flag,
    define_check_flags,
    define_holdout_flag,
    input_facts,
    input_options,
    print_data_note,
)

FLAGS = flags.FLAGS
# A stage's own default for a fact no earlier stage recorded (e.g. an arch.json written by hand).
DATA_DEFAULTS: dict[str, Any] = {
    "dataset": "fashion_mnist",
    "data_dir": None,
    "limit": None,
    "seed": 0,
    "augment": DEFAULT_POLICY,
    "holdout_groups": NO_RULE,
}
CONTRADICTIONS = ("dataset",)  # facts a later stage may not change: the network was searched for it


def define_run_flags(run_help: str) -> None:
    """`--run_dir` and the data flags that override what the run recorded (default: inherit)."""
    main = {"module_name": sys.argv[0]}
    flags.DEFINE_string("run_dir", None, run_help, **main)
    inherit = "Default: what the run recorded (run.json), else {}."
    flags.DEFINE_string(
        "dataset", None, "Dataset name. " + inherit.format(DATA_DEFAULTS["dataset"]), **main
    )
    flags.DEFINE_string(
        "data_dir",
        None,
        "Where the dataset lives, when it has moved since the search. "
        + inherit.format("its usual places"),
        **main,
    )
    flags.DEFINE_integer(
        "limit",
        None,
        "Use at most this many training (and test) examples. " + inherit.format("all"),
        lower_bound=1,
        **main,
    )
    flags.DEFINE_integer(
        "seed",
        None,
        "Seed of the data split and initialisation. " + inherit.format(0),
        lower_bound=0,
        **main,
    )
    define_check_flags()
    define_augment_flag(None, inherit.format(DEFAULT_POLICY))
    define_holdout_flag(None, inherit.format(NO_RULE))


def check_run_paths() -> Path:
    """--run_dir (an existing folder) and --output_dir (a folder that can be written) checked
    before any work; the run directory, which the stage locks while it writes it."""
    run_dir = existing_dir(FLAGS.run_dir, "run_dir", "the folder ednas-search wrote")
    input_options()  # a --data_cache that is no folder, before any work
    check_holdout_flag()
    if FLAGS.output_dir:
        writable_dir(FLAGS.output_dir, "output_dir")
    return run_dir


def given_on_command_line(names) -> dict[str, Any]:
    """The flags among `names` the user gave (on the command line or in a --flagfile)."""
    return {name: FLAGS[name].value for name in names if FLAGS[name].present}


def stage_facts(run: RunDir, defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """The facts this stage uses: given flags, else the run's record, else `defaults`.

    Prints one line per overridden fact, so a log shows what differs from the search."""
    defaults = {**DATA_DEFAULTS, **(defaults or {})}
    inherited = run.carried()
    given = given_on_command_line(defaults)
    if "data_dir" in given:
        given["data_dir"] = absolute_data_dir(given["data_dir"])
    for name in CONTRADICTIONS:
        if name in given and name in inherited and given[name] != inherited[name]:
            raise RunDirError(
                f"--{name}={given[name]} contradicts the run, which was searched on "
                f"{name} {inherited[name]} ({run.facts_file}); search again to use another"
            )
    facts, overridden = resolve_facts(inherited, given, defaults)
    for name in overridden:
        print(f"note: --{name}={facts[name]} overrides the run's {inherited[name]}", flush=True)
    facts["overridden"] = overridden
    return facts


def load_stage_data(
    facts: dict[str, Any], arch: ArchSpec, what: str, batch_size: int | None = None, **kwargs
) -> DataSplits:
    """The data a stage trains or checks `arch` on, refused when it is not the network's data
    or fails its checks (`--verify_images`, `--strict_data`; a train split of at least one
    `batch_size`)."""
    splits = load_splits(
        facts["dataset"],
        data_dir=facts["data_dir"],
        image_size=arch.input_shape[0],
        arch_fraction=0.0,
        limit=facts["limit"],
        seed=facts["seed"],
        checks=data_checks(batch_size),
        augment=facts["augment"],
        options=input_options(),
        holdout_groups=facts["holdout_groups"],
        **kwargs,
    )
    print_data_note(splits)
    check_data_matches(
        what, arch.input_shape, arch.num_classes, splits.input_shape, splits.num_classes
    )
    return splits


def record_stage(run: RunDir, stage: str, facts: dict[str, Any], arch: ArchSpec, **more) -> None:
    """What this stage used, for the stages after it and for the summary."""
    run.record(
        stage,
        {
            **facts,
            "image_size": int(arch.input_shape[0]),
            "input_shape": list(arch.input_shape),
            "num_classes": int(arch.num_classes),
            **input_facts(),
            **more,
        },
    )
