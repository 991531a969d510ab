"""The evolutionary derive (ednas_tf.search.evolve): children scored within the latency band,
the gates' child competing, finalists re-scored, and the winner becoming the derived child."""

import itertools
import json

import numpy as np
import pytest
import tensorflow as tf

from ednas_tf.cost.macs import MacsProxy
from ednas_tf.cost.network import child_latency
from ednas_tf.model import build
from ednas_tf.nb_macro import code_of, decisions_of, nb_macro_space
from ednas_tf.presets import preset_space
from ednas_tf.search.derive import derive
from ednas_tf.search.evolve import Evolution, EvolveOptions
from ednas_tf.search.objectives import Objective
from ednas_tf.search.target_fit import LatencyGoal
from tests.cli import TINY, run_cli

BUDGET = 40.0  # M MACs
GOAL = LatencyGoal(BUDGET, 0.1, at_most=True, fill=True)


@pytest.fixture(scope="module")
def space():
    return nb_macro_space()


@pytest.fixture(scope="module")
def every_code(space):
    """(code, M MACs) of all 6,561 children."""
    latency = MacsProxy()
    out = []
    for digits in itertools.product("012", repeat=8):
        code = "".join(digits)
        out.append((code, child_latency(space.child(decisions_of(space, code)), latency)))
    return out


def _wide_late(decisions) -> float:
    """A made-up score: expansion-6 blocks late in the network count most (not what the
    cheapest or the most expensive child has)."""
    total = 0.0
    for i, name in enumerate(sorted(decisions)):
        d = decisions[name]
        if not d.get("skip"):
            total += (i + 1) * (2.0 if d["expansion"] == 6 else 1.0)
    return total


def _evolution(space, candidates, final=None):
    return Evolution(
        space,
        GOAL,
        MacsProxy(),
        path_of=lambda decisions, child: decisions,  # these scores read the decisions themselves
        screen=_wide_late,
        final=final,
        options=EvolveOptions(candidates=candidates, seed=3),
    )


def test_evolution_scores_children_in_the_band_and_keeps_the_best(space, every_code):
    start = decisions_of(space, "11111111")  # 53 M MACs: above the band, the gates' child
    decisions, record = _evolution(space, 120)(start, start)
    assert record["scored"] == 120
    assert record["band_ms"] == [36.0, 40.0]
    latency = child_latency(space.child(decisions), MacsProxy())
    assert 36.0 <= latency <= 40.0
    for entry in record["finalists"]:
        assert 36.0 <= entry["latency_ms"] <= 40.0
    assert record["gates_child"]["screen"] == _wide_late(start)
    in_band = sorted(
        _wide_late(decisions_of(space, c)) for c, ms in every_code if 36.0 <= ms <= 40.0
    )
    # the search is better than chance: its child is in the top 5 % of the band's 500-odd
    assert _wide_late(decisions) >= in_band[int(0.95 * len(in_band))]
    assert _wide_late(decisions) == max(e["screen"] for e in record["finalists"])


def test_a_spent_neighbourhood_gives_way_to_random_children_of_the_band(space, every_code):
    """Well past where the best few's mutations are all seen (about 60 children at 40 M), the
    search still reaches its count, with children from all over the band."""
    in_band = sum(36.0 <= ms <= 40.0 for _, ms in every_code)
    _, record = _evolution(space, 250)(decisions_of(space, "11111111"), None)
    assert in_band > 250 and record["scored"] == 250


def test_the_gates_child_wins_when_it_scores_best(space):
    start = decisions_of(space, "22222222")  # the best by this score, far above the band
    decisions, record = _evolution(space, 20)(start, start)
    assert code_of(space.child(decisions)) == "22222222"
    assert record["chosen_is_gates_child"] is True


def test_the_final_scores_pick_among_the_finalists(space):
    start = decisions_of(space, "11100100")
    reverse = lambda decisions: -_wide_late(decisions)  # noqa: E731
    decisions, record = _evolution(space, 30, final=reverse)(start, start)
    finalists = record["finalists"]
    assert len(finalists) == 3 and all("final" in e for e in finalists)
    chosen = max(finalists, key=lambda e: e["final"])
    assert [b.encode() for b in space.child(decisions).blocks] == chosen["blocks"]
    assert chosen is finalists[-1]  # the third by screen: the final scores decided


def test_bad_options_and_searched_widths_are_refused():
    with pytest.raises(ValueError, match="band"):
        EvolveOptions(candidates=5, band=0.0)
    with pytest.raises(ValueError, match="candidates"):
        EvolveOptions(candidates=-1)
    widths = preset_space("tiny", input_shape=(12, 12, 1), stage_widths=(0.5,))
    with pytest.raises(ValueError, match="widths"):
        Evolution(widths, GOAL, MacsProxy(), dict, len, None, EvolveOptions(candidates=2))


def test_derive_takes_the_child_the_selection_returns():
    space = nb_macro_space(input_shape=(8, 8, 3), width=0.25)
    supernet = build(space, seed=0)
    supernet(tf.zeros((1, 8, 8, 3)))
    seen = []

    def select(decisions, path):
        seen.append((decisions, path))
        return decisions_of(space, "12000000"), {"scored": 1}

    budget = Objective("budget", target_ms=1e6)  # every child meets it
    arch = derive(supernet, space, MacsProxy(), budget, select=select)
    assert code_of(arch) == "12000000"
    assert arch.search["target_fit"]["evolution"] == {"scored": 1}
    assert arch.search["source_blocks"] == ["s1b1", "s1b2", "s2b1", "s3b1"]
    assert len(seen) == 1 and set(seen[0][1].blocks) == {b.name for b in space.blocks}


@pytest.mark.parametrize(
    "final, scored_by",
    [
        (["--evolve_finalists=2"], "supernet val acc"),
        (["--evolve_finalists=2", "--evolve_final=finetune", "--probe_steps=2"], "after 2 steps"),
    ],
)
def test_a_search_with_evolve_candidates_records_the_evolution(tmp_path, final, scored_by):
    out = tmp_path / "run"
    done = run_cli(
        [
            "pipelines/search.py",
            *TINY,
            "--steps=2",
            "--objective=budget",
            "--target_latency_fraction=0.6",
            "--evolve_candidates=4",
            "--evolve_band=0.3",
            "--evolve_images=32",
            *final,
            f"--output_dir={out}",
        ],
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    arch = json.loads((out / "arch.json").read_text())
    evolution = arch["search"]["target_fit"]["evolution"]
    assert 2 <= evolution["scored"] <= 4
    assert evolution["screen_images"] == 32
    low, high = evolution["band_ms"]
    assert arch["predicted_latency_ms"] <= high + 1e-6
    winner = max(evolution["finalists"], key=lambda e: e.get("final", e["screen"]))
    assert winner["blocks"] == arch["blocks"]
    assert np.isfinite([e["screen"] for e in evolution["finalists"]]).all()
    assert len(evolution["finalists"]) <= 2 and scored_by in evolution["final_scored_by"]
    if len(evolution["finalists"]) == 2:
        assert all(0.0 <= e["final"] <= 1.0 for e in evolution["finalists"])


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--evolve_candidates=4"], "needs a latency target"),
        (["--evolve_candidates=4", "--target_latency_fraction=0.5", "--evolve_band=0"], "above 0"),
    ],
)
def test_evolve_flags_without_what_they_need_are_refused(tmp_path, flags, message):
    done = run_cli(["pipelines/search.py", *TINY, *flags, f"--output_dir={tmp_path / 'r'}"])
    assert done.returncode != 0
    assert message in done.stderr
