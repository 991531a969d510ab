"""The run directory's lock (`RunDir.lock`), path checks and the reading of its records."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from ednas_tf.io_utils import read_csv_rows, read_json
from ednas_tf.rundir import LOCK_FILE, RunDir, RunDirError, existing_dir, writable_dir


def test_a_second_holder_is_refused_naming_the_first(tmp_path):
    run = RunDir.at(tmp_path / "run")
    with run.lock("search"):
        holder = json.loads(run.lock_file.read_text())
        assert holder["pid"] == os.getpid() and holder["stage"] == "search"
        with pytest.raises(RunDirError, match=f"PID {os.getpid()} on host "), run.lock():
            pass
    assert not run.lock_file.exists()  # released and removed
    with run.lock():  # free again
        pass


def test_a_lock_held_by_another_process_is_refused(tmp_path):
    run = RunDir.at(tmp_path)
    code = textwrap.dedent(f"""
        import sys, time
        from ednas_tf.rundir import RunDir
        with RunDir.at({str(tmp_path)!r}).lock("train"):
            print("held", flush=True)
            sys.stdin.read()
    """)
    holder = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunDirError, match=f"PID {holder.pid} .*train"), run.lock():
            pass
    finally:
        holder.communicate("")
    with run.lock():  # the holder ended: free
        pass


def test_a_dead_holders_lock_is_taken_over_with_a_warning(tmp_path, capsys):
    run = RunDir.at(tmp_path)
    run.lock_file.write_text(json.dumps({"pid": 999999, "host": "gone", "started": "then"}))
    with run.lock("search"):
        assert json.loads(run.lock_file.read_text())["pid"] == os.getpid()
    err = capsys.readouterr().err
    assert "warning: took over" in err and "PID 999999 on host gone" in err


def test_a_fresh_folder_the_stage_left_empty_is_removed(tmp_path):
    run = RunDir.at(tmp_path / "a" / "b")
    with run.lock():
        assert (tmp_path / "a" / "b" / LOCK_FILE).exists()
    assert not (tmp_path / "a").exists()
    with run.lock():
        (run.root / "arch.json").write_text("{}")
    assert sorted(p.name for p in run.root.iterdir()) == ["arch.json"]


def test_output_folders_are_checked_without_creating_anything(tmp_path):
    file = tmp_path / "f"
    file.write_text("x")
    with pytest.raises(RunDirError, match="is a file, not a folder"):
        writable_dir(file, "output_dir")
    with pytest.raises(RunDirError, match="cannot be created: .* is a file"):
        writable_dir(file / "run", "output_dir")
    assert writable_dir(tmp_path / "new" / "run", "output_dir") == tmp_path / "new" / "run"
    assert not (tmp_path / "new").exists()
    with pytest.raises(FileNotFoundError, match="--run_dir=.* does not exist"):
        existing_dir(str(tmp_path / "nope"), "run_dir")
    with pytest.raises(RunDirError, match="--run_dir=.* is a file"):
        existing_dir(str(file), "run_dir")
    with pytest.raises(RunDirError, match="--run_dir is required"):
        existing_dir(None, "run_dir")


def test_cut_short_records_name_their_file(tmp_path):
    history = tmp_path / "history.json"
    history.write_text('[{"epoch": 1, "loss": 2.0}, {"epo')
    with pytest.raises(ValueError, match="history.json is not valid JSON"):
        read_json(history)
    gates = tmp_path / "gates.csv"
    gates.write_text("step,epoch,block,choice,option,prob\n1,0,s1b1,kernel,3,0.3\n1,0,s1")
    with pytest.raises(ValueError, match="gates.csv: line 3 does not match the header"):
        read_csv_rows(gates)
    (tmp_path / "run.json").write_text('{"stages": {"search": {"seed"')
    with pytest.raises(RunDirError, match="run.json: unreadable run record"):
        RunDir.at(tmp_path).carried()
    (tmp_path / "run.json").write_text('{"stages": {"search": 5}}')
    with pytest.raises(RunDirError, match="run.json: not a run record"):
        RunDir.at(tmp_path).carried()
