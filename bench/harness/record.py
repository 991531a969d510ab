"""The resume record of a Pareto run: every model so far (partial.json) and the flags they were
measured with (flags.json), so that `--resume` reuses hours of finished models only when they
measured what this run would.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

from ednas_tf.io_utils import atomic_write_text

# Flags that change a model's figures: --resume reuses a finished model only when all the flags
# it depends on match. (--baselines, --no_tuner, --tuner_at and --target_fractions choose which
# models run, not what they measure: a searched model's name carries its fraction, and its
# target follows from the fraction and the training flags — so targets can be added to a run.)
# Every model depends on the data and training flags; the searched models (E-DNAS and the
# tuner, whose budget is the search's time) also on the search flags, so a changed search
# setting re-runs only them and keeps the hours of baselines.
TRAINING_FLAGS = (
    "device",
    "dataset",
    "image_size",
    "width",
    "space",
    "limit",
    "num_test",
    "num_calibration",
    "epochs",
    "steps_per_epoch",
    "seed",
    "seed_list",
)
SEARCH_FLAGS = (
    "stage_widths",
    "kernels",
    "search_epochs",
    "search_steps_per_epoch",
    "arch_lr",
    "stop_when_committed",
    "temperature_schedule",
    "temperature_init",
    "temperature_final",
    "objective",
    "gate_mode",
    "probe_candidates",
    "probe_mode",
    "probe_steps",
    "steps",
    "tuner_trials",
    "tuner_epochs",
)
RESULT_FLAGS = TRAINING_FLAGS + SEARCH_FLAGS
# Flags added after runs were recorded, with the value those runs measured with: an earlier
# flags.json or results file without them still compares equal to a run that keeps the default.
FLAGS_ADDED_LATER = {"device": "host"}
PARTIAL_FILE = "partial.json"  # every model recorded so far, rewritten after each
FLAGS_FILE = "flags.json"  # RESULT_FLAGS of the run that wrote partial.json


def result_flags(args: SimpleNamespace) -> dict:
    """The run's `RESULT_FLAGS` as flags.json holds them (JSON types: tuples become lists)."""
    return json.loads(json.dumps({flag: getattr(args, flag) for flag in RESULT_FLAGS}))


def recorded_flag(flags: dict, flag: str):
    """`flag`'s value in an earlier run's recorded `flags` (its default when it predates it)."""
    return flags.get(flag, FLAGS_ADDED_LATER.get(flag))


def read_partial(out: Path) -> list[dict]:
    """The models partial.json in `out` records (none when it is absent)."""
    partial = out / PARTIAL_FILE
    return json.loads(partial.read_text()) if partial.exists() else []


def write_partial(out: Path, models: list[dict]) -> None:
    """Rewrite partial.json with `models` (atomically: a run cut off mid-write loses nothing)."""
    atomic_write_text(out / PARTIAL_FILE, json.dumps(models, indent=1))


def move_aside(out: Path, finished: int) -> None:
    """Without --resume: an earlier run's files go to *.previous.json (hours of models are not
    lost to a forgotten flag, and none are left beside the new flags), saying so."""
    if finished:
        print(
            f"{out} holds {finished} finished model(s) of an earlier run: starting "
            "afresh, its files moved to *.previous.json (--resume would reuse them)",
            file=sys.stderr,
        )
    for name in (PARTIAL_FILE, FLAGS_FILE):
        if (out / name).exists():
            (out / name).replace(out / name.replace(".json", ".previous.json"))


def still_valid(out: Path, flags: dict, finished: dict[str, dict]) -> dict[str, dict]:
    """The finished models a run with `flags` may reuse: all when the earlier flags.json
    matches; the baselines only when just search flags differ (saying which models run
    again); SystemExit naming the flags when a training flag differs or flags.json is lost."""
    flags_path = out / FLAGS_FILE
    before = json.loads(flags_path.read_text()) if flags_path.exists() else None
    if before is None:
        raise SystemExit(
            f"--resume: {out} has no {FLAGS_FILE}, so what its models measured is unknown; "
            "run without --resume or with another --output_dir"
        )
    differ = sorted(k for k in RESULT_FLAGS if flags.get(k) != recorded_flag(before, k))
    changes = ", ".join(f"{k} {recorded_flag(before, k)!r} (now {flags.get(k)!r})" for k in differ)
    if set(differ) - set(SEARCH_FLAGS):
        raise SystemExit(
            f"--resume: the run in {out} measured with other flags: {changes}; run without "
            "--resume or with another --output_dir"
        )
    if differ:
        searched = sorted(n for n, m in finished.items() if m.get("family") != "baseline")
        finished = {n: m for n, m in finished.items() if m.get("family") == "baseline"}
        print(
            f"--resume: search flags changed ({changes}): the searched models run again"
            + (f" ({', '.join(searched)})" if searched else "")
            + "; the baselines are kept",
            file=sys.stderr,
        )
    return finished


def resumable_models(out: Path, args: SimpleNamespace) -> dict[str, dict]:
    """The finished models (by name) of the earlier run in `out` that --resume reuses; and the
    run's `RESULT_FLAGS`, written to out/flags.json for the next --resume.

    Stops, naming the flags that differ, when the earlier run measured with other ones. Without
    --resume an earlier run's files are moved aside (`move_aside`) and it says so.
    """
    flags = result_flags(args)
    finished = {m["name"]: m for m in read_partial(out) if not m.get("error")}
    if not args.resume:
        move_aside(out, len(finished))
        finished = {}
    elif finished:
        finished = still_valid(out, flags, finished)
        print(f"resuming {out}: {len(finished)} finished model(s) reused", file=sys.stderr)
    else:
        print(f"--resume: nothing finished in {out}; starting afresh", file=sys.stderr)
    atomic_write_text(out / FLAGS_FILE, json.dumps(flags, indent=1, sort_keys=True))
    return finished
