"""Fault cases of the area 'usage' (see bench/faults/case.py for what a case is)."""

from __future__ import annotations

from bench.faults.case import FaultCase

CASES: list[FaultCase] = []
