"""The data flags every stage that loads data shares: how it checks the data first
(`--verify_images`, `--strict_data`), how the tf.data pipeline runs (`--data_threads`,
`--data_cache`), the augmentation policy (`--augment`) and which images a hold-out keeps
together (`--holdout_groups`).

Shared by the search and tuner (`common_flags.define_data_flags`) and the stages after them
(`run_flags.define_run_flags`), so the flags mean the same everywhere; what the checks are is
`ednas_tf.data.checks`, the policies `ednas_tf.data.augment`, the pipeline `ednas_tf.data.plan`.
The policy and the group rule are facts of the run (recorded by the search, inherited by train,
qat and export: a later stage must hold out the images the search held out); threads and cache
only change speed and memory, never the batches.
"""

from __future__ import annotations

import sys

from absl import flags

from ednas_tf.data import DataSplits
from ednas_tf.data.augment import POLICIES
from ednas_tf.data.checks import FULL_DECODE_LIMIT, VERIFY_MODES, DataChecks, describe_skipped
from ednas_tf.data.groups import EXAMPLE_PATTERN, FOLDER_RULE, NO_RULE, parse_rule
from ednas_tf.data.plan import InputOptions, check_cache

FLAGS = flags.FLAGS


def define_check_flags() -> None:
    """--verify_images and --strict_data, registered under the entry-point script."""
    main = {"module_name": sys.argv[0]}
    flags.DEFINE_enum(
        "verify_images",
        "auto",
        list(VERIFY_MODES),
        "How image files are checked before the first step: full (decode every file), header "
        f"(size, magic bytes and trailer), none; auto: full below {FULL_DECODE_LIMIT:,} files, "
        "else header.",
        **main,
    )
    flags.DEFINE_bool(
        "strict_data",
        False,
        "Refuse unreadable, zero-byte, non-image and hidden files instead of skipping them.",
        **main,
    )
    flags.DEFINE_integer(
        "data_threads",
        None,
        "Threads of the tf.data input pipeline (reading, decoding, augmenting in parallel); "
        "default: one per core.",
        lower_bound=1,
        **main,
    )
    flags.DEFINE_string(
        "data_cache",
        "none",
        "Cache of the records each split reads (file bytes, not decoded images), filled by the "
        "first pass: none, memory, or an existing folder (one cache file per split there).",
        **main,
    )


def define_augment_flag(default: str | None, inherit: str = "") -> None:
    """--augment: the policy of training images (`ednas_tf.data.augment`); None: inherit."""
    flags.DEFINE_enum(
        "augment",
        default,
        list(POLICIES),
        "Augmentation of training images: none; crop (pad by 1/8 and crop back at random); "
        "flip_crop (crop plus a random left-right flip: the small-image recipe); inception "
        "(random-resized crop of 8-100 % of the area plus a flip, the ImageNet recipe; its "
        "evaluation view is the central 87.5 % at 128 px and above). " + inherit,
        module_name=sys.argv[0],
    )


def define_holdout_flag(default: str | None, inherit: str = "") -> None:
    """--holdout_groups: which training images a hold-out keeps together
    (`ednas_tf.data.groups`); None: inherit."""
    flags.DEFINE_string(
        "holdout_groups",
        default,
        f"Keep groups of training images on one side of every hold-out drawn from them: "
        f"{NO_RULE}; {FOLDER_RULE} (a group per sub-folder of a class folder); or a regular "
        f"expression whose first capture group, found in the file name, names the group (e.g. "
        f"'{EXAMPLE_PATTERN}' for track-numbered frames 00012_00003.png); a file it does not "
        "match is a group of its own. " + inherit,
        module_name=sys.argv[0],
    )


def check_holdout_flag() -> None:
    """A --holdout_groups pattern that does not compile or captures nothing (ValueError)."""
    parse_rule(FLAGS.holdout_groups)


def input_options() -> InputOptions:
    """The pipeline settings the flags ask for (ValueError on a --data_cache that is no folder)."""
    try:
        cache = check_cache(FLAGS.data_cache)
    except ValueError as err:
        raise ValueError(f"--data_cache: {err}") from None
    return InputOptions(threads=FLAGS.data_threads, cache=cache)


def input_facts() -> dict:
    """The pipeline settings, for the stage's entry of run.json (not inherited)."""
    return {"data_threads": FLAGS.data_threads, "data_cache": FLAGS.data_cache}


def data_checks(
    batch_size: int | None = None, drop_remainder_splits: tuple[str, ...] = ("train",)
) -> DataChecks:
    """The checks the flags ask for; `batch_size`: the stage's (those splits must hold one)."""
    return DataChecks(
        verify_images=FLAGS.verify_images,
        strict=FLAGS.strict_data,
        batch_size=batch_size,
        drop_remainder_splits=drop_remainder_splits,
    )


def print_data_note(splits: DataSplits) -> None:
    """The skipped files, the hold-out groups and a warning of near-copies across a hold-out,
    if any, one line each."""
    for note in [describe_skipped(splits.skipped), *splits.notes]:
        if note:
            print(note, flush=True)
