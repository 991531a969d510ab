"""Print the summary table of a run directory (search → train → qat → export outputs).

The library is `ednas_tf.reporting.summary`; this is its command line.

Example:
  ednas-summary --run_dir=runs/demo
"""

from __future__ import annotations

import json

from absl import flags

from ednas_tf.reporting.summary import collect, format_table
from ednas_tf.rundir import existing_dir
from pipelines.stage import console_script, stage_main

FLAGS = flags.FLAGS
flags.DEFINE_string(
    "run_dir",
    None,
    "Output directory of pipelines/search.py (with train/, "
    "train/qat/, export/ from the later stages when they ran).",
)
flags.DEFINE_bool("json", False, "Print the summary as JSON instead of a table.")
flags.mark_flag_as_required("run_dir")


def _check_flags() -> None:
    """--run_dir exists (the summary only reads it: nothing is locked)."""
    existing_dir(FLAGS.run_dir, "run_dir", "the folder ednas-search wrote")


def _summary() -> int:
    summary = collect(FLAGS.run_dir)
    print(json.dumps(summary, indent=2) if FLAGS.json else format_table(summary))
    return 0


main = stage_main(_summary, "summary", writes=_check_flags)
run = console_script(main)


if __name__ == "__main__":
    run()
