"""The fault suite: every case of the fault catalogue (`bench/faults/`), counted by verdict.

Each case feeds a tool one bad input or fault a user can cause — bad flags, an unreadable image,
two runs in one directory, a kill -9 in the middle of an epoch — and is classified: clear_error
(one `error:` line, no traceback), recovered (the clean run's result), traceback, silent_wrong or
lost_work. The target is no traceback, no silent wrong result and no lost work.

  .venv/bin/python -m bench.fault_suite            # every case (kill -9 cases re-run searches)
  .venv/bin/python -m bench.fault_suite --quick    # without the slow kill-and-resume cases

The last line is one JSON object (also bench/results/fault_suite.json):
{"cases": N, "clear_error": a, "recovered": b, "traceback": 0, "silent_wrong": 0, "lost_work": 0}
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from absl import flags

from bench import cli
from bench.common import emit
from bench.faults import CASES, VERDICTS, FaultCase, classify

FV = cli.new_flags()
flags.DEFINE_bool(
    "quick", False, "Skip the slow cases (kill -9 and resume of real runs).", flag_values=FV
)
flags.DEFINE_list(
    "areas", [], "Only these areas (lock, usage, data, resume, numerics).", flag_values=FV
)
cli.define_results_name(FV, "fault_suite")


def selected(cases: Sequence[FaultCase], quick: bool, areas: Sequence[str]) -> list[FaultCase]:
    return [c for c in cases if not (quick and c.slow) and (not areas or c.area in areas)]


def run_all(cases: Sequence[FaultCase]) -> dict:
    """Run every case in its own scratch folder; one line per case, the counts as a dict."""
    counts: Counter = Counter()
    verdicts = {}
    for case in cases:
        start = time.time()
        with tempfile.TemporaryDirectory(prefix=f"fault-{case.name}-") as scratch:
            verdict = classify(case, case.run(Path(scratch)))
        ok = "ok " if verdict == case.expect else "BAD"
        print(
            f"{ok} {case.area:9} {case.name:45} {verdict:13} {time.time() - start:6.1f} s",
            flush=True,
        )
        counts[verdict] += 1
        verdicts[case.name] = verdict
    return {"cases": len(cases), **{v: counts[v] for v in VERDICTS}, "verdicts": verdicts}


def main(argv: Sequence[str] | None = None) -> dict:
    args = cli.parse_args(FV, argv, __doc__)
    cases = selected(CASES, args.quick, args.areas)
    if not cases:
        cli.error("no fault case selected (see --areas)")
    return emit(args.results_name, run_all(cases))


if __name__ == "__main__":
    main()
