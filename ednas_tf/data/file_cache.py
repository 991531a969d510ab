"""Filling a `--data_cache=DIR` file cache safely when runs share the folder or die while filling.

Why: tf.data's file cache writes `<key>_0.lockfile` and a `.tempstate` file while it fills and
renames them to `<key>.index` / `<key>.data-*` at the end. A run killed while filling (kill -9,
OOM, a lost machine) leaves the lockfile behind, and every later run on that folder then stops
with TensorFlow's AlreadyExistsError; two runs filling one split at once do the same to the
second. Here one fill per split runs under an exclusive `fcntl.flock` on `<key>.fill.lock`: a run
that finds the split filled uses it, one that finds another run filling waits for it, and one
that holds the lock removes what a dead filler left (no live process can own it) and fills.
The kernel drops a flock when its holder dies, so a killed run never blocks the next one.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from ednas_tf import testpoint


def is_filled(path: Path) -> bool:
    """Whether the cache file set `path` (tf.data's prefix) is complete: its index is written
    last, by the rename that ends a fill."""
    return path.with_name(path.name + ".index").exists()


def leftovers(path: Path) -> list[Path]:
    """Files a fill of `path` that did not finish left behind (lockfile, temp state, a data
    shard without its index)."""
    if is_filled(path):
        return []
    return sorted(p for p in path.parent.glob(f"{path.name}*")
                  if p.name != path.name + ".fill.lock")


def fill(ds: tf.data.Dataset, path: Path, size: int) -> None:
    """Make sure the cache `path` holds `ds` (already `.cache(str(path))`): fill it in one pass
    unless another run has, waiting for a run that is filling it now."""
    if is_filled(path):
        return
    fd = os.open(path.with_name(path.name + ".fill.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another run filling the data cache {path}", flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        if is_filled(path):
            return
        stale = leftovers(path)
        if stale:
            print(f"removing {len(stale)} file(s) an unfinished fill of the data cache {path} "
                  "left behind", flush=True)
            for p in stale:
                p.unlink(missing_ok=True)
        print(f"filling the data cache {path} ({size} records)", flush=True)
        testpoint.reached("data_cache")
        ds.reduce(np.int64(0), lambda count, _: count + 1)
    finally:
        os.close(fd)  # releases the flock
