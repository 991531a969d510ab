"""Where downloaded datasets live: one project cache shared by the loaders and tools/ scripts."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "EDNAS_DATA_CACHE"

# ednas_tf/data/cache.py -> repository root is three levels up.
_REPO_ROOT = Path(__file__).resolve().parents[2]


def data_cache_dir() -> Path:
    """`$EDNAS_DATA_CACHE` if set, else `<repo>/.cache/datasets` (same rule as tools/*.sh)."""
    override = os.environ.get(CACHE_ENV)
    return Path(override).expanduser() if override else _REPO_ROOT / ".cache" / "datasets"
