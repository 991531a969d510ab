"""The report of a run directory: report.md, a self-contained report.html, gates.png, curves.png.

Renders whatever the run holds (search, tuner, training, QAT, export and TIDL outputs, per search
step or not) and says what is missing instead of failing, so it can run after any stage. A folder
no stage has written to is refused before anything is written into it. Needs no TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

from ednas_tf import rundir
from ednas_tf.io_utils import atomic_write_bytes, atomic_write_text
from ednas_tf.reporting import sections as sec
from ednas_tf.reporting.document import Section, figures
from ednas_tf.reporting.html import render_html
from ednas_tf.reporting.markdown import render_markdown
from ednas_tf.reporting.run_files import RunFiles, search_histories


def read_run(run_dir: str | Path, output_dir: str | Path | None = None) -> RunFiles:
    """The run's files, less the report's own outputs; refuses a folder that is not a run.

    Raises FileNotFoundError for a missing folder and RunDirError for one no stage wrote to."""
    root = Path(run_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"run directory {root} does not exist")
    output = Path(output_dir) if output_dir else root
    run = RunFiles(root, [output / name for name in rundir.REPORT_FILES])
    if not run.is_run():
        raise rundir.RunDirError(
            f"{root} is not a run directory (no {rundir.ARCH_FILE}, {rundir.FACTS_FILE} or other "
            "stage output in it or below)"
        )
    return run


def report_sections(run: RunFiles, max_trials_shown: int = 15) -> list[Section]:
    """The report's sections, in reading order: the child first, the file list last."""
    arch_path, arch = run.first_json(rundir.ARCH_FILE)
    histories = search_histories(run, arch)
    train, train_metrics = sec.train_section(run)
    parts = [
        sec.architecture_section(run, arch_path, arch),
        sec.trials_section(run, max_trials_shown),
        sec.search_section(run, histories),
        sec.curves_section(histories, train_metrics),
        train,
        sec.qat_section(run),
        sec.export_section(run),
        sec.tidl_section(run),
        sec.problems_section(run),  # after every reader has had its say
        sec.files_section(run),
    ]
    return [part for part in parts if part is not None]


def build_report(
    run_dir: str | Path, output_dir: str | Path | None = None, max_trials_shown: int = 15
) -> dict[str, Path]:
    """Writes report.md, report.html and the PNGs; returns their paths by file name."""
    run = read_run(run_dir, output_dir)
    content = report_sections(run, max_trials_shown)
    output = Path(output_dir) if output_dir else run.root
    output.mkdir(parents=True, exist_ok=True)
    written = {f.filename: atomic_write_bytes(output / f.filename, f.png) for f in figures(content)}
    title = f"ednas_tf run report: {run.root.resolve().name}"
    written["report.md"] = atomic_write_text(output / "report.md", render_markdown(title, content))
    written["report.html"] = atomic_write_text(output / "report.html", render_html(title, content))
    return written
