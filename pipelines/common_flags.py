"""Flags shared by the pipelines that pick data and a search space (search, tune; build-lut takes
`--stage_widths` and `--activation` too).

Defined once so `--dataset`, `--space`, `--device` ... mean the same thing, with the same help text,
in every tool. They are registered under the entry-point script (`sys.argv[0]`, what absl calls
the main module) so that `--help` lists them with the script's own flags.
"""

from __future__ import annotations

import sys

from absl import flags

from ednas_tf.arch import ACTIVATIONS
from ednas_tf.data import available as available_datasets
from ednas_tf.data import load_splits
from ednas_tf.data.augment import DEFAULT_POLICY
from ednas_tf.data.groups import NO_RULE
from ednas_tf.limits import DeviceLimits
from ednas_tf.presets import DEFAULT_KERNELS, PRESET_STAGES, preset_space
from ednas_tf.profiles import available_profiles, get_profile
from ednas_tf.rundir import absolute_data_dir
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
MIN_IMAGE_SIZE = 8  # the smallest space (tiny) halves its input three times


def define_data_flags(val_help: str) -> None:
    main = {"module_name": sys.argv[0]}
    flags.DEFINE_string(
        "dataset",
        "fashion_mnist",
        f"Dataset: one of {available_datasets()} (or tfds:<name>).",
        **main,
    )
    flags.DEFINE_string(
        "data_dir",
        None,
        "Where the dataset lives (folder, .npz file or TFDS dir); default: its usual places.",
        **main,
    )
    flags.DEFINE_integer(
        "image_size",
        None,
        "Resize images to SIZE x SIZE (default: native).",
        lower_bound=MIN_IMAGE_SIZE,
        **main,
    )
    flags.DEFINE_integer(
        "limit",
        None,
        "Use at most this many training (and test) examples.",
        lower_bound=1,
        **main,
    )
    flags.DEFINE_float("val_fraction", 0.1, val_help, lower_bound=0.0, upper_bound=0.9, **main)
    define_check_flags()
    recorded = "Recorded in the run; the later stages use it too."
    define_augment_flag(DEFAULT_POLICY, recorded)
    define_holdout_flag(NO_RULE, recorded)


def define_stage_widths_flag(kwargs: dict | None = None) -> None:
    flags.DEFINE_list(
        "stage_widths",
        [],
        "Search each stage's output channels too: multipliers of its channels, e.g. "
        "0.75,1.25 (1 is always added; step 1 searches at 1). Empty: channels are fixed.",
        **(kwargs or {}),
    )


def _list_flag(name: str, convert: type, kind: str) -> tuple:
    """A list flag's entries converted (ValueError naming the flag on a bad entry)."""
    values = FLAGS[name].value
    try:
        return tuple(convert(v) for v in values)
    except ValueError:
        raise ValueError(f"--{name} must be {kind}, got {values}") from None


def stage_widths() -> tuple[float, ...]:
    """--stage_widths as numbers."""
    return _list_flag("stage_widths", float, "numbers")


def kernels() -> tuple[int, ...]:
    """--kernels as integers."""
    return _list_flag("kernels", int, "integers")


def define_activation_flag(what: str) -> None:
    """--activation, whose default is the device's (`DeviceLimits.default_activation`)."""
    flags.DEFINE_enum(
        "activation",
        None,
        list(ACTIVATIONS),
        f"{what}. Default: the device's: relu for tda2x, macs and tables with their rules "
        "(every file the export writes then imports into TIDL; ReLU6 exports to ONNX as Clip, "
        "which TDA2x's ONNX import lacks, so a relu6 network imports only as model.pb), relu6 "
        "for host.",
        module_name=sys.argv[0],
    )


def activation(profile: DeviceLimits) -> str:
    """--activation, else the device's default."""
    return FLAGS.activation or profile.default_activation


def define_space_flags() -> None:
    main = {"module_name": sys.argv[0]}
    flags.DEFINE_enum(
        "space",
        "small",
        sorted(PRESET_STAGES),
        "Search-space preset: tiny (tests), small (28-64 px inputs), small_hires (small with "
        "stage 2 at full resolution: more accurate, ~3x the host latency), imagenet (224 px), "
        "imagenet_paper (224 px, children of the E-DNAS paper's size; docs/PAPER_SETTING.md).",
        **main,
    )
    flags.DEFINE_float(
        "width", 1.0, "Channel width multiplier of the space.", lower_bound=0.01, **main
    )
    flags.DEFINE_list(
        "kernels",
        [str(k) for k in DEFAULT_KERNELS],
        "Depthwise kernel sizes every block offers (odd); the device profile drops those it "
        "cannot run (host: 7). One size: kernels are not searched and there is no step 1.",
        **main,
    )
    define_stage_widths_flag(main)
    flags.DEFINE_string(
        "device",
        "tda2x",
        f"Device profile: one of {available_profiles()}; it restricts the space "
        "and provides the latency model.",
        **main,
    )
    define_activation_flag("Activation of every layer")
    flags.DEFINE_bool("search_skip", True, "Let blocks that keep their shape be skipped.", **main)


def check_data_and_space_flags() -> None:
    """The data and space flags that can be refused before the data loads (ValueError)."""
    get_profile(FLAGS.device)  # an unknown device or an unreadable lookup table
    input_options()
    check_holdout_flag()
    kernels()
    stage_widths()


def load_data_and_space(arch_fraction: float, batch_size: int | None = None):
    """Reads the data flags and space flags: (splits, profile, space), with the data line printed.

    batch_size: the stage's; the train split (and the arch split, when arch_fraction > 0) must
    hold one. Raises DatasetError / ValueError (unknown profile, unreadable lookup table, bad
    sizes, data that fails its checks) for the caller to turn into a one-line error message."""
    profile = get_profile(FLAGS.device)  # first: a bad --device fails before the data loads
    splits = load_splits(
        FLAGS.dataset,
        data_dir=FLAGS.data_dir,
        image_size=FLAGS.image_size,
        arch_fraction=arch_fraction,
        val_fraction=FLAGS.val_fraction,
        limit=FLAGS.limit,
        seed=FLAGS.seed,
        checks=data_checks(batch_size, ("train", "arch") if arch_fraction > 0 else ("train",)),
        augment=FLAGS.augment,
        options=input_options(),
        holdout_groups=FLAGS.holdout_groups,
    )
    print_data_note(splits)
    print(
        f"data: {splits.name} {splits.input_shape}, {splits.num_classes} classes, "
        f"splits {splits.sizes}",
        flush=True,
    )
    space = preset_space(
        FLAGS.space,
        input_shape=splits.input_shape,
        num_classes=splits.num_classes,
        profile=profile,
        width=FLAGS.width,
        kernels=kernels(),
        search_skip=FLAGS.search_skip,
        activation=activation(profile),
        stage_widths=stage_widths(),
    )
    return splits, profile, space


def recorded_facts(splits, profile) -> dict:
    """What run.json records of a search (or tuner) run for the stages after it."""
    return {
        "dataset": FLAGS.dataset,
        "data_dir": absolute_data_dir(FLAGS.data_dir),
        "image_size": int(splits.input_shape[0]),
        "input_shape": list(splits.input_shape),
        "num_classes": int(splits.num_classes),
        "limit": FLAGS.limit,
        "seed": FLAGS.seed,
        "device": profile.name,
        "space": FLAGS.space,
        "width": FLAGS.width,
        "stage_widths": list(FLAGS.stage_widths),
        "activation": activation(profile),
        "augment": FLAGS.augment,
        "holdout_groups": FLAGS.holdout_groups,
        **input_facts(),
    }
