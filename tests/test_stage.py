"""What every entry point does around its stage (pipelines/stage.py): errors, bugs, interrupts."""

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from absl import flags

from pipelines.stage import Terminated, stage_main
from tests.cli import ROOT


def _raise(err):
    def stage():
        raise err

    return stage


def test_an_anticipated_failure_is_one_line(capsys):
    assert stage_main(_raise(FileNotFoundError("x.npz not found")), "t")(["prog"]) == 2
    assert capsys.readouterr().err == "error: x.npz not found\n"


def test_an_unexpected_failure_is_one_line_and_a_log_in_the_run(tmp_path, capsys):
    main = stage_main(_raise(RuntimeError("boom\nsecond line")), "train", writes=lambda: tmp_path)
    assert main(["prog"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: unexpected RuntimeError: boom second")
    log = Path(err.split("traceback in ")[1].split(";")[0])
    assert log.parent == tmp_path / "logs" and log.name.startswith("train-")
    assert "Traceback (most recent call last)" in log.read_text()
    assert "--debug prints it" in err
    assert not (tmp_path / ".lock").exists()


def test_debug_lets_the_traceback_through():
    flags.FLAGS["debug"].value = True
    try:
        with pytest.raises(RuntimeError, match="boom"):
            stage_main(_raise(RuntimeError("boom")), "t")(["prog"])
    finally:
        flags.FLAGS["debug"].value = False


@pytest.mark.parametrize(
    "err,status,line",
    [
        (KeyboardInterrupt(), 130, "error: interrupted; re-run the same command to continue\n"),
        (
            KeyboardInterrupt("at epoch 3 step 5"),
            130,
            "error: interrupted at epoch 3 step 5; re-run the same command to continue\n",
        ),
        (Terminated(), 143, "error: interrupted; re-run the same command to continue\n"),
    ],
)
def test_an_interrupt_is_one_line(err, status, line, capsys):
    assert stage_main(_raise(err), "t")(["prog"]) == status
    assert capsys.readouterr().err == line


def test_the_run_directory_is_locked_while_the_stage_runs(tmp_path):
    seen = []
    main = stage_main(
        lambda: seen.append((tmp_path / ".lock").exists()) or 0, "t", lambda: tmp_path
    )
    assert main(["prog"]) == 0 and seen == [True]
    assert not (tmp_path / ".lock").exists()


def test_sigterm_ends_a_stage_with_143_and_one_line(tmp_path):
    # the stage prints once its SIGTERM handler is in place, then waits for a signal
    code = textwrap.dedent("""
        import signal
        from pipelines.stage import console_script, stage_main
        def stage():
            print("started", flush=True)
            signal.pause()
        console_script(stage_main(stage, "t"))()
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "started"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143
    assert err.strip().splitlines()[-1] == "error: interrupted; re-run the same command to continue"
    assert "Traceback" not in err


def test_a_bad_flag_is_one_line_with_status_2():
    code = textwrap.dedent("""
        from absl import flags
        from pipelines.stage import console_script, stage_main
        flags.DEFINE_integer("epochs", 1, "", lower_bound=1)
        console_script(stage_main(lambda: 0, "t"))()
    """)
    for arg, message in [("--epochs=0", "--epochs=0: 0 is not"), ("--nope", "flag 'nope'")]:
        done = subprocess.run(
            [sys.executable, "-c", code, arg], cwd=ROOT, capture_output=True, text=True
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("error: ") and message in done.stderr
        assert "Traceback" not in done.stderr
