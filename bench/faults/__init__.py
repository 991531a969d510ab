"""The fault catalogue: every bad input and fault the tools must answer clearly or survive.

Each area's cases live in their own module (a list `CASES`): `lock` (one writer per run
directory), `usage` (flags and files checked before any work, one-line errors), `data` (a user's
data checked before hours are spent), `resume` (kill -9, Ctrl-C, corrupt checkpoints: exact
resume) and `numerics` (non-finite losses and gates). `CASES` is all of them, the list
`tests/test_faults.py` and `bench/fault_suite.py` run.
"""

from bench.faults import data, lock, numerics, resume, usage
from bench.faults.case import VERDICTS, FaultCase, Outcome, classify

CASES: list[FaultCase] = [
    *lock.CASES,
    *usage.CASES,
    *data.CASES,
    *resume.CASES,
    *numerics.CASES,
]

__all__ = ["CASES", "VERDICTS", "FaultCase", "Outcome", "classify"]
