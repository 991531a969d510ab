"""`--verify_images` and `--strict_data`: how every stage that loads data checks it first.

Shared by the search and tuner (`common_flags.define_data_flags`) and the stages after them
(`run_flags.define_run_flags`), so the flags mean the same everywhere; what the checks are is
`ednas_tf.data.checks`.
"""

from __future__ import annotations

import sys

from absl import flags

from ednas_tf.data import DataSplits
from ednas_tf.data.checks import FULL_DECODE_LIMIT, VERIFY_MODES, DataChecks, describe_skipped

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
    """The skipped files, if any, as one line of the log."""
    note = describe_skipped(splits.skipped)
    if note:
        print(note, flush=True)
