"""A weights-only warm-up shared by the searches of several latency targets.

Why: the warm-up epochs train the supernet's weights only, and nothing in them depends on the
objective (its latency term has no weight gradient, and the gates do not move), so the searches
of one seed at several budgets can start from one warm-up instead of each paying for it. A
search run with `--warmup_only` stops at the end of its warm-up, checkpoints and writes
`warmup.json`; a search given `--warmup_from=THAT_DIR` copies that checkpoint (and the warm-up's
gate rows and history) into its own folder and resumes from it, as if it had run the warm-up
itself. Every setting but the objective must match, which is checked against the warm-up's
`run_config.json`; a test checks that the result equals a search run whole.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from ednas_tf.checkpointing import CKPT_DIR
from ednas_tf.io_utils import atomic_write_json, read_json
from ednas_tf.rundir import GATES_FILE, HISTORY_FILE, STEP_CONFIG_FILE

WARMUP_FILE = "warmup.json"  # a finished --warmup_only run: its epochs and wall seconds
SHARED_KEYS_EXEMPT = ("objective",)  # the one setting a shared warm-up may differ in


def record_warmup(step_dir: Path, epochs: int, seconds: float) -> None:
    """Marks `step_dir`'s checkpoints as a finished weights-only warm-up of `epochs` epochs."""
    atomic_write_json(step_dir / WARMUP_FILE, {"epochs": epochs, "seconds": round(seconds, 1)})


def warmup_record(source: Path) -> dict[str, Any]:
    """The warm-up record of `source` (ValueError naming the fix when there is none)."""
    path = Path(source) / WARMUP_FILE
    if not path.exists():
        raise ValueError(
            f"{source} holds no finished warm-up ({WARMUP_FILE} is missing): run the search "
            "there with --warmup_only first"
        )
    return read_json(path)


def start_from_warmup(source: Path, step_dir: Path, fingerprint: dict[str, Any]) -> dict:
    """Copies the warm-up in `source` into `step_dir` (which has no checkpoint yet) and returns
    its record. Refuses a warm-up of other settings (ValueError naming them). The checkpoint
    folder is renamed into place last, so a kill mid-copy leaves nothing a re-run resumes."""
    source = Path(source)
    record = warmup_record(source)
    theirs = read_json(source / STEP_CONFIG_FILE)
    changed = sorted(
        key
        for key in set(theirs) | set(fingerprint)
        if key not in SHARED_KEYS_EXEMPT and theirs.get(key) != fingerprint.get(key)
    )
    if changed:
        raise ValueError(
            f"the warm-up in {source} was run with other settings ({', '.join(changed)}); only "
            "the objective and its target may differ"
        )
    step_dir.mkdir(parents=True, exist_ok=True)
    for name in (GATES_FILE, HISTORY_FILE):
        if (source / name).exists():
            shutil.copy2(source / name, step_dir / name)
    partial = step_dir / f".{CKPT_DIR}.warmup.tmp"
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(source / CKPT_DIR, partial)
    shutil.rmtree(step_dir / CKPT_DIR, ignore_errors=True)  # no complete checkpoint in it
    os.replace(partial, step_dir / CKPT_DIR)
    return record
