"""Report of a run directory: report.md and a self-contained report.html, plus gates.png and
curves.png beside them.

Renders whatever the run holds — search (arch.json, gates.csv, history.json, per step or not),
tuner (trials.csv), training (train_metrics.json), QAT (qat_metrics.json), export and TIDL reports —
and says what is missing instead of failing, so it can run after any stage. A folder that is not a
run is refused (exit 2) and nothing is written into it. It needs no TensorFlow. The library is
`ednas_tf.reporting`; this is its command line.

Example:
  ednas-report --run_dir=runs/demo
"""

from __future__ import annotations

from pathlib import Path

from absl import flags

from ednas_tf.reporting.report import build_report
from ednas_tf.rundir import existing_dir, writable_dir
from pipelines.stage import console_script, stage_main

FLAGS = flags.FLAGS
flags.DEFINE_string("run_dir", None, "Output directory of a search / tune / train / export run.")
flags.DEFINE_string("output_dir", None, "Where the report goes (default: --run_dir).")
flags.DEFINE_integer(
    "max_trials_shown", 15, "Best tuner trials listed from trials.csv.", lower_bound=0
)


def _check_flags() -> Path | None:
    """Refusals before any work; the run directory when the report goes into it (locked then)."""
    run_dir = existing_dir(FLAGS.run_dir, "run_dir", "the folder a stage wrote")
    if FLAGS.output_dir and Path(FLAGS.output_dir).resolve() != run_dir.resolve():
        writable_dir(FLAGS.output_dir, "output_dir")
        return None
    writable_dir(run_dir, "run_dir")
    return run_dir


def _report() -> int:
    written = build_report(FLAGS.run_dir, FLAGS.output_dir, FLAGS.max_trials_shown)
    print("report: " + ", ".join(str(p) for p in written.values()), flush=True)
    return 0


main = stage_main(_report, "report", writes=_check_flags)
run = console_script(main)


if __name__ == "__main__":
    run()
