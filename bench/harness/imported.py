"""`--baselines_from`: baselines of earlier Pareto runs join this run's verdict, provided they
trained as this run does and were timed as its host table is (else their figures would not be
the ones this run would measure, and the bench stops saying what differs).
"""

from __future__ import annotations

from types import SimpleNamespace

from bench import cli
from bench.harness.record import TRAINING_FLAGS, recorded_flag
from ednas_tf.baselines.imported import (
    baselines_of,
    first_of_each,
    fixed_children,
    read_results,
    timing_differences,
)
from ednas_tf.space import SearchSpace


def training_differences(config: dict, args: SimpleNamespace, path: str) -> list[str]:
    """The `TRAINING_FLAGS` (its space aside) in which an earlier run's `config` differs from
    this run's flags, one phrase each."""
    try:  # a results file records the flags, not the seed list derived from them
        earlier = dict(config, seed_list=cli.seeds_of(config))
    except ValueError as err:
        raise SystemExit(f"--baselines_from: {path}: {err}") from None
    return [
        f"{flag} {recorded_flag(earlier, flag)!r} (here {getattr(args, flag)!r})"
        for flag in TRAINING_FLAGS
        if flag != "space" and recorded_flag(earlier, flag) != getattr(args, flag)
    ]


def imported_baselines(
    paths: list[str], args: SimpleNamespace, reference: SearchSpace, timing: dict
) -> list[dict]:
    """The baselines recorded in earlier runs' results files (`--baselines_from`), each marked
    with the file it came from. Only a run that trained as this one does (`TRAINING_FLAGS`, its
    space aside) and timed its latencies as this run's host table does (`timing`, the table's
    metadata) is accepted. A fixed child whose blocks differ from this run's baseline of that
    name is renamed with its space; a baseline listed twice keeps the first file's."""
    own = fixed_children(reference)
    imported = []
    for path in paths:
        config, models = read_results(path)
        differ = training_differences(config, args, path)
        differ += timing_differences(config.get("host_timing") or {}, timing)
        if differ:
            raise SystemExit(f"--baselines_from: {path} measured otherwise: {', '.join(differ)}")
        imported += baselines_of(models, path, config.get("space", "small"), own)
    return first_of_each(imported)
