"""Fault cases of the area 'numerics': non-finite losses and gates (see bench/faults/case.py).

A learning rate far too large is the real way a user makes a loss non-finite from the command
line: `--weight_lr=1e30` blows a search's weights up within a few steps, `--learning_rate=1e30`
a training's. With `--on_nan=fail` (the default) the run stops with one line naming the step and
writes no result; with `--on_nan=rollback` a training whose learning rate is merely too large
(10: it diverges in its second epoch) restarts from its last good checkpoint with the learning
rate halved and finishes, with finite weights (batch-norm statistics included: a step whose
weights are not finite counts as non-finite too) and strict JSON metrics.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bench.faults.case import FaultCase, Outcome, run_module
from bench.faults.resume import _copy_run, _h5_arrays, search_args, searched_run, train_args


def _strict_json(path: Path) -> list[str]:
    def refuse(token):
        raise ValueError(f"{path.name} holds {token}")

    try:
        json.loads(path.read_text(), parse_constant=refuse)
    except (ValueError, OSError) as err:
        return [str(err)]
    return []


def search_nan_fails(scratch: Path) -> Outcome:
    out = scratch / "run"
    done = run_module("pipelines.search", search_args(out, ["--steps=2", "--weight_lr=1e30"]))
    problems = [f"{p} was written" for p in (out / "arch.json",) if p.exists()]
    return Outcome(done.returncode, done.stdout, done.stderr, problems)


def train_nan_fails(scratch: Path) -> Outcome:
    run = _copy_run(searched_run(), scratch / "run")
    done = run_module("pipelines.train", train_args(run, ["--learning_rate=1e30"]))
    written = [run / "train" / n for n in ("child.weights.h5", "train_metrics.json")]
    problems = [f"{p} was written" for p in written if p.exists()]
    return Outcome(done.returncode, done.stdout, done.stderr, problems)


def train_nan_rolls_back(scratch: Path) -> Outcome:
    run = _copy_run(searched_run(), scratch / "run")
    # six halvings: another CPU (another oneDNN kernel) sums floats in another order, and so
    # diverges at another step; three sufficed here
    args = train_args(run, ["--learning_rate=10", "--on_nan=rollback", "--max_rollbacks=6"])
    done = run_module("pipelines.train", args)
    problems = []
    if done.returncode == 0:
        if "rolled back to" not in done.stderr:
            problems.append("no rollback was reported")
        problems += _strict_json(run / "train" / "train_metrics.json")
        arrays = _h5_arrays(run / "train" / "child.weights.h5")
        if not all(np.isfinite(a).all() for a in arrays.values()):
            problems.append("the trained weights are not finite")
    return Outcome(done.returncode, done.stdout, done.stderr, problems)


CASES: list[FaultCase] = [
    FaultCase(
        "numerics_search_nan_loss_fails",
        "numerics",
        "clear_error",
        search_nan_fails,
        message="non-finite",
    ),
    FaultCase(
        "numerics_train_nan_loss_fails",
        "numerics",
        "clear_error",
        train_nan_fails,
        message="non-finite loss at epoch 1",
    ),
    FaultCase(
        "numerics_train_nan_rollback_recovers", "numerics", "recovered", train_nan_rolls_back
    ),
]
