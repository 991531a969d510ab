"""ednas_tf.reporting's parts on their own: the document renderers and the run-directory check.

The whole report on a real search run is tests/test_report.py; these need no search and no
TensorFlow.
"""

import json

import pytest

from ednas_tf.reporting.document import Code, Figure, Section, Table, Text, cell
from ednas_tf.reporting.html import render_html
from ednas_tf.reporting.markdown import render_markdown
from ednas_tf.reporting.report import build_report, read_run
from ednas_tf.reporting.run_files import RunFiles, gate_rows, natural_key, search_histories
from ednas_tf.rundir import REPORT_FILES, RunDirError
from tests.cli import run_cli

DOC = [
    Section("One", [Text("a <b> & c"), Code("x = 1"), Table(["k", "v"], [["p|q", 0.123456]])]),
    Section("Two", [Figure("f.png", b"\x89PNG-bytes", "a figure"), Table(["x"], [[None]])]),
]


def test_cell_formats():
    assert [cell(v) for v in (None, True, False, 0.123456, float("nan"), 7)] == [
        "-",
        "yes",
        "no",
        "0.1235",
        "-",
        "7",
    ]
    assert cell({"a": [1, 2]}) == '{"a":[1,2]}'


def test_markdown_and_html_render_the_same_content():
    md = render_markdown("T", DOC)
    assert md.startswith("# T\n\n## One\n")
    assert "| p\\|q | 0.1235 |" in md and "```\nx = 1\n```" in md
    assert "![a figure](f.png)" in md and "| - |" in md
    page = render_html("T", DOC)
    assert "<p>a &lt;b&gt; &amp; c</p>" in page and "<pre>x = 1</pre>" in page
    assert "<td>p|q</td><td>0.1235</td>" in page
    assert 'src="data:image/png;base64,iVBORy1ieXRlcw=="' in page  # embedded, not linked


def test_read_run_refuses_a_folder_no_stage_wrote_to(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_run(tmp_path / "nope")
    for name in REPORT_FILES:  # a report's own outputs do not make a run
        (tmp_path / name).write_text("old")
    with pytest.raises(RunDirError, match="is not a run directory"):
        build_report(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(REPORT_FILES)


def test_a_search_in_progress_is_a_run(tmp_path):
    """No arch.json yet, but a step's history: the report says so rather than refusing."""
    (tmp_path / "step1").mkdir()
    (tmp_path / "step1" / "history.json").write_text(json.dumps([{"epoch": 1, "loss": 2.0}]))
    run = read_run(tmp_path)
    assert search_histories(run, None) == {1: [{"epoch": 1, "loss": 2.0}]}
    assert gate_rows(run) == []


def test_run_files_reads_leniently(tmp_path):
    (tmp_path / "arch.json").write_text("{truncated")
    (tmp_path / "gates.csv").write_text("step,epoch,block,choice,option,prob\n1,1,b1,kernel,3,x\n,")
    run = RunFiles(tmp_path)
    assert run.first_json("arch.json") == (tmp_path / "arch.json", None)
    assert len(gate_rows(run)) == 1
    assert run.notes[0].startswith("could not read arch.json")
    assert run.notes[1] == "gates.csv: skipped malformed rows"
    assert sorted(["s2b10", "s2b9", "s10b1"], key=natural_key) == ["s2b9", "s2b10", "s10b1"]


def test_the_report_needs_no_tensorflow_and_no_display():
    code = (
        "import sys, ednas_tf.reporting.report, matplotlib; "
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'; "
        "print(matplotlib.get_backend())"
    )
    result = run_cli(["-c", code], timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().lower() == "agg"
