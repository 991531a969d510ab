"""Shared output convention for benchmarks: figures as one JSON object on the last line."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def emit(name: str, figures: dict) -> dict:
    """Write `figures` to bench/results/<name>.json (atomically) and print it as the last line."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    text = json.dumps(figures, sort_keys=True)
    fd, tmp = tempfile.mkstemp(dir=RESULTS_DIR, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    os.chmod(tmp, 0o644)  # mkstemp creates owner-only files; results are meant to be read
    os.replace(tmp, RESULTS_DIR / f"{name}.json")
    print(text, flush=True)
    return figures
