"""Lookup tables measured on this machine, and a board's measurements imported as a table.

Tables come from two places:

* this machine: `build_lut` (or the `host` profile, lazily) times each probe with LiteRT
  (`ednas_tf.measure.probes`) and caches the rows in a JSON file, so a re-run only measures what
  the cache lacks (`MeasuredTable`);
* a board: `export_probes` writes every probe as .tflite and .onnx plus a `manifest.csv` whose
  `ms` column the user fills on the target; `import_measurements` turns it into a table.

Per-network overhead (see `ednas_tf.cost.lut`). Tables measured here fit the overhead on a few
whole networks (`ednas_tf.measure.calibration`, `overhead_method: network_fit`, about 6 us per
probe on the development machine) or, with calibration off, take it from chains of the yardstick
block (`chain_intercept`, 2-4 us, too small); board tables take it from the manifest's
`invoke_overhead` row (the one-ReLU network, 1.6 us here, also too small: measure a few whole
networks on the board to check).

Speed yardstick. A shared virtual machine changes speed for minutes at a time, so rows measured
here are timed against a fixed reference model in the same rounds and stored as latency at the
speed the machine had when the table's `speed_reference_ms` was measured (`probes.time_tflite`);
compare whole networks with a table through `MeasuredTable.timing_reference()`.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import io
import logging
import os
import platform
import re
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ednas_tf.cost.lut import (
    OVERHEAD_FIELD,
    OVERHEAD_KEY,
    REFERENCE_FIELD,
    Config,
    LookupTable,
    LutError,
    MissingLatencyError,
    lookup_config,
    read_measurements,
)
from ednas_tf.cost.network import space_option_configs
from ednas_tf.geometry import BlockConfig, ConvConfig
from ednas_tf.io_utils import atomic_write_text
from ednas_tf.measure import calibration, probes

OVERHEAD_METHOD_FIELD = "overhead_method"
OVERHEAD_FIT_FIELD = "overhead_fit"
CHAIN_INTERCEPT = "chain_intercept"  # probes.network_fixed_cost
NETWORK_FIT = "network_fit"  # calibration.fit_probe_overhead
_METHOD_RANK = {CHAIN_INTERCEPT: 1, NETWORK_FIT: 2}  # a cache keeps a better overhead
CALIBRATION_ENV = "EDNAS_LUT_CALIBRATION_NETWORKS"
REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_ENV = "EDNAS_LUT_CACHE"


@dataclasses.dataclass(frozen=True)
class MeasureSettings:
    """How probes are timed with LiteRT; part of a cache's identity."""

    repeats: int = 200
    warmup: int = 20
    num_threads: int = 1
    rounds: int = probes.DEFAULT_ROUNDS
    speed_normalized: bool = True  # rows timed against the speed yardstick (probes.time_tflite)
    # whole networks the per-probe overhead is fitted on (0: chain intercept; not part of the
    # cache identity, a cache keeps the better of the two)
    calibration_networks: int = calibration.CALIBRATION_NETWORKS

    def as_metadata(self) -> dict[str, Any]:
        return {
            "repeats": self.repeats,
            "warmup": self.warmup,
            "threads": self.num_threads,
            "rounds": self.rounds,
            "speed_normalized": self.speed_normalized,
        }


def space_configs(space) -> tuple[list[ConvConfig], list[BlockConfig]]:
    """Every distinct stem/head/classifier config and block config a search space can produce."""
    fixed, options = space_option_configs(space)
    convs = list({c.key: c for c in fixed}.values())
    blocks = list(
        {c.key: c for c in (lookup_config(cfg) for configs in options for cfg in configs)}.values()
    )
    return convs, blocks


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def cpu_id() -> str:
    """Short, file-name-safe name of this machine's CPU (keys the host cache file)."""
    name = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                name = line.split(":", 1)[1]
                break
    except OSError:
        pass
    name = name or platform.processor() or platform.machine() or "cpu"
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:48] or "cpu"


def runtime_description(num_threads: int) -> str:
    try:
        litert = version("ai-edge-litert")
    except PackageNotFoundError:  # pragma: no cover
        litert = "unknown"
    return f"ai-edge-litert {litert} float32 (default XNNPACK delegate), {num_threads} thread(s)"


def default_cache_dir() -> Path:
    """`$EDNAS_LUT_CACHE`, else `<repo>/.cache/lut`."""
    override = os.environ.get(CACHE_ENV)
    return Path(override).expanduser() if override else REPO_ROOT / ".cache" / "lut"


def host_cache_path(num_threads: int = 1) -> Path:
    return default_cache_dir() / f"host_{cpu_id()}_t{num_threads}.json"


class MeasuredTable(LookupTable):
    """A table that can time what it lacks on this machine, and time whole networks as its rows.

    measure: with settings, missing configurations are timed on this machine (and the table is
      saved to `path` after each one) instead of raising `MissingLatencyError`; None: a table
      measured earlier (`lut:<path>`), still able to time networks with its recorded settings.
    """

    def __init__(
        self,
        rows: dict[str, float] | None = None,
        metadata: dict[str, Any] | None = None,
        *,
        path: str | Path | None = None,
        measure: MeasureSettings | None = None,
        progress: bool = True,
    ):
        super().__init__(rows, metadata, path=path)
        self.measure = measure
        self.progress = progress
        self._fitting = False

    def fill_missing(self, configs: list[Config]) -> None:
        if self.measure is None:
            super().fill_missing(configs)
        else:
            self._measure(configs)

    def timing_reference(self) -> tuple[bytes, float] | None:
        """(yardstick model, nominal ms) this table's rows were timed against, if any.

        Time anything compared with the table (e.g. whole networks) against the same yardstick.
        """
        if self.metadata.get(REFERENCE_FIELD) is None:
            return None
        return probes.reference_tflite(), float(self.metadata[REFERENCE_FIELD])

    def time_network(self, model) -> float:
        """A whole Keras network timed exactly as this table's rows were (repeats, warm-up,
        threads, rounds, yardstick), so the two compare: the fidelity and target benchmarks and
        the overhead fit."""
        meta = self.metadata
        missing = [k for k in ("repeats", "warmup", "threads") if k not in meta]
        if missing:
            raise LutError(f"{self.name} records no timing settings {missing}: not measured here")
        return probes.time_tflite(
            probes.to_tflite(model),
            meta["repeats"],
            meta["warmup"],
            meta["threads"],
            meta.get("rounds") or 1,
            self.timing_reference(),
        )

    def _measure(self, configs: list[Config]) -> None:
        s = self.measure
        todo = list(configs)
        yardstick = " against a speed yardstick" if s.speed_normalized else ""
        print(
            f"{self.name}: measuring {len(todo)} missing configuration(s) with LiteRT "
            f"({s.num_threads} thread(s), {s.rounds} rounds of {s.repeats // s.rounds} "
            f"invokes{yardstick})",
            file=sys.stderr,
            flush=True,
        )
        self.measure_overhead()
        bar = tqdm(todo, desc="latency LUT", unit="probe", disable=not self.progress)
        for item in bar:
            self.rows[item.key] = probes.measure_config(
                item, s.repeats, s.warmup, s.num_threads, s.rounds, self.timing_reference()
            )
            if self.path is not None:  # an interrupted run keeps what it measured
                self.save(self.path)

    def measure_overhead(self) -> None:
        """Measures the speed yardstick and the per-probe overhead where the table lacks them or
        holds an overhead from a less accurate method (one-ReLU network < chain < network fit)."""
        s = self.measure
        if s is None:
            return
        if s.speed_normalized and self.metadata.get(REFERENCE_FIELD) is None:
            self.metadata["speed_reference"] = probes.REFERENCE_CONFIG.key
            self.metadata[REFERENCE_FIELD] = probes.time_tflite(
                probes.reference_tflite(), s.repeats, s.warmup, s.num_threads, s.rounds
            )
        method = NETWORK_FIT if s.calibration_networks > 0 else CHAIN_INTERCEPT
        have = _METHOD_RANK.get(self.metadata.get(OVERHEAD_METHOD_FIELD), 0)
        if have == _METHOD_RANK[NETWORK_FIT] and not self._fit_is_current():
            have = 0  # fitted on other calibration networks: fit again
        if have >= _METHOD_RANK[method] or self._fitting:
            return
        if method == CHAIN_INTERCEPT:
            self.metadata[OVERHEAD_FIELD] = probes.network_fixed_cost(
                s.repeats, s.warmup, s.num_threads, s.rounds, self.timing_reference()
            )
        else:
            print(
                f"{self.name}: fitting the per-probe overhead on {s.calibration_networks} whole "
                "networks (once per table)",
                file=sys.stderr,
                flush=True,
            )
            self._fitting = True  # its own missing rows are measured without recursing here
            try:
                children = calibration.calibration_children(s.calibration_networks)
                fit = calibration.fit_probe_overhead(self, children)
            finally:
                self._fitting = False
            self.metadata[OVERHEAD_FIELD] = fit.pop("overhead_ms")
            self.metadata[OVERHEAD_FIT_FIELD] = fit
        self.metadata[OVERHEAD_METHOD_FIELD] = method
        if self.path is not None:
            self.save(self.path)

    def _fit_is_current(self) -> bool:
        fit = self.metadata.get(OVERHEAD_FIT_FIELD) or {}
        return fit.get("children") == calibration.calibration_id()


# -------------------------------------------------------------------------------- measured tables
def open_cache(
    path: str | Path,
    settings: MeasureSettings = MeasureSettings(),
    *,
    device: str = "host",
    base_profile: str = "host",
    progress: bool = True,
) -> MeasuredTable:
    """A table at `path` that measures (and saves) what it lacks with `settings`.

    An existing cache measured with other settings is refused rather than mixed.
    """
    path = Path(path)
    if path.exists():
        table = MeasuredTable.load(path, measure=settings, progress=progress)
        recorded = {k: table.metadata.get(k) for k in settings.as_metadata()}
        if recorded != settings.as_metadata():
            raise LutError(
                f"{path} was measured with {recorded}, not {settings.as_metadata()}; "
                "use those settings, another output file, or delete it"
            )
        table.measure_overhead()  # a cache from before the chain-intercept overhead
        return table
    metadata = {
        "device": device,
        "cpu": cpu_id(),
        "runtime": runtime_description(settings.num_threads),
        **settings.as_metadata(),
        "timing_cpus": probes.timing_cpus(settings.num_threads),
        "base_profile": base_profile,
        "created": _now(),
    }
    return MeasuredTable({}, metadata, path=path, measure=settings, progress=progress)


def host_table(num_threads: int = 1, progress: bool = True) -> MeasuredTable:
    """The `host` profile's table: cached per CPU and thread count, measured on demand.

    `$EDNAS_LUT_CALIBRATION_NETWORKS` sets how many whole networks fit the per-probe overhead
    (default 8; 0 uses the faster, less accurate chain intercept)."""
    networks = int(os.environ.get(CALIBRATION_ENV, calibration.CALIBRATION_NETWORKS))
    return open_cache(
        host_cache_path(num_threads),
        MeasureSettings(num_threads=num_threads, calibration_networks=networks),
        device=f"host ({cpu_id()})",
        base_profile="host",
        progress=progress,
    )


def build_lut(
    space,
    cache_path: str | Path,
    settings: MeasureSettings = MeasureSettings(),
    *,
    device: str = "host",
    base_profile: str | None = None,
    progress: bool = True,
) -> MeasuredTable:
    """Measures what the cache at `cache_path` lacks of `space`'s configurations; the table."""
    table = open_cache(
        cache_path,
        settings,
        device=device,
        base_profile=base_profile or space.profile.name,
        progress=progress,
    )
    convs, blocks = space_configs(space)
    table.prepare([*convs, *blocks])
    return table


# -------------------------------------------------------------------------------- board tables
MANIFEST_COLUMNS = ("key", "kind", "tflite", "onnx", "ms")


def export_probes(space, directory: str | Path, *, progress: bool = True) -> Path:
    """Writes `<key>.tflite` and `<key>.onnx` of every configuration plus `manifest.csv`.

    The manifest's `ms` column is left empty for the board's measurements; the
    `invoke_overhead` row (the smallest network) lets the import correct for per-invoke cost.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    convs, blocks = space_configs(space)
    items: list[Config | str] = [OVERHEAD_KEY, *convs, *blocks]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    for item in tqdm(items, desc="probes", unit="probe", disable=not progress):
        key = item if isinstance(item, str) else item.key
        kind = "overhead" if isinstance(item, str) else probes.config_kind(item)
        model = probes.probe_model(item, space.activation)
        (directory / f"{key}.tflite").write_bytes(probes.to_tflite(model))
        probes.export_onnx(model, directory / f"{key}.onnx")
        writer.writerow([key, kind, f"{key}.tflite", f"{key}.onnx", ""])
    return atomic_write_text(directory / "manifest.csv", out.getvalue())


def import_measurements(
    csv_path: str | Path, space, *, device: str = "board", base_profile: str | None = None
) -> LookupTable:
    """A table from a filled-in manifest (or any `key,ms` CSV) covering every key of `space`."""
    rows, _ = read_measurements(csv_path)
    convs, blocks = space_configs(space)
    missing = [c.key for c in (*convs, *blocks) if c.key not in rows]
    if missing:
        raise MissingLatencyError(missing, f"measurements {csv_path}")
    metadata: dict[str, Any] = {
        "device": device,
        "runtime": "imported board measurements",
        "threads": None,
        "repeats": None,
        "source": str(csv_path),
        "base_profile": base_profile or space.profile.name,
        "created": _now(),
    }
    if OVERHEAD_KEY in rows:
        metadata[OVERHEAD_FIELD] = rows.pop(OVERHEAD_KEY)
    return LookupTable(rows, metadata)
