"""NAS-Bench-Macro's table side (bench/nb_macro_table.py) on a hand-made table whose anchors,
ranks and regrets are worked out by hand; the synthetic table against the loader; the plot.

The real table is not in the repository (nor in CI), so no test reads it.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from bench.nb_macro_table import (
    N_CODES,
    NBMacroTable,
    TableError,
    all_codes,
    expected_best_of,
    is_code,
    mean_and_se,
    per_budget_summary,
    plot,
    synthetic_table,
)
from tests.cli import run_cli

M = 1_000_000
# code: (mean accuracy %, MACs). Ranks by accuracy: 22222222 1, 11111111 2, 11100000 and
# 11110000 tied 3, 21000000 5, 11000000 6, 10000000 7, 00000000 8.
HAND = {
    "00000000": (50.0, 10 * M),
    "10000000": (80.0, 20 * M),
    "11000000": (85.0, 30 * M),
    "21000000": (86.0, 35 * M),
    "11100000": (88.0, 40 * M),
    "11110000": (88.0, 45 * M),
    "11111111": (90.0, 50 * M),
    "22222222": (93.0, 100 * M),
}
WITHIN_40 = [50.0, 80.0, 85.0, 86.0, 88.0]  # the accuracies at or under 40 MMACs


def _record(mean: float, macs: int) -> dict:
    return {
        "test_acc": [mean - 0.1, mean, mean + 0.1],
        "mean_acc": mean,
        "std": 0.08,
        "params": macs // 20,
        "flops": macs,
    }


@pytest.fixture
def hand() -> NBMacroTable:
    return NBMacroTable({code: _record(*v) for code, v in HAND.items()}, source="hand")


def _write(tmp_path, data, name="table.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_expected_best_of_matches_enumerating_every_draw():
    # N=3, n=2: the 9 ordered pairs' maxima sum to 1+2+4 + 2+2+4 + 4+4+4 = 27
    assert expected_best_of([4.0, 1.0, 2.0], 2) == pytest.approx(3.0)
    triples = [max(t) for t in itertools.product(WITHIN_40, repeat=3)]
    assert expected_best_of(WITHIN_40, 3) == pytest.approx(sum(triples) / len(triples))
    assert expected_best_of(WITHIN_40, 1) == pytest.approx(np.mean(WITHIN_40))
    draws = np.random.default_rng(0).choice(WITHIN_40, size=(100_000, 10)).max(axis=1)
    assert expected_best_of(WITHIN_40, 10) == pytest.approx(draws.mean(), abs=0.05)
    with pytest.raises(ValueError):
        expected_best_of([], 1)


def test_anchors_within_a_budget(hand):
    a = hand.anchors(40 * M)
    assert hand.within(40 * M) == ["00000000", "10000000", "11000000", "11100000", "21000000"]
    assert a["n_within"] == 5
    assert (a["best_code"], a["best_acc"], a["best_mmacs"]) == ("11100000", 88.0, 40.0)
    assert (a["top1pct_rank"], a["top1pct_acc"]) == (1, 88.0)  # at least the best
    assert a["median_acc"] == 85.0
    assert a["expected_best_of_1"] == pytest.approx(77.8)
    assert a["expected_best_of_1"] < a["expected_best_of_10"] < a["expected_best_of_100"] < 88.0
    # 11111111 costs 50 MMACs: the only uniform network within 40 is the all-identity one
    assert (a["best_uniform_code"], a["best_uniform_acc"]) == ("00000000", 50.0)
    assert hand.anchors(55 * M)["best_uniform_code"] == "11111111"


def test_anchors_when_nothing_fits(hand):
    a = hand.anchors(5 * M)
    assert a["n_within"] == 0 and hand.within(5 * M) == []
    assert a["best_code"] is a["top1pct_acc"] is a["expected_best_of_10"] is None
    assert a["best_uniform_code"] is None


def test_the_top_1pct_threshold_is_the_floor_of_one_percent_th_best():
    means = {code: 50.0 + i for i, code in enumerate(all_codes()[:250])}  # 250 distinct
    table = NBMacroTable({c: _record(m, 10 * M) for c, m in means.items()})
    a = table.anchors(10 * M)
    assert (a["top1pct_rank"], a["top1pct_acc"]) == (2, 298.0)  # floor(2.5) = 2nd best of 299..50


def test_score_ranks_and_regret(hand):
    tied = hand.score("11110000", 45 * M)
    assert (tied["rank"], tied["rank_within"], tied["n_within"]) == (3, 1, 6)
    assert tied["regret"] == 0.0 and tied["within_budget"] is True
    assert hand.score("11100000", 45 * M)["rank"] == 3  # competition ranking: both third
    mid = hand.score("21000000", 40 * M)
    assert (mid["rank"], mid["rank_within"], mid["regret"]) == (5, 2, 2.0)
    assert (mid["mean_acc"], mid["flops"], mid["mmacs"], mid["n_total"]) == (86.0, 35 * M, 35.0, 8)
    outside = hand.score("22222222", 40 * M)
    assert outside["within_budget"] is False and outside["rank_within"] is None
    assert (outside["rank"], outside["regret"]) == (1, -5.0)
    assert hand.score("00000000", 40 * M)["rank"] == 8


def test_entry_and_unknown_codes(hand):
    assert hand.entry("11111111") == (90.0, 0.08, 50 * M // 20, 50 * M)
    with pytest.raises(KeyError, match="not in the table hand"):
        hand.entry("12121212")
    with pytest.raises(KeyError, match="not a NAS-Bench-Macro code"):
        hand.score("1234", 40 * M)


def test_rank_correlation_ordered_reversed_and_overlap(hand):
    codes = sorted(HAND, key=lambda c: (HAND[c][0], c))  # ascending accuracy
    same = hand.rank_correlation(codes, [float(i) for i in range(len(codes))])
    assert same["kendall_tau"] == pytest.approx(1.0, abs=0.03)  # tau-b: the one true tie
    assert same["spearman"] == pytest.approx(1.0, abs=0.01)
    assert (same["top10pct_k"], same["top10pct_overlap"]) == (1, 1)
    reverse = hand.rank_correlation(codes, [-float(i) for i in range(len(codes))])
    assert reverse["kendall_tau"] == pytest.approx(-1.0, abs=0.03)
    assert (reverse["top10pct_overlap"], reverse["n"]) == (0, 8)
    untied = [c for c in codes if c != "11110000"]
    assert hand.rank_correlation(untied, list(range(7)))["kendall_tau"] == pytest.approx(1.0)
    assert hand.rank_correlation(untied, list(range(7, 0, -1)))["spearman"] == pytest.approx(-1)
    with pytest.raises(ValueError, match="2 codes but 3 scores"):
        hand.rank_correlation(codes[:2], [1.0, 2.0, 3.0])


def test_top10pct_overlap_counts_the_shared_codes():
    table = NBMacroTable({c: _record(60.0 + i, M) for i, c in enumerate(all_codes()[:20])})
    codes = all_codes()[:20]  # accuracies 60..79: the top 2 are the last two codes
    scores = [0.0] * 20
    scores[19], scores[0] = 5.0, 4.0  # the best by score, and a poor one second
    result = table.rank_correlation(codes, scores)
    assert (result["top10pct_k"], result["top10pct_overlap"]) == (2, 1)


def test_per_budget_summary_over_seeds(hand):
    runs = [
        hand.score("11100000", 40 * M),
        hand.score("21000000", 40 * M),
        hand.score("22222222", 40 * M),
        hand.score("11111111", 55 * M),  # another budget: skipped
    ]
    s = per_budget_summary(runs[:2], 40 * M)
    assert (s["n_runs"], s["n_within"], s["acc_mean"], s["acc_se"]) == (2, 2, 87.0, 1.0)
    assert (s["regret_mean"], s["regret_se"]) == (1.0, 1.0)
    assert (s["rank_within_mean"], s["rank_within_se"]) == (1.5, 0.5)
    s = per_budget_summary(runs, 40 * M)
    assert (s["n_runs"], s["n_within"]) == (3, 2)  # the outside one counts for accuracy only
    assert s["acc_mean"] == pytest.approx((88 + 86 + 93) / 3)
    one = per_budget_summary(runs[3:], 55 * M)
    assert (one["acc_mean"], one["acc_se"], one["rank_within_se"]) == (90.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="no runs"):
        per_budget_summary(runs, 70 * M)
    assert mean_and_se([]) == (None, None)
    assert mean_and_se([1.0, 2.0, 6.0])[1] == pytest.approx(np.std([1, 2, 6], ddof=1) / 3**0.5)


@pytest.mark.parametrize(
    "data, message",
    [
        ("{not json", "is not valid JSON"),
        ([1, 2], "not a table"),
        ({"0120": _record(50.0, M)}, "1 bad code key(s), e.g. '0120'"),
        ({"01201203": _record(50.0, M)}, "bad code key"),
        ({"01201202": {"mean_acc": 50.0}}, "code 01201202 lacks field(s) test_acc, std"),
        ({"01201202": {**_record(50.0, M), "flops": "many"}}, "field flops of code 01201202"),
        ({"01201202": {**_record(50.0, M), "flops": 1.5}}, "not a finite int"),
        ({"01201202": {**_record(50.0, M), "test_acc": 3}}, "test_acc of code 01201202"),
    ],
)
def test_the_loader_names_the_fault_in_one_line(tmp_path, data, message):
    path = _write(tmp_path, data)
    with pytest.raises(TableError) as err:
        NBMacroTable.load(path)
    assert message in str(err.value) and str(path) in str(err.value)
    assert "\n" not in str(err.value)


def test_a_missing_file_is_one_line_naming_the_source(tmp_path):
    with pytest.raises(TableError, match="no such file .*xiusu/NAS-Bench-Macro"):
        NBMacroTable.load(tmp_path / "absent.json")


def _macs(code: str) -> int:
    """A stand-in for our model's count: later layers and bigger operations cost more."""
    return 8 * M + sum((1 + i) * (0, 1, 3)[int(d)] * M // 2 for i, d in enumerate(code))


def _params(code: str) -> int:
    return 400_000 + 100_000 * sum(int(d) for d in code)


def test_the_synthetic_table_is_complete_loadable_and_nontrivial(tmp_path):
    data = synthetic_table(_macs, _params, seed=3)
    assert len(data) == N_CODES == 3**8 and all(is_code(c) for c in data)
    assert data == synthetic_table(_macs, _params, seed=3)
    assert data != synthetic_table(_macs, _params, seed=4)
    table = NBMacroTable.load(_write(tmp_path, data))
    assert len(table) == N_CODES and table.entry("12012012").flops == _macs("12012012")
    record = data["12012012"]
    assert record["mean_acc"] == pytest.approx(np.mean(record["test_acc"]))
    assert record["std"] == pytest.approx(np.std(record["test_acc"]))
    rho = np.corrcoef(np.argsort(np.argsort(table.flops)), np.argsort(np.argsort(table.mean)))
    assert rho[0, 1] > 0.5  # accuracy rises with MACs
    a = table.anchors(float(np.median(table.flops)))
    assert a["best_acc"] > a["top1pct_acc"] > a["median_acc"] > 75.0
    assert a["expected_best_of_1"] < a["expected_best_of_10"] < a["expected_best_of_100"]
    assert a["expected_best_of_100"] < a["best_acc"] < 100.0
    with pytest.raises(ValueError, match="positive finite MACs"):
        synthetic_table(lambda code: 0, _params)


def test_the_plot_is_written_atomically(tmp_path, hand):
    path = tmp_path / "figures" / "nb_macro.png"
    children = [(0, 40 * M, "21000000"), (1, 40 * M, "11100000"), (0, 55 * M, "11111111")]
    assert plot(hand, [40 * M, 55 * M], children, path) == path
    first = path.read_bytes()
    assert first.startswith(b"\x89PNG") and len(first) > 5000
    plot(hand, [5 * M], [], path)  # nothing within 5 MMACs: a line, no star
    assert path.read_bytes() != first
    assert [p.name for p in path.parent.iterdir()] == ["nb_macro.png"]  # no temp file left
    with pytest.raises(KeyError):
        plot(hand, [40 * M], [(0, 40 * M, "12121212")], tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def test_the_table_module_needs_no_tensorflow():
    code = "import sys, bench.nb_macro_table; assert 'tensorflow' not in sys.modules"
    result = run_cli(["-c", code], timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_codes():
    codes = all_codes()
    assert len(codes) == len(set(codes)) == N_CODES and codes[0] == "00000000"
    assert codes == sorted(codes) and is_code("01200120")
    assert not is_code("0000000") and not is_code("00000003") and not is_code(12345678)
