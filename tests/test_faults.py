"""The fault catalogue (bench/faults/): every case ends as it must.

A case that expects a clear error must exit with its status and one `error:` line naming the
problem, and no traceback; a case that expects recovery must give the clean run's result. Each
case checks for itself that nothing was lost or half-written (`Outcome.problems`, `lost_work`).
"""

import pytest

from bench import fault_suite
from bench.faults import CASES, classify


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fault_case(case, tmp_path):
    outcome = case.run(tmp_path)
    detail = f"rc={outcome.returncode} problems={outcome.problems}\n{outcome.stderr[-3000:]}"
    assert classify(case, outcome) == case.expect, detail
    if case.expect == "clear_error":
        assert outcome.returncode == case.returncode, detail


def test_every_case_has_a_unique_name_and_a_known_expectation():
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))
    assert {c.expect for c in CASES} <= {"clear_error", "recovered"}


def test_the_suite_selects_quick_cases_and_areas():
    quick = fault_suite.selected(CASES, quick=True, areas=[])
    assert all(not c.slow for c in quick)
    assert all(c.area == "lock" for c in fault_suite.selected(CASES, quick=False, areas=["lock"]))
