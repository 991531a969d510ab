"""Shared output convention for benchmarks: figures as one JSON object on the last line."""

from __future__ import annotations

import json
from pathlib import Path

from ednas_tf.io_utils import atomic_write_text
from ednas_tf.latency.lut import LookupTable
from ednas_tf.latency.profiles import get_profile
from ednas_tf.search.loop import SearchConfig
from ednas_tf.search.objectives import make_objective
from ednas_tf.search.runner import RunOptions, run_search
from ednas_tf.search.schedules import make_schedule
from ednas_tf.space import SearchSpace, preset_space

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def emit(name: str, figures: dict) -> dict:
    """Write `figures` to bench/results/<name>.json (atomically) and print it as the last line."""
    text = json.dumps(figures, sort_keys=True)
    atomic_write_text(RESULTS_DIR / f"{name}.json", text + "\n")
    print(text, flush=True)
    return figures


def host_small_space(splits, width: float) -> tuple[SearchSpace, LookupTable]:
    """The `small` space for `splits` with the `host` rules, and this machine's measured table
    (the latency benchmarks compare searches and networks on it)."""
    profile = get_profile("host")
    space = preset_space(
        "small",
        input_shape=splits.input_shape,
        num_classes=splits.num_classes,
        profile=profile,
        width=width,
    )
    table = profile.latency()
    if not isinstance(table, LookupTable):
        raise SystemExit("error: the host profile is expected to be a measured lookup table")
    return space, table


def search_at_target(
    space: SearchSpace,
    splits,
    config: SearchConfig,
    table: LookupTable,
    target_ms: float,
    output_dir: str,
    **options,
):
    """The benchmarks' E-DNAS search: the target objective |LAT/T - 1| on `table`, the FBNet
    temperature schedule, no progress bar, no resume; `options` go to RunOptions."""
    return run_search(
        space,
        splits,
        config,
        make_objective("target", target_ms=target_ms),
        make_schedule("exponential"),
        table,
        RunOptions(output_dir=output_dir, progress=False, resume=False, **options),
    )
