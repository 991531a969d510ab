"""What the lock and usage cases share: the tiny search, a stand-in run, "nothing changed" checks.

A refused command must leave its scratch folder exactly as it found it: `refused` runs an entry
point and records every file or folder that appeared, vanished or changed in `Outcome.problems`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.faults.case import REPO_ROOT, Outcome, run_module

# The smallest search (seconds): synthetic data, the tiny space, two epochs of six steps.
TINY = [
    "--dataset=synthetic",
    "--space=tiny",
    "--image_size=16",
    "--limit=600",
    "--epochs=2",
    "--warmup_epochs=1",
    "--steps_per_epoch=6",
    "--batch_size=16",
    "--noprogress",
]
# An arch.json a search could have written (the stand-in run's child).
SAMPLE_ARCH = REPO_ROOT / "bench" / "archs" / "fmnist_best_w0.75_t0.35.json"


def tree(root: Path) -> dict[str, str]:
    """Every file (its content's hash) and folder under `root`, by relative path."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): (
            hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "<dir>"
        )
        for p in sorted(root.rglob("*"))
    }


def changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """The paths that appeared, vanished or changed between two `tree`s."""
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def fake_run(root: Path, stages: dict | None = None) -> Path:
    """A run directory as a search leaves it (arch.json and run.json), without running one."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(SAMPLE_ARCH, root / "arch.json")
    record = stages or {"search": {"dataset": "synthetic", "seed": 0, "device": "tda2x"}}
    (root / "run.json").write_text(json.dumps({"stages": record}, indent=2))
    return root


def refused(
    module: str,
    args: Callable[[Path], Sequence[str]],
    setup: Callable[[Path], object] | None = None,
    watch: str = "",
) -> Callable[[Path], Outcome]:
    """A case body: prepare the scratch folder (`setup`), run `module` with `args(scratch)`, and
    flag anything the (refused) run wrote, removed or changed there (only under `watch`, a path
    relative to the scratch folder, when given: the file a refusal must leave as it was)."""

    def run(tmp: Path) -> Outcome:
        if setup is not None:
            setup(tmp)
        before = tree(tmp)
        outcome = run_module(module, args(tmp))
        changed = [p for p in changes(before, tree(tmp)) if p.startswith(watch)]
        if changed:
            outcome.problems.append(f"the refused run changed {changed[:8]}")
        return outcome

    return run
