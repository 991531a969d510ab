"""Per-probe overhead of a measured lookup table, fitted on whole networks.

Each LUT row is the time of a probe timed alone as its own network. Summing the rows of a child
counts, per probe, whatever a layer costs alone beyond its share of a network. On this machine
(LiteRT 2.3.0, XNNPACK, 1 thread) that is about 6 us per probe, nearly constant
(every one of 15 random children within ±5 % once it is removed), while the smallest network
(one ReLU) takes 1.6 us and chains of a 16x16 block have an intercept of 2-4 us;
timing each block behind a 1x1-conv prefix (marginal cost) did not remove it either (MAPE 8.9 % on
16 networks). So the overhead is fitted where it shows: a few random children of the `small`
space are timed whole, and the overhead is the median over them of
(sum of their rows − measured) / (probes − 1) (a network keeps one overhead: see
`ednas_tf.cost.lut`). The children come from seed `CALIBRATION_SEED`; bench/latency_fidelity.py
checks on other children (seed 0), so its figures are held out. A fit records which children it
used (`calibration_id`); a table whose fit used others (e.g. before the host profile dropped 7x7
depthwise kernels) is refitted when opened.
"""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING

import numpy as np

from ednas_tf.arch import ArchSpec
from ednas_tf.cost.network import arch_configs
from ednas_tf.limits import HOST
from ednas_tf.model import build
from ednas_tf.presets import preset_space

if TYPE_CHECKING:  # annotation only: ednas_tf.measure.tables imports this module
    from ednas_tf.measure.tables import MeasuredTable

CALIBRATION_SEED = 1
CALIBRATION_INPUT = (32, 32, 3)
CALIBRATION_NETWORKS = 8


def calibration_id(seed: int = CALIBRATION_SEED) -> str:
    """Names the calibration networks: the space they come from and the seed."""
    kernels = sorted({k for k, _ in HOST.depthwise})
    shape = "x".join(map(str, CALIBRATION_INPUT))
    return f"small {shape} host depthwise {kernels} seed {seed}"


def calibration_children(
    count: int = CALIBRATION_NETWORKS, seed: int = CALIBRATION_SEED
) -> list[ArchSpec]:
    """Random children of the `small` space (host rules, 32x32x3, 10 classes)."""
    space = preset_space("small", input_shape=CALIBRATION_INPUT, num_classes=10, profile=HOST)
    rng = np.random.default_rng(seed)
    return [space.random_child(rng) for _ in range(count)]


def fit_probe_overhead(table: MeasuredTable, children: list[ArchSpec]) -> dict:
    """Times each child whole with the table's settings and fits the per-probe overhead (ms).

    Measures whatever rows the children need first. Returns the overhead and the figures it
    came from (stored in the table's metadata)."""
    if table.measure is None:
        raise ValueError("fitting the probe overhead needs a table that measures on this machine")
    if not children:
        raise ValueError("fitting the probe overhead needs at least one network")
    configs = [[*fixed, *blocks] for fixed, blocks in map(arch_configs, children)]
    table.prepare([c for network in configs for c in network])
    per_probe, sums, measured = [], [], []
    for child, network in zip(children, configs):
        total = sum(table.raw_row(c) for c in network)
        ms = table.time_network(build(child))
        sums.append(total)
        measured.append(ms)
        per_probe.append((total - ms) / max(len(network) - 1, 1))
    overhead = max(statistics.median(per_probe), 0.0)
    return {
        "overhead_ms": overhead,
        "networks": len(children),
        "seed": CALIBRATION_SEED,
        "children": calibration_id(),
        "measured_ms": [round(m, 5) for m in measured],
        "row_sums_ms": [round(s, 5) for s in sums],
    }
