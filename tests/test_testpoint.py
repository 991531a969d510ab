"""Test pause points (ednas_tf/testpoint.py): a process held at a named point until released,
interrupted or timed out; a no-op unless the environment names that point."""

import os
import threading
import time
from collections import Counter

import pytest

from ednas_tf import testpoint


@pytest.fixture
def pause_at(monkeypatch, tmp_path):
    """Arms one pause point in this process (fresh state); returns its marker file."""
    monkeypatch.setattr(testpoint, "_fired", set())
    monkeypatch.setattr(testpoint, "_reached", Counter())
    marker = tmp_path / "paused"

    def arm(point: str, count: int):
        for name, value in testpoint.environ(point, count, marker).items():
            monkeypatch.setenv(name, value)
        return marker

    return arm


def _in_background(action) -> threading.Thread:
    thread = threading.Thread(target=action, daemon=True)
    thread.start()
    return thread


def _release_when_paused(marker):
    """Waits (polling) for `marker`, remembers what it said, removes it."""
    seen = []

    def release():
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        seen.append(marker.read_text())
        testpoint.release(marker)

    return _in_background(release), seen


def test_without_the_environment_nothing_waits(monkeypatch, tmp_path):
    monkeypatch.delenv(testpoint.PAUSE_AT, raising=False)
    testpoint.reached("train", 3)
    assert not list(tmp_path.iterdir())


def test_only_the_named_point_and_count_pause(pause_at):
    marker = pause_at("train", 3)
    testpoint.reached("train", 2)
    testpoint.reached("search1", 3)
    assert not marker.exists()


def test_a_paused_process_waits_for_its_release_once(pause_at):
    marker = pause_at("train", 3)
    thread, seen = _release_when_paused(marker)
    testpoint.reached("train", 3)
    thread.join()
    assert seen and seen[0].startswith("train:3 pid ")
    testpoint.reached("train", 3)  # once per process: no second pause (nobody would release it)
    assert not marker.exists()


def test_without_a_count_the_nth_time_pauses(pause_at):
    marker = pause_at("data_cache", 2)
    testpoint.reached("data_cache")
    assert not marker.exists()
    thread, seen = _release_when_paused(marker)
    testpoint.reached("data_cache")
    thread.join()
    assert seen == [f"data_cache:2 pid {os.getpid()}\n"]


def test_interrupted_ends_the_wait_and_leaves_the_marker(pause_at):
    marker = pause_at("train", 1)
    testpoint.reached("train", 1, interrupted=marker.exists)  # true as soon as it is there
    assert marker.exists()


def test_a_pause_nobody_releases_gives_up_with_a_warning(pause_at, monkeypatch, capsys):
    pause_at("train", 1)
    monkeypatch.setenv(testpoint.TIMEOUT, "0.05")
    testpoint.reached("train", 1)
    assert "nobody released the test pause at train:1" in capsys.readouterr().err
