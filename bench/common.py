"""Shared output convention for benchmarks: figures as one JSON object on the last line."""

from __future__ import annotations

import json
from pathlib import Path

from ednas_tf.io_utils import atomic_write_text

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def emit(name: str, figures: dict) -> dict:
    """Write `figures` to bench/results/<name>.json (atomically) and print it as the last line."""
    text = json.dumps(figures, sort_keys=True)
    atomic_write_text(RESULTS_DIR / f"{name}.json", text + "\n")
    print(text, flush=True)
    return figures
