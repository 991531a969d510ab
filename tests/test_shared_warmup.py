"""A weights-only warm-up shared by searches at several targets (--warmup_only, --warmup_from):
the search that starts from it derives what the same search run whole derives."""

import json

import numpy as np
import pytest

from tests.cli import TINY, run_cli

SEARCH = [*TINY, "--steps=2", "--epochs=3", "--objective=budget", "--seed=5"]


def _search(out, *extra):
    return run_cli(["pipelines/search.py", *SEARCH, *extra, f"--output_dir={out}"], timeout=300)


def _probs(arch):
    flat = []
    for block in sorted(arch["gate_probs"]):
        for _choice, values in sorted(arch["gate_probs"][block].items()):
            items = sorted(values.items()) if isinstance(values, dict) else [("", values)]
            flat += [v for _, v in items]
    return np.array(flat)


@pytest.fixture(scope="module")
def warmup(tmp_path_factory):
    out = tmp_path_factory.mktemp("warmup")
    done = _search(out, "--warmup_only", "--target_latency_fraction=0.4")
    assert done.returncode == 0, done.stderr[-3000:]
    return out, done.stdout


def test_warmup_only_stops_after_the_warmup(warmup):
    out, stdout = warmup
    record = json.loads((out / "warmup.json").read_text())
    assert record["epochs"] == 1 and record["seconds"] > 0
    assert not (out / "arch.json").exists()
    assert f"--warmup_from={out}" in stdout


def test_a_search_from_the_warmup_equals_the_search_run_whole(warmup, tmp_path):
    whole, shared = tmp_path / "whole", tmp_path / "shared"
    target = "--target_latency_fraction=0.7"  # another target than the warm-up's
    done = _search(whole, target)
    assert done.returncode == 0, done.stderr[-3000:]
    done = _search(shared, target, f"--warmup_from={warmup[0]}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resumed from" in done.stdout + done.stderr
    a = json.loads((whole / "arch.json").read_text())
    b = json.loads((shared / "arch.json").read_text())
    assert a["blocks"] == b["blocks"]
    np.testing.assert_allclose(_probs(a), _probs(b), atol=1e-6)
    assert b["search"]["warmup_from"] == str(warmup[0])
    history = json.loads((shared / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3]  # the warm-up's epoch, then its own


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--seed=6"], "other settings (seed)"),
        (["--steps=both"], "a shared warm-up (--warmup_only, --warmup_from) is one step's"),
    ],
)
def test_a_warmup_of_other_settings_is_refused(warmup, tmp_path, extra, message):
    out = tmp_path / "run"
    done = _search(out, "--target_latency_fraction=0.7", f"--warmup_from={warmup[0]}", *extra)
    assert done.returncode == 2 and message in done.stderr, done.stderr[-2000:]
    assert not (out / "arch.json").exists()


def test_a_folder_without_a_finished_warmup_is_refused(tmp_path):
    done = _search(tmp_path / "run", "--target_latency_fraction=0.7", f"--warmup_from={tmp_path}")
    assert done.returncode == 2
    assert "holds no finished warm-up" in done.stderr and "--warmup_only" in done.stderr
