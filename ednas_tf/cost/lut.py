"""Lookup tables: the measured latency of every configuration a search space can produce.

A `LookupTable` maps `BlockConfig.key` / `ConvConfig.key` to the measured time (ms) of that
configuration's probe network (`ednas_tf.measure.probes`). This module reads, writes and looks up
tables; measuring them on this machine and importing a board's measurements is
`ednas_tf.measure.tables`.

Per-network overhead. Each probe is a whole network, so each row includes the fixed cost of
running a network, which a real network pays once. Tables therefore record `invoke_overhead_ms`
and cost every block and stem/head conv as `row − overhead`, while the classifier keeps its full
row: every network has exactly one classifier, so its probe's overhead stands for the network's
single one. Rows themselves stay raw measurements. How the overhead is found (fitted on whole
networks, chain intercept, a board's `invoke_overhead` row) is `ednas_tf.measure.tables`'.

A parallel kernel set (k3+7) deploys as one depthwise conv of its largest size, so a table without
the set's own row costs it with the row of that single kernel.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ednas_tf.cost.base import LatencyModel
from ednas_tf.geometry import BlockConfig, ConvConfig
from ednas_tf.io_utils import atomic_write_text

Config = BlockConfig | ConvConfig
OVERHEAD_KEY = "invoke_overhead"  # the row of the smallest network (a board manifest's)
OVERHEAD_FIELD = "invoke_overhead_ms"
REFERENCE_FIELD = "speed_reference_ms"


class LutError(ValueError):
    """A table file, measurement CSV or cache is unusable; the message says which and why."""


class MissingLatencyError(LutError):
    """The table lacks configurations that are about to be costed."""

    def __init__(self, keys: Iterable[str], source: str):
        self.keys = sorted(set(keys))
        listing = "\n  ".join(self.keys)
        super().__init__(
            f"{source} has no latency for {len(self.keys)} configuration(s):\n  {listing}\n"
            "Measure them (pipelines/build_lut.py) or add them to the table."
        )


def lookup_config(config: Config) -> Config:
    """The configuration whose row costs `config`: a parallel kernel set is its merged kernel."""
    if isinstance(config, BlockConfig) and len(config.kernel) > 1:
        return dataclasses.replace(config, kernel=(max(config.kernel),))
    return config


def _positive_ms(value: Any, where: str, allow_zero: bool = False) -> float:
    what = "a number >= 0" if allow_zero else "a positive number"
    try:
        ms = float(value)
    except (TypeError, ValueError):
        raise LutError(f"{where}: ms must be {what}, got {value!r}") from None
    if not math.isfinite(ms) or ms < 0 or (ms == 0 and not allow_zero) or isinstance(value, bool):
        raise LutError(f"{where}: ms must be {what}, got {value!r}")
    return ms


def read_measurements(path: str | Path) -> tuple[dict[str, float], list[str]]:
    """Rows of a `key,ms[,...]` CSV: ({key: ms}, keys whose ms is still empty).

    Non-numeric, non-positive or duplicated rows are refused naming the file line.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise LutError(f"cannot read measurements {path}: {err.strerror or err}") from None
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in reader.fieldnames or []]
    if "key" not in columns or "ms" not in columns:
        raise LutError(f"{path}: needs a header with 'key' and 'ms' columns, got {columns}")
    measured: dict[str, float] = {}
    blank: list[str] = []
    seen: dict[str, int] = {}
    for row in reader:
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None}
        line = reader.line_num
        key = row.get("key", "")
        if not key:
            raise LutError(f"{path}, line {line}: empty key")
        if key in seen:
            raise LutError(f"{path}, line {line}: key {key!r} already given on line {seen[key]}")
        seen[key] = line
        if not row.get("ms"):
            blank.append(key)
            continue
        measured[key] = _positive_ms(row["ms"], f"{path}, line {line} ({key})")
    return measured, blank


class LookupTable(LatencyModel):
    """Latency model reading measured rows.

    rows: key → raw probe time (ms). metadata: device, runtime, threads, repeats, created, ...
    A configuration without a row raises `MissingLatencyError` (`prepare` names every missing one
    at once); `ednas_tf.measure.tables.MeasuredTable` measures them instead.
    """

    def __init__(
        self,
        rows: dict[str, float] | None = None,
        metadata: dict[str, Any] | None = None,
        *,
        path: str | Path | None = None,
    ):
        self.rows = dict(rows or {})
        self.metadata = dict(metadata or {})
        self.path = Path(path) if path is not None else None
        self.name = f"lut:{self.path}" if self.path is not None else "lut"

    # ---------------------------------------------------------------------------------- costing
    @property
    def invoke_overhead_ms(self) -> float:
        return float(self.metadata.get(OVERHEAD_FIELD) or 0.0)

    def raw_row(self, config: Config) -> float:
        """The measured time of `config`'s probe (overhead included), measured now if missing."""
        for key in (config.key, lookup_config(config).key):
            if key in self.rows:
                return self.rows[key]
        self.prepare([config])  # measures it, or raises naming it
        return self.rows[lookup_config(config).key]

    def block_latency(self, config: BlockConfig) -> float:
        return max(self.raw_row(config) - self.invoke_overhead_ms, 0.0)

    def conv_latency(self, config: ConvConfig) -> float:
        if config.kind == "classifier":  # carries the network's one invoke overhead
            return self.raw_row(config)
        return max(self.raw_row(config) - self.invoke_overhead_ms, 0.0)

    def missing(self, configs: Iterable[Config]) -> list[Config]:
        """Distinct configurations (as they would be measured) that have no row."""
        todo: dict[str, Config] = {}
        for config in configs:
            target = lookup_config(config)
            if config.key not in self.rows and target.key not in self.rows:
                todo.setdefault(target.key, target)
        return list(todo.values())

    def prepare(self, configs: Iterable[Config]) -> None:
        """Fills every missing configuration in one batch, or names them all in one error."""
        todo = self.missing(configs)
        if todo:
            self.fill_missing(todo)

    def fill_missing(self, configs: list[Config]) -> None:
        """Gives every configuration in `configs` a row; a table that cannot measure refuses."""
        raise MissingLatencyError([c.key for c in configs], self.name)

    # ------------------------------------------------------------------------------------ files
    def to_json(self) -> str:
        return json.dumps({"metadata": self.metadata, "rows": self.rows}, indent=1) + "\n"

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["key", "ms"])
        if OVERHEAD_FIELD in self.metadata:
            writer.writerow([OVERHEAD_KEY, repr(float(self.metadata[OVERHEAD_FIELD]))])
        for key, ms in self.rows.items():
            writer.writerow([key, repr(float(ms))])
        return out.getvalue()

    def save(self, path: str | Path) -> Path:
        """Atomically writes the table as JSON (rows + metadata) or CSV (`key,ms`), by suffix."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".json", ".csv"):
            raise LutError(f"{path}: a table is saved as .json or .csv")
        return atomic_write_text(path, self.to_json() if suffix == ".json" else self.to_csv())

    @classmethod
    def load(cls, path: str | Path, **kwargs) -> "LookupTable":
        """Reads a .json table or a `key,ms` .csv; errors name the file and the bad entry."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".csv":
            rows, blank = read_measurements(path)
            metadata: dict[str, Any] = {}
            if blank:
                raise MissingLatencyError(blank, f"{path} (empty ms)")
        elif suffix == ".json":
            rows, metadata = _read_json(path)
        else:
            raise LutError(f"{path}: a lookup table is a .json or .csv file")
        if OVERHEAD_KEY in rows:
            metadata[OVERHEAD_FIELD] = rows.pop(OVERHEAD_KEY)
        return cls(rows, metadata, path=path, **kwargs)


def _read_json(path: Path) -> tuple[dict[str, float], dict[str, Any]]:
    try:
        data = json.loads(path.read_text())
    except OSError as err:
        raise LutError(f"cannot read lookup table {path}: {err.strerror or err}") from None
    except json.JSONDecodeError as err:
        raise LutError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("rows"), dict):
        raise LutError(f"{path}: expected an object with a 'rows' object (key -> ms)")
    metadata = data.get("metadata", {})
    if not isinstance(metadata, dict):
        raise LutError(f"{path}: 'metadata' must be an object")
    rows = {str(k): _positive_ms(v, f"{path}, row {k!r}") for k, v in data["rows"].items()}
    for field in (OVERHEAD_FIELD, REFERENCE_FIELD):
        if metadata.get(field) is not None:  # a fitted overhead may come out as 0
            _positive_ms(metadata[field], f"{path}, metadata {field}", field == OVERHEAD_FIELD)
    return rows, dict(metadata)
