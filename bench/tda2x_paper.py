"""The paper's TDA2x ratio: the fastest child of a space within a MACs window, against MobileNetV1.

The E-DNAS paper's table (TDA2x, one configuration for every row) gives MobileNetV1 569 MMAC at
75 ms and its ImageNet network 535 MMAC at 38 ms: 0.51x. `fastest_in_window` looks for the child
of a space with the lowest predicted EVE time whose MACs fall in a window (random children, then
mutations of the best), costing layer descriptions only, no Keras model. `ratios` sets it against
MobileNetV1 in each configuration the paper's figures could mean.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ednas_tf.arch import ArchSpec
from ednas_tf.cost.layer_desc import LayerDesc, total_macs
from ednas_tf.cost.size import arch_layers
from ednas_tf.cost.tda2x import AnalyticTDA2x
from ednas_tf.space import SearchSpace

PAPER = {"mobilenet_v1_mmac": 569, "mobilenet_v1_ms": 75.0, "ednas_mmac": 535, "ednas_ms": 38.0}
PAPER_RATIO = PAPER["ednas_ms"] / PAPER["mobilenet_v1_ms"]


def softmax(classes: int) -> LayerDesc:
    """The classifier's softmax, which our children leave out (the search never changes it)."""
    return LayerDesc("softmax", 1, 1, 1, 1, classes, classes, name="softmax")


@dataclasses.dataclass
class Candidate:
    decisions: dict[str, dict[str, Any]]
    arch: ArchSpec
    mmac: float
    eve_ms: float


def _evaluate(space: SearchSpace, model: AnalyticTDA2x, decisions: dict) -> Candidate:
    arch = space.child(decisions)
    descs = arch_layers(arch)
    return Candidate(decisions, arch, total_macs(descs) / 1e6, model.layers_ms(descs))


def _mutate(space: SearchSpace, decisions: dict, rng: np.random.Generator) -> dict:
    """One to three decisions redrawn (a width group's blocks move together)."""
    fresh = space.random_decisions(rng)
    out = {name: dict(d) for name, d in decisions.items()}
    for _ in range(int(rng.integers(1, 4))):
        block = space.blocks[int(rng.integers(len(space.blocks)))]
        field = ("kernel", "expansion", "skip", "channels")[int(rng.integers(4))]
        if field == "channels" and block.width_group:
            for b in space.blocks:
                if b.width_group == block.width_group:
                    out[b.name]["channels"] = fresh[block.name]["channels"]
        else:
            out[block.name][field] = fresh[block.name][field]
    return out


def fastest_in_window(space: SearchSpace, model: AnalyticTDA2x, mmac_range: tuple[float, float],
                      seed: int = 0, samples: int = 400, generations: int = 30,
                      population: int = 16, progress=None) -> tuple[Candidate | None, int]:
    """The child with the lowest 1xEVE time among those with MACs in ``mmac_range``: ``samples``
    random children, then ``generations`` rounds of mutating the ``population`` best (children
    outside the window rank behind those inside, by their distance to it). Returns the best
    and the number of children costed."""
    rng = np.random.default_rng(seed)
    lo, hi = mmac_range

    def rank(c: Candidate) -> tuple[float, float]:
        miss = max(lo - c.mmac, c.mmac - hi, 0.0)
        return (miss, c.eve_ms)

    pool = [_evaluate(space, model, space.random_decisions(rng)) for _ in range(samples)]
    costed = samples
    for _ in range(generations):
        pool = sorted(pool, key=rank)[:population]
        pool += [_evaluate(space, model, _mutate(space, c.decisions, rng))
                 for c in pool for _ in range(4)]
        costed += 4 * population
        if progress:
            progress()
    best = min(pool, key=rank)
    return (best if rank(best)[0] == 0.0 else None), costed


def ratios(model: AnalyticTDA2x, child: list[LayerDesc], mobilenet_v1: list[LayerDesc],
           classes: int = 1000) -> dict[str, float]:
    """Child / MobileNetV1 time in each configuration the paper's rows could share.

    eve_body: both on one EVE with the softmax on the DSP (TI's EVE+DSP split; our MobileNetV1
    body is the paper's 75 ms within 10 %); eve_full: both wholly on one EVE (TI's 155 ms);
    eve2_throughput: frame time at 2 EVEs, softmax included (13.7 fps = 73 ms); mixed and
    mixed_eve2: the child without a softmax against MobileNetV1 with its EVE softmax, on one
    EVE and at 2 EVEs (different configurations for the two rows).
    """
    body = [d for d in mobilenet_v1 if d.op != "softmax"]
    full_child = [*child, softmax(classes)]
    return {
        "eve_body": model.layers_ms(child) / model.layers_ms(body),
        "eve_full": model.layers_ms(full_child) / model.layers_ms(mobilenet_v1),
        "eve2_throughput": model.throughput_fps(mobilenet_v1, 2)
        / model.throughput_fps(full_child, 2),
        "mixed": model.layers_ms(child) / model.layers_ms(mobilenet_v1),
        "mixed_eve2": model.throughput_fps(mobilenet_v1, 2) / model.throughput_fps(child, 2),
    }


def mac_rate_floor_ms(mmac: float, model: AnalyticTDA2x) -> float:
    """The least time one EVE needs for ``mmac`` MMAC: every MAC at the peak rate, no overhead
    and no data movement. No model that respects the EVE's MAC rate predicts less."""
    return mmac * 1e6 / model.eve.peak_macs_per_ms
