"""The report's content as data, so Markdown and HTML are rendered from one source.

A report is a title and a list of `Section`s; a section is a list of blocks (`Text`, `Code`,
`Table`, `Figure`). Renderers decide the markup; `cell` decides how a value reads in a table.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any


@dataclasses.dataclass
class Table:
    headers: list[str]
    rows: list[list[Any]]


@dataclasses.dataclass
class Text:
    text: str


@dataclasses.dataclass
class Code:
    text: str


@dataclasses.dataclass
class Figure:
    """A PNG shown in the report; `filename` is where it is written beside report.md."""

    filename: str
    png: bytes
    caption: str


Block = Table | Text | Code | Figure


@dataclasses.dataclass
class Section:
    title: str
    blocks: list[Block] = dataclasses.field(default_factory=list)


def cell(value: Any) -> str:
    """A table value as text: "-" for missing or NaN, 4 significant digits, JSON for nesting."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def figures(sections: list[Section]) -> list[Figure]:
    """Every figure of the report, in order (each is also written as its own PNG file)."""
    return [block for s in sections for block in s.blocks if isinstance(block, Figure)]
