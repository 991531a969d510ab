"""The TIDL check's result: one verdict per layer, rendered as text and saved as JSON.

Why its own module: the TF and ONNX checkers fill the same report, and the export pipeline and the
run report read it back (tidl_report.json) without needing either checker's graph library.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from ednas_tf.io_utils import atomic_write_text

PASS, WARN, FAIL = "pass", "warn", "fail"
SEVERITY = {PASS: 0, WARN: 1, FAIL: 2}


@dataclasses.dataclass(frozen=True)
class Row:
    """One layer (graph node) of the report."""

    name: str
    op: str
    status: str
    reason: str


@dataclasses.dataclass
class TidlReport:
    """Per-layer verdicts on one exported graph; `passed` when no layer fails."""

    model: str
    format: str  # "tf" (frozen GraphDef) or "onnx"
    profile: str
    rows: list[Row]

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list[Row]:
        return [r for r in self.rows if r.status == FAIL]

    @property
    def warnings(self) -> list[Row]:
        return [r for r in self.rows if r.status == WARN]

    def op_counts(self) -> dict[str, int]:
        return dict(Counter(r.op for r in self.rows))

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "format": self.format,
            "profile": self.profile,
            "passed": self.passed,
            "num_layers": len(self.rows),
            "num_failures": len(self.failures),
            "num_warnings": len(self.warnings),
            "op_counts": self.op_counts(),
            "rows": [dataclasses.asdict(r) for r in self.rows],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def render_text(self, all_rows: bool = False) -> str:
        """Verdict, op counts, then the failing and warned layers (every layer with all_rows)."""
        verdict = "PASS" if self.passed else "FAIL"
        ops = ", ".join(f"{op} x{n}" for op, n in sorted(self.op_counts().items()))
        lines = [
            f"TIDL check ({self.profile}, {self.format}) of {self.model}: {verdict} — "
            f"{len(self.rows)} layers, {len(self.failures)} failing, "
            f"{len(self.warnings)} warned",
            f"  ops: {ops}",
        ]
        shown = self.rows if all_rows else [r for r in self.rows if r.status != PASS]
        width = max((len(r.name) for r in shown), default=0)
        lines += [f"  {r.status:4}  {r.name:{width}}  {r.op}: {r.reason}" for r in shown]
        return "\n".join(lines)

    def save(self, path: str | Path) -> Path:
        return atomic_write_text(path, self.to_json())


def save_reports(path: str | Path, reports: Sequence[TidlReport]) -> Path:
    """One JSON (tidl_report.json) for the checks of several formats of the same model."""
    data = {
        "passed_formats": [r.format for r in reports if r.passed],
        "reports": [r.to_dict() for r in reports],
    }
    return atomic_write_text(path, json.dumps(data, indent=2))
