"""Atomic file writes: a crashed or interrupted stage never leaves a half-written output."""

from __future__ import annotations

import csv
import json
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
