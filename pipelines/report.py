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

from absl import flags

from ednas_tf.reporting.report import build_report
from pipelines.stage import console_script, stage_main

FLAGS = flags.FLAGS
flags.DEFINE_string("run_dir", None, "Output directory of a search / tune / train / export run.")
flags.DEFINE_string("output_dir", None, "Where the report goes (default: --run_dir).")
flags.DEFINE_integer("max_trials_shown", 15, "Best tuner trials listed from trials.csv.")


def _report() -> int:
    if not FLAGS.run_dir:
        raise ValueError("--run_dir is required")
    written = build_report(FLAGS.run_dir, FLAGS.output_dir, FLAGS.max_trials_shown)
    print("report: " + ", ".join(str(p) for p in written.values()), flush=True)
    return 0


main = stage_main(_report)
run = console_script(_report)


if __name__ == "__main__":
    run()
