"""Latency probes as TIDL imports them: a frozen graph, its import config and calibration frames.

Why here and not in `ednas_tf.measure`: TDA2x imports TF frozen graphs (and Caffe, ONNX), not
TFLite, so a probe a TDA2x board can time has to go through the deployed model's own export path
(`deploy.merge` for the BN folding and merged kernel, `deploy.export.export_frozen_graph`) and be
checked by `deploy.tidl`; the measure layer may not import deploy. The probe networks themselves
(one per block / stem / head / classifier configuration) are `ednas_tf.measure.probes`'.

Layout written by `export_tidl_probes(space, DIR)`:

    DIR/manifest.csv           key, kind, pb, import_config, tidl_check, ms, cycles
    DIR/tidl_report.json       the TIDL check of every probe
    DIR/<key>/model.pb         the probe's frozen graph (static [1, H, W, C] input)
    DIR/<key>/tidl_import.txt  TIDL import config (modelType 1, the probe's input shape)
    DIR/<key>/sample_in.raw    a few seeded uint8 calibration frames

Each probe has its own folder because the import tool writes `tidl_net.bin` / `tidl_param.bin`
into its working directory. `tools/tidl_board_loop.sh` runs TI's tools over the manifest and
collects the cycles `ednas-build-lut --import_measurements` reads (docs/TIDL.md, "Board loop").
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from deploy import export, tidl
from deploy.merge import merge_probe
from ednas_tf.cost.lut import OVERHEAD_KEY
from ednas_tf.io_utils import atomic_write_text
from ednas_tf.measure import probes
from ednas_tf.measure.tables import space_configs

TIDL_MANIFEST_COLUMNS = ("key", "kind", "pb", "import_config", "tidl_check", "ms", "cycles")
MODEL_FILE = "model.pb"
IMPORT_FILE = "tidl_import.txt"
SAMPLE_FILE = "sample_in.raw"
REPORT_FILE = "tidl_report.json"
OVERHEAD_INPUT = (8, 8, 1)  # the smallest image network TIDL's import takes (one 1x1 conv)


@dataclasses.dataclass
class TidlProbeExport:
    """What `export_tidl_probes` wrote: the manifest, and the keys whose TIDL check failed."""

    manifest: Path
    keys: list[str]
    failed: dict[str, list[str]]  # key -> failing layers ("<layer> (<op>): <reason>")


def tidl_overhead_probe() -> tf.keras.Model:
    """The per-network overhead probe for TIDL: one 1x1 conv + ReLU on an 8x8x1 image.

    The host's overhead probe (one ReLU on one number) is no image network; TIDL's import needs a
    [H, W, C] data layer feeding a TIDL layer, so the smallest importable network stands in."""
    inputs = tf.keras.Input(OVERHEAD_INPUT, batch_size=1, name="x")
    x = tf.keras.layers.Conv2D(1, 1, name="conv")(inputs)
    return tf.keras.Model(inputs, tf.keras.layers.ReLU(name="act")(x), name="probe")


def deploy_probe(item, activation: str) -> tf.keras.Model:
    """The merged (deploy-form) Keras model of a config's probe, or of `OVERHEAD_KEY`."""
    model = tidl_overhead_probe() if item == OVERHEAD_KEY else probes.probe_model(item, activation)
    return merge_probe(model)


def calibration_frames(input_shape, count: int, seed: int = 0) -> np.ndarray:
    """Seeded random uint8 frames [N, H, W, C]: a probe's timing does not depend on content."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, *input_shape), dtype=np.uint8)


def _failing_layers(report: tidl.TidlReport) -> list[str]:
    return [f"{row.name} ({row.op}): {row.reason}" for row in report.failures]


def _export_one(item, key: str, folder: Path, activation: str, device: str, frames: int):
    """Writes one probe's folder; its TIDL report."""
    folder.mkdir(parents=True, exist_ok=True)
    model = deploy_probe(item, activation)
    pb = export.export_frozen_graph(model, folder / MODEL_FILE)
    report = tidl.check_file(pb, device)
    input_shape = tuple(int(d) for d in model.input_shape[1:])
    tidl.write_import_config(
        folder / IMPORT_FILE,
        model_path=MODEL_FILE,
        model_type=1,
        input_shape=input_shape,
        num_sample_in_data=frames,
        sample_in_data=SAMPLE_FILE,
    )
    tidl.write_sample_raw(folder / SAMPLE_FILE, calibration_frames(input_shape, frames))
    return report


def export_tidl_probes(
    space,
    directory: str | Path,
    *,
    device: str = "tda2x",
    frames: int = 2,
    progress: bool = True,
) -> TidlProbeExport:
    """Writes every probe of `space` for TIDL (see the module docstring); flags failing probes.

    A probe whose frozen graph fails `deploy.tidl`'s check (of `device`'s rules) is still
    written, marked `fail` in the manifest's `tidl_check` column and listed in `failed`, so the
    caller can refuse the export naming each one."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    convs, blocks = space_configs(space)
    items = [OVERHEAD_KEY, *convs, *blocks]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TIDL_MANIFEST_COLUMNS)
    reports, failed, keys = {}, {}, []
    for item in tqdm(items, desc="tidl probes", unit="probe", disable=not progress):
        key = item if isinstance(item, str) else item.key
        kind = "overhead" if isinstance(item, str) else probes.config_kind(item)
        report = _export_one(item, key, directory / key, space.activation, device, frames)
        reports[key] = report.to_dict()
        if not report.passed:
            failed[key] = _failing_layers(report)
        status = "pass" if report.passed else "fail"
        writer.writerow([key, kind, f"{key}/{MODEL_FILE}", f"{key}/{IMPORT_FILE}", status, "", ""])
        keys.append(key)
    atomic_write_text(directory / REPORT_FILE, json.dumps(reports, indent=1))
    manifest = atomic_write_text(directory / "manifest.csv", out.getvalue())
    return TidlProbeExport(manifest, keys, failed)
