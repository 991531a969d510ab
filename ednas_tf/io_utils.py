"""Atomic file writes: a crashed or interrupted stage never leaves a half-written output."""

from __future__ import annotations

import csv
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Writes `data` to a temp file beside `path`, then renames it into place (mode 0644)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; outputs get copied and shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """`atomic_write_bytes` of UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def read_json(path: str | Path) -> Any:
    """A JSON file's value; a ValueError naming the file when it is not JSON (cut short, say)."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError
        raise ValueError(
            f"{path} is not valid JSON ({err}): was it cut short? Restore or delete it"
        ) from None


def read_csv_rows(path: str | Path) -> list[dict[str, str]]:
    """A CSV file's rows by its header; a ValueError naming the file and line of a short row."""
    path = Path(path)
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        rows = []
        for row in reader:
            if None in row.values() or None in row:
                raise ValueError(
                    f"{path}: line {reader.line_num} does not match the header (was the file "
                    "cut short? Restore or delete it)"
                )
            rows.append(row)
    return rows
def finite_or_none(value: Any) -> Any:
    """`value` with every non-finite float (NaN, ±inf) replaced by None: JSON has no NaN."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_none(v) for v in value]
    return value


def json_text(value: Any, indent: int | None = 2) -> str:
    """Strict JSON of `value`: non-finite numbers become null, never a bare `NaN` token."""
    return json.dumps(finite_or_none(value), indent=indent, allow_nan=False)


def atomic_write_json(path: str | Path, value: Any, indent: int | None = 2) -> Path:
    """`atomic_write_text` of `json_text(value)`."""
    return atomic_write_text(path, json_text(value, indent))
