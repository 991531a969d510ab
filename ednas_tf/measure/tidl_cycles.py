"""A TDA2x board's TIDL cycle counts, read into a lookup table.

Why cycles: TI's TIDL test applications report EVE/DSP cycles, not milliseconds, and the clock
is the board's (EVE 650 MHz, C66x DSP 750 MHz on AM5729, docs/TIDL.md), so the import converts
with a given clock: ms = cycles / (clock_mhz * 1000).

The file read here is what `tools/tidl_board_loop.sh` collects: each probe's test-application
output, verbatim, between marker lines (format and sources in docs/TIDL.md, "Board loop"):

    === probe <key> ===
    ... the test application's output ...
    === end <key> ===

Inside a block, a probe's network cycles are taken from any of these lines (one per processed
frame; the median over frames is used):

* `TEST_REPORT_PROCESS_PROFILE_DATA : TSC cycles = N, ...` (TI's EVE test harness profile line);
* `Network Cycles N` (TIDL-RT test application, TDA4x; its per-layer table, a header starting
  `Layer, Layer Cycles` followed by `index, cycles, ...` rows, is kept as per-layer cycles);
* `network_cycles = N` (our own line, for a by-hand entry or an SDK that prints otherwise);
  `layer_cycles <index> <name> = N` gives per-layer cycles the same way.

`status = <text>` (the board script's note of a failed import or run) marks the probe failed.
A manifest CSV whose `cycles` column was filled by hand is read too.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import io
import re
import statistics
from pathlib import Path
from typing import Any

from ednas_tf.cost.lut import (
    OVERHEAD_FIELD,
    OVERHEAD_KEY,
    LookupTable,
    LutError,
    MissingLatencyError,
)
from ednas_tf.measure.tables import import_measurements, space_configs

EVE_CLOCK_MHZ = 650.0  # AM5729 / TDA2x EVE (docs/TIDL.md)
DSP_CLOCK_MHZ = 750.0  # C66x DSP
_BEGIN = re.compile(r"^=== probe (\S+) ===\s*$")
_END = re.compile(r"^=== end (\S+) ===\s*$")
_NETWORK = (
    re.compile(r"TEST_REPORT_PROCESS_PROFILE_DATA\s*:\s*TSC cycles\s*=\s*(\d+)"),
    re.compile(r"^\s*Network Cycles\s*:?\s*(\d+)\s*$"),
    re.compile(r"^\s*network_cycles\s*=\s*(\d+)\s*$"),
)
_LAYER = re.compile(r"^\s*layer_cycles\s+(\d+)\s+(\S+)\s*=\s*(\d+)\s*$")
_TABLE_HEADER = re.compile(r"^\s*Layer\s*,\s*Layer Cycles\s*,")
_TABLE_ROW = re.compile(r"^\s*(\d+)\s*,\s*(\d+)\s*,")
_STATUS = re.compile(r"^\s*status\s*=\s*(.+?)\s*$")


@dataclasses.dataclass
class ProbeCycles:
    """One probe's block: network cycles per frame, per-layer cycles, the script's status."""

    key: str
    line: int
    frames: list[int] = dataclasses.field(default_factory=list)
    layers: list[tuple[int, str, int]] = dataclasses.field(default_factory=list)
    status: str | None = None

    @property
    def cycles(self) -> float:
        """Median network cycles over the frames the test application processed."""
        return float(statistics.median(self.frames))


def _read_line(probe: ProbeCycles, text: str, in_table: bool) -> bool:
    """Adds what one line of a probe's block holds; whether a per-layer table continues."""
    for pattern in _NETWORK:
        match = pattern.search(text)
        if match:
            probe.frames.append(int(match.group(1)))
            return False
    if _TABLE_HEADER.match(text):
        return True
    row = _TABLE_ROW.match(text) if in_table else None
    if row:
        probe.layers.append((int(row.group(1)), "", int(row.group(2))))
        return True
    layer, status = _LAYER.match(text), _STATUS.match(text)
    if layer:
        probe.layers.append((int(layer.group(1)), layer.group(2), int(layer.group(3))))
    elif status:
        probe.status = status.group(1)
    return False


def parse_cycles_log(path: str | Path) -> dict[str, ProbeCycles]:
    """Every probe block of a collected cycles file; errors name the file line."""
    path = Path(path)
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as err:
        raise LutError(f"cannot read cycles file {path}: {err.strerror or err}") from None
    blocks: dict[str, ProbeCycles] = {}
    current: ProbeCycles | None = None
    in_table = False
    for number, text in enumerate(lines, 1):
        begin, end = _BEGIN.match(text), _END.match(text)
        if begin:
            if current is not None:
                raise LutError(f"{path}, line {number}: probe {current.key!r} has no end line")
            key = begin.group(1)
            if key in blocks:
                first = blocks[key].line
                raise LutError(f"{path}, line {number}: probe {key!r} already on line {first}")
            current = blocks[key] = ProbeCycles(key, number)
        elif end:
            if current is None or end.group(1) != current.key:
                raise LutError(f"{path}, line {number}: end of {end.group(1)!r} without its start")
            current, in_table = None, False
        elif current is not None:
            in_table = _read_line(current, text, in_table)
    if current is not None:
        raise LutError(f"{path}: probe {current.key!r} (line {current.line}) has no end line")
    if not blocks:
        raise LutError(f"{path}: no '=== probe <key> ===' blocks (see docs/TIDL.md, Board loop)")
    return blocks


def cycles_to_ms(cycles: float, clock_mhz: float) -> float:
    """Core cycles at `clock_mhz` as milliseconds."""
    if clock_mhz <= 0:
        raise ValueError(f"clock_mhz must be positive, got {clock_mhz}")
    return float(cycles) / (clock_mhz * 1000.0)


def _usable_cycles(path: Path, blocks: dict[str, ProbeCycles]) -> dict[str, float]:
    """key -> median cycles; a failed or empty probe is refused naming it."""
    bad = []
    for probe in blocks.values():
        if probe.status:
            bad.append(f"{probe.key} (line {probe.line}): {probe.status}")
        elif not probe.frames:
            bad.append(f"{probe.key} (line {probe.line}): no network cycles line")
        elif min(probe.frames) <= 0:
            bad.append(f"{probe.key} (line {probe.line}): non-positive cycles {probe.frames}")
    if bad:
        raise LutError(f"{path}: {len(bad)} probe(s) without usable cycles:\n  " + "\n  ".join(bad))
    return {key: probe.cycles for key, probe in blocks.items()}


def read_manifest_cycles(path: str | Path) -> dict[str, float]:
    """key -> cycles of a manifest CSV whose `cycles` column is filled (blank rows skipped)."""
    path = Path(path)
    reader = csv.DictReader(io.StringIO(path.read_text()))
    cycles: dict[str, float] = {}
    for row in reader:
        value = (row.get("cycles") or "").strip()
        if not value:
            continue
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if number <= 0:
            raise LutError(
                f"{path}, line {reader.line_num}: cycles must be positive, got {value!r}"
            )
        cycles[(row.get("key") or "").strip()] = number
    return cycles


def _has_cycles_column(path: Path) -> bool:
    """A CSV whose `cycles` column holds values and whose `ms` column is empty."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    filled = [r for r in rows if (r.get("cycles") or "").strip()]
    return bool(filled) and not any((r.get("ms") or "").strip() for r in rows)


def import_cycles(
    cycles: dict[str, float],
    space,
    *,
    source: str,
    clock_mhz: float = EVE_CLOCK_MHZ,
    device: str = "tda2x board (TIDL)",
    base_profile: str | None = None,
    layers: dict[str, list] | None = None,
) -> LookupTable:
    """A table (ms) from probe cycles covering every key of `space`; the overhead probe's
    time becomes the table's per-network overhead."""
    rows = {key: cycles_to_ms(c, clock_mhz) for key, c in cycles.items()}
    convs, blocks = space_configs(space)
    missing = [c.key for c in (*convs, *blocks) if c.key not in rows]
    if missing:
        raise MissingLatencyError(missing, f"cycles {source}")
    metadata: dict[str, Any] = {
        "device": device,
        "runtime": "TIDL (imported board cycles)",
        "clock_mhz": clock_mhz,
        "threads": None,
        "repeats": None,
        "source": source,
        "base_profile": base_profile or space.profile.name,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    if layers:
        metadata["layer_cycles"] = layers
    if OVERHEAD_KEY in rows:
        metadata[OVERHEAD_FIELD] = rows.pop(OVERHEAD_KEY)
    return LookupTable(rows, metadata)


def import_board_file(
    path: str | Path,
    space,
    *,
    clock_mhz: float = EVE_CLOCK_MHZ,
    device: str = "board",
    base_profile: str | None = None,
) -> LookupTable:
    """A table from whatever the board side produced: a cycles file (the board script's), a
    manifest with its `cycles` column filled, or a `key,ms` CSV (times already in ms)."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        if not _has_cycles_column(path):
            return import_measurements(path, space, device=device, base_profile=base_profile)
        cycles = read_manifest_cycles(path)
        return import_cycles(
            cycles,
            space,
            source=str(path),
            clock_mhz=clock_mhz,
            device=device,
            base_profile=base_profile,
        )
    blocks = parse_cycles_log(path)
    layers = {k: [list(row) for row in b.layers] for k, b in blocks.items() if b.layers}
    return import_cycles(
        _usable_cycles(path, blocks),
        space,
        source=str(path),
        clock_mhz=clock_mhz,
        device=device,
        base_profile=base_profile,
        layers=layers,
    )
