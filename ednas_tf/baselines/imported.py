"""Baselines recorded in an earlier benchmark's results file, reused without training again.

A Pareto run's baselines take hours; a later run that changes only the search can compare with
them, provided they were trained and timed as it would (the caller checks the flags; here the
file is read and each baseline named as it would be in this run's space).
"""

from __future__ import annotations

import json
from pathlib import Path

from ednas_tf.arch import ArchSpec
from ednas_tf.baselines.fixed import baseline_list
from ednas_tf.space import SearchSpace

# the host table's timing settings a results file records (with the speed yardstick, which
# may differ between processes); an imported baseline is accepted only where these agree
HOST_TIMING_KEYS = ("runtime", "threads", "repeats", "warmup", "rounds")


def read_results(path: str | Path) -> tuple[dict, list[dict]]:
    """(config, models) of a bench/pareto.py results file; SystemExit naming it if it is not
    one."""
    try:
        results = json.loads(Path(path).read_text())
        return results["config"], results["models"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise SystemExit(
            f"--baselines_from: {path} is not a bench/pareto.py results file: {err}"
        ) from None


def timing_differences(recorded: dict, timing: dict) -> list[str]:
    """The host timing settings (`HOST_TIMING_KEYS`) in which a results file's `recorded`
    timing differs from this run's `timing`, one phrase each."""
    return [
        f"host timing {key} {recorded.get(key)!r} (here {timing.get(key)!r})"
        for key in HOST_TIMING_KEYS
        if recorded.get(key) != timing.get(key)
    ]


def fixed_children(reference: SearchSpace) -> dict[str, list[str]]:
    """This run's fixed children (name → encoded blocks): an imported one of the same name but
    other blocks comes from another space."""
    return {
        name: spec.block_strings()
        for name, spec in baseline_list(reference)
        if isinstance(spec, ArchSpec)
    }


def baselines_of(
    models: list[dict], path: str | Path, space: str, own: dict[str, list[str]]
) -> list[dict]:
    """The finished baselines of one results file, each marked with the file it came from. A
    fixed child whose blocks differ from this run's (`own`) is renamed with its `space`; one
    imported there too keeps the name and source it had there."""
    imported = []
    for m in models:
        if m.get("family") != "baseline" or m.get("error"):
            continue
        if m.get("imported_from"):  # imported there too: as named and sourced there
            imported.append(m)
            continue
        name = m["name"]
        if m.get("arch") is not None and m["arch"] != own.get(name):
            name = f"{name}_{space}"
        imported.append(dict(m, name=name, imported_from=str(path)))
    return imported


def first_of_each(models: list[dict]) -> list[dict]:
    """One model per name: the same baseline from two files, the first file listed wins."""
    first: dict[str, dict] = {}
    for m in models:
        first.setdefault(m["name"], m)
    return list(first.values())
