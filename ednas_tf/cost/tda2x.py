"""Analytic latency model of TIDL on TI TDA2x/AM57x: EVE and C66x DSP, one or several cores.

Why analytic: TI publishes only whole-network timings (Processor SDK Linux, TIDL chapter, AM5729
table; docs/TIDL.md), and MACs alone are off by up to 4x (the EVE reaches 21-40 % of its peak on
224x224 classifiers but 81 % on a 1024x512 segmentation net). The model follows how TIDL runs a
layer: the importer fuses convolution + batch norm + ReLU (+ bias, scale) into one TIDL layer
(``layer_desc.py`` drops the fused layers); every TIDL layer then streams its input, output and
weights through DDR with EDMA while the core computes on the tile it already holds, so a layer
takes the longer of the two, plus a fixed set-up cost. One layer on one core, in ms::

    time    = layer_ms + max(compute, memory * (1 + ddr_contention * (cores - 1)))
    memory  = (input + output + weight bytes) / ddr_gbps      8-bit data, one pass through DDR
    compute = MACs / (peak * efficiency[kind])                  the kind's sustained MAC rate
              * (padded_area + sparse_px0) / out_area          TIDL sweeps the padded rows;
                                                               sparse_px0: generic ("sparse")
                                                               and depthwise flows only
              * (1 + taps0 / (kh * kw))                        DSP only: low kernel reuse

Kinds (``layer_kind``): "dense" (TIDL's dense kernel: 1x1 and 3x3 stride-1 convolutions, EVE
only), "sparse" (every other convolution and deconvolution: the generic kernel loops over
weights and vectorises over a block of pixels, so a small map cannot amortise each weight),
"depthwise", "matvec" (fully connected; a 1x1 conv on a 1x1 map), and layers without MACs:
"add" (the element-wise add, costed as folded into the conv that produces its first input: no
set-up, only the second input's bytes; ``fuse_add=False`` costs it as its own TIDL layer, as
TDA2x's TIDL lists it. TI's figures prefer the fused form: leave-one-out error of MobileNetV2
13 % fused, 23 % separate; docs/TIDL.md), "concat" and "softmax" (what they cost on the
core: ``concat_ms_per_mb`` and ``softmax_ms_per_kclass``; the EVE's softmax runs on its
scalar core, docs/TIDL.md), and "pool" (pooling, global pooling, anything else: overhead +
memory).

Depthwise kernel size: TI's figures contain 3x3 depthwise only. Fitted freely, the generic and
depthwise rates both end at the physical bound (every such layer in TI's networks is memory bound
or slowed by the small-map term), so they are set to 1 and each depthwise tap beyond 3x3 runs at
``dw_tap_efficiency`` = the best rate the EVE shows. At high resolution a 3x3 depthwise layer is
then memory bound and a 7x7 one compute bound: at 112x112x32 or 56x56x96 a 7x7 costs ~2.2x a
3x3 (a 5x5 ~1.4x; the earlier additive model: 2.6x and 1.6x), where MACs say 5.4x; on 14x14
and 7x7 maps, where the small-map term rules, 3.0-3.3x. The small-map term adds a fixed number
of pixels' worth of loop set-up to the padded map TIDL sweeps (``sparse_px0``), so a layer on a
smaller map never costs more; as a factor on the padded area (until 2026-12-03) it made a
2x2-map layer dearer than a 7x7 one, and a 64-px network dearer than the same at 224 px.
The figures allow a depthwise rate down to ~0.76 of peak
(``ednas_tf.fit.tda2x.depthwise_rate_floor``); ``UNCERTAINTY["depthwise_large"]`` includes
what that would add.

N concurrent cores share DDR, which stretches each core's memory time. The constants below are
what ``ednas_tf.fit.tda2x.fit_parameters()`` returns (4 significant digits); which of them the
figures can identify, and the leave-one-network-out error, are in docs/TIDL.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ednas_tf.cost.layer_desc import LayerDesc, describe_keras_model

PLACEMENTS = ("eve", "dsp")
KINDS = ("dense", "sparse", "depthwise", "matvec", "add", "concat", "softmax", "pool")
_MAC_KINDS = frozenset({"dense", "sparse", "depthwise", "matvec"})


@dataclass(frozen=True)
class CoreParams:
    """Constants of one core type: hardware facts, fitted values and values set by design (the
    module constants below say which is which). ``eff_dense`` and ``eff_depthwise`` are None on
    a core without TIDL's dense flow (the C66x): there every convolution runs the generic
    kernel at ``eff_sparse``."""

    clock_mhz: float
    macs_per_cycle: int
    eff_sparse: float  # fraction of the peak MAC rate of the generic convolution kernel
    layer_ms: float  # fixed cost of every TIDL layer (EDMA and kernel set-up, control)
    eff_dense: float | None = None  # dense 1x1 / 3x3 stride-1 kernel (EVE)
    eff_depthwise: float | None = None  # 3x3 depthwise, per output (EVE)
    dw_tap_efficiency: float | None = None  # rate of each depthwise tap beyond 3x3 (EVE)
    sparse_px0: float = 0.0  # output pixels at which the generic kernel runs at half speed
    taps0: float = 0.0  # kernel taps at which a convolution runs at half speed (DSP)
    concat_ms_per_mb: float = 0.0  # concatenation, per MB read + written
    softmax_ms_per_kclass: float = 0.0  # softmax, per 1000 classes

    @property
    def peak_macs_per_ms(self) -> float:
        return self.clock_mhz * 1e3 * self.macs_per_cycle

    @property
    def has_dense_flow(self) -> bool:
        return self.eff_dense is not None


# --- Shipped constants ----------------------------------------------------------------------
# Hardware facts: EVE = 16 8-bit MACs/cycle at 650 MHz (10.4 GMAC/s), C66x DSP at 750 MHz
# [SDK]; the C66x does 32 16x16-bit MACs/cycle [C66x]; dense 1xN/3x3 kernels exist on the EVE
# only [DS] (sources in docs/TIDL.md).
# Fitted by ednas_tf.fit.tda2x.fit_parameters() on every figure of its PUBLISHED;
# `python -m bench.latency_tda2x --refit` re-runs the fit and prints any difference.
# Set by design, not fitted: EVE eff_sparse = eff_depthwise = 1, the physical bound: fitted
# freely both end there (every generic-kernel and depthwise layer of TI's networks is memory
# bound, or slowed by the small-map term), so the figures only bound them from below; EVE
# taps0 = 0; dw_tap_efficiency = max(eff_dense, eff_depthwise) (see the module docstring);
# DSP sparse_px0 = 0 (the C66x has no dense flow: a small-map penalty would hit every layer),
# DSP concat and softmax = 0 beyond overhead and DDR time (TI: softmax and
# concat run faster on the DSP, which has floating point).
EVE_PARAMS = CoreParams(
    clock_mhz=650.0, macs_per_cycle=16, eff_sparse=1.0, layer_ms=0.736,
    eff_dense=0.9415, eff_depthwise=1.0, dw_tap_efficiency=1.0, sparse_px0=634.2,
    concat_ms_per_mb=14.85, softmax_ms_per_kclass=64.83,
)
DSP_PARAMS = CoreParams(
    clock_mhz=750.0, macs_per_cycle=32, eff_sparse=0.1042, layer_ms=3.896, taps0=1.434,
)
DDR_GBPS = 1.32
"""Fitted: the DDR bandwidth one core's EDMA streams a layer's data at, GB/s (one AM572x EMIF
peaks at 4.264 GB/s, AM572x datasheet)."""
DDR_CONTENTION = 1.0
"""Fitted (bounds 0..1): stretch of each core's DDR time per extra concurrent core."""

UNCERTAINTY: dict[str, float] = {
    "add": 0.605, "concat": 0.737, "dense": 0.106, "depthwise": 0.574, "depthwise_large": 0.567,
    "matvec": 0.202, "pool": 0.393, "softmax": 0.216, "sparse": 0.203,
}
"""Relative uncertainty of the cost of each layer group (``uncertainty_group``), set from the
spread of the leave-one-network-out refits (and, for depthwise above 3x3, the gap between the
two designs of the per-tap rate): ``ednas_tf.fit.tda2x.layer_uncertainty()``."""


def layer_kind(desc: LayerDesc, core: CoreParams) -> str:
    """How TIDL runs the layer on ``core`` (one of KINDS)."""
    if desc.op == "fc" or (desc.op == "conv" and desc.out_pixels == 1
                           and desc.kernel_h * desc.kernel_w == 1):
        return "matvec"
    if desc.op in ("conv", "deconv", "depthwise"):
        if not core.has_dense_flow:
            return "sparse"
        if desc.op == "depthwise":
            return "depthwise"
        return "dense" if desc.dense_flow_eligible and desc.groups == 1 else "sparse"
    if desc.op in ("add", "concat", "softmax"):
        return desc.op
    return "pool"


def uncertainty_group(desc: LayerDesc, core: CoreParams) -> str:
    """The layer group an uncertainty is recorded for: the kind, with depthwise split at 3x3
    (the largest size TI's figures contain)."""
    kind = layer_kind(desc, core)
    if kind == "depthwise" and desc.kernel_h * desc.kernel_w > 9:
        return "depthwise_large"
    return kind


def _padded_area_factor(desc: LayerDesc) -> float:
    """Computed area over useful area: TIDL stores maps with their padding border and its
    kernels sweep the padded rows, which costs most on small maps with large kernels."""
    if desc.op not in ("conv", "depthwise"):
        return 1.0
    extra_h = (desc.kernel_h - 1) * desc.dilation / desc.stride
    extra_w = (desc.kernel_w - 1) * desc.dilation / desc.stride
    return (desc.out_h + extra_h) * (desc.out_w + extra_w) / desc.out_pixels


@dataclass(frozen=True)
class LayerTable:
    """A layer list as columns, so a network costs a few numpy operations (the fit evaluates
    the model thousands of times); built per core type because the kinds differ."""

    kind: np.ndarray  # index into KINDS
    macs: np.ndarray
    taps: np.ndarray
    padded: np.ndarray
    out_pixels: np.ndarray
    cout: np.ndarray
    bytes_moved: np.ndarray  # input + output + weights
    second_input_bytes: np.ndarray  # what a fused add still reads
    concat_bytes: np.ndarray

    @classmethod
    def of(cls, descs: Sequence[LayerDesc], core: CoreParams) -> LayerTable:
        kinds = [KINDS.index(layer_kind(d, core)) for d in descs]
        return cls(
            kind=np.array(kinds, dtype=np.int64),
            macs=np.array([d.macs for d in descs], dtype=float),
            taps=np.array([d.kernel_h * d.kernel_w for d in descs], dtype=float),
            padded=np.array([_padded_area_factor(d) for d in descs]),
            out_pixels=np.array([d.out_pixels for d in descs], dtype=float),
            cout=np.array([d.cout for d in descs], dtype=float),
            bytes_moved=np.array([d.in_bytes + d.out_bytes + d.weight_bytes for d in descs],
                                 dtype=float),
            second_input_bytes=np.array([d.out_bytes if d.op == "add" else 0 for d in descs],
                                        dtype=float),
            concat_bytes=np.array([d.in_bytes + d.out_bytes for d in descs], dtype=float),
        )

    def is_kind(self, *names: str) -> np.ndarray:
        return np.isin(self.kind, [KINDS.index(n) for n in names])


def _compute_ms(t: LayerTable, core: CoreParams) -> np.ndarray:
    """Per-layer compute time on one core, ms (0 for layers without compute of their own)."""
    peak = core.peak_macs_per_ms
    ms = np.zeros_like(t.macs)
    generic = t.is_kind("sparse")
    ms[generic] = t.macs[generic] / (peak * core.eff_sparse)
    if core.has_dense_flow:
        dense = t.is_kind("dense")
        ms[dense] = t.macs[dense] / (peak * core.eff_dense)
        dw = t.is_kind("depthwise")
        per_output = 9.0 / core.eff_depthwise + (t.taps[dw] - 9.0) / core.dw_tap_efficiency
        ms[dw] = t.macs[dw] / t.taps[dw] * per_output / peak
    conv = t.is_kind("dense", "sparse", "depthwise")
    # Pixels swept per output pixel: the padded map, plus (generic and depthwise flows on the
    # EVE) sparse_px0 pixels' worth of per-weight loop set-up per layer. Additive, not a factor
    # on the padded area, so a layer never costs more on a smaller map.
    swept = t.padded.copy()
    small_map = t.is_kind("sparse", "depthwise") if core.has_dense_flow else np.zeros_like(conv)
    swept[small_map] += core.sparse_px0 / t.out_pixels[small_map]
    ms[conv] *= swept[conv] * (1.0 + core.taps0 / t.taps[conv])
    matvec = t.is_kind("matvec")
    ms[matvec] = t.macs[matvec] / (peak * (core.eff_dense or core.eff_sparse))
    concat = t.is_kind("concat")
    ms[concat] = core.concat_ms_per_mb * t.concat_bytes[concat] / 1e6
    softmax = t.is_kind("softmax")
    ms[softmax] = core.softmax_ms_per_kclass * t.cout[softmax] / 1000.0
    return ms


@dataclass(frozen=True)
class NetTables:
    """A network's layer tables for both core types, built once (a fit costs the same network
    thousands of times)."""

    eve: LayerTable
    dsp: LayerTable
    n_layers: int

    @classmethod
    def of(cls, descs: Sequence[LayerDesc], eve: CoreParams = EVE_PARAMS,
           dsp: CoreParams = DSP_PARAMS) -> NetTables:
        return cls(LayerTable.of(descs, eve), LayerTable.of(descs, dsp), len(descs))

    def __len__(self) -> int:
        return self.n_layers


Layers = Sequence[LayerDesc] | NetTables
"""What the whole-network methods take: layer descriptions, or their tables built once."""


@dataclass(frozen=True)
class LayerCost:
    """A layer's cost split by cause, in ms on one core without DDR contention."""

    overhead_ms: float
    compute_ms: float
    memory_ms: float

    def total(self, contention_factor: float = 1.0) -> float:
        return self.overhead_ms + max(self.compute_ms, self.memory_ms * contention_factor)


@dataclass(frozen=True)
class AnalyticTDA2x:
    """TIDL latency on TDA2x/AM57x (EVE 650 MHz, C66x 750 MHz); defaults are the fitted values.

    ``placement`` is "eve" or "dsp". Latencies are one frame on one core (ms); throughputs are
    frames/s over several cores sharing DDR. ``fuse_add`` costs an element-wise add as folded
    into the convolution before it (what TI's figures favour; the module docstring says why).
    """

    eve: CoreParams = EVE_PARAMS
    dsp: CoreParams = DSP_PARAMS
    ddr_gbps: float = DDR_GBPS
    ddr_contention: float = DDR_CONTENTION
    fuse_add: bool = True

    def core(self, placement: str) -> CoreParams:
        if placement not in PLACEMENTS:
            raise ValueError(f"placement must be one of {PLACEMENTS}, got {placement!r}")
        return self.eve if placement == "eve" else self.dsp

    def table(self, layers: Layers, placement: str = "eve") -> LayerTable:
        if isinstance(layers, NetTables):
            return layers.eve if placement == "eve" else layers.dsp
        return LayerTable.of(layers, self.core(placement))

    def terms(self, table: LayerTable, placement: str = "eve") -> tuple[np.ndarray, ...]:
        """(overhead, compute, memory) per layer, ms on one core without contention."""
        core = self.core(placement)
        memory = table.bytes_moved / (self.ddr_gbps * 1e6)
        overhead = np.full_like(memory, core.layer_ms)
        if self.fuse_add:
            add = table.is_kind("add")
            overhead[add] = 0.0
            memory[add] = table.second_input_bytes[add] / (self.ddr_gbps * 1e6)
        return overhead, _compute_ms(table, core), memory

    def per_layer_ms(self, table: LayerTable, placement: str = "eve",
                     active_cores: int = 1) -> np.ndarray:
        """Each layer's time on one core while ``active_cores`` cores share DDR."""
        overhead, compute, memory = self.terms(table, placement)
        return overhead + np.maximum(compute, memory * self._contention_factor(active_cores))

    def layer_cost(self, desc: LayerDesc, placement: str = "eve") -> LayerCost:
        overhead, compute, memory = self.terms(self.table([desc], placement), placement)
        return LayerCost(float(overhead[0]), float(compute[0]), float(memory[0]))

    def layer_ms(self, desc: LayerDesc, placement: str = "eve") -> float:
        """Latency of one layer on one core, ms."""
        return self.layer_cost(desc, placement).total()

    def layers_ms(self, layers: Layers, placement: str = "eve", active_cores: int = 1) -> float:
        """Latency of a layer sequence on one core while ``active_cores`` cores share DDR."""
        if not len(layers):
            return 0.0
        return float(self.per_layer_ms(self.table(layers, placement), placement,
                                       active_cores).sum())

    def model_ms(self, keras_model, placement: str = "eve") -> float:
        """Single-core latency of a built tf.keras model, ms."""
        return self.layers_ms(describe_keras_model(keras_model), placement)

    def split_ms(self, descs: Layers) -> tuple[float, int]:
        """Best EVE-then-DSP split of one frame (TIDL layer groups): (latency ms, first DSP layer).

        The index is ``len(descs)`` when running everything on the EVE is fastest.
        """
        eve = self._prefix_ms(descs, "eve", 1)
        dsp = self._suffix_ms(descs, "dsp", 1)
        total = eve[1:] + dsp[1:]
        k = int(np.argmin(total))
        return float(total[k]), k + 1

    def throughput_fps(self, descs: Layers, eve_cores: int = 1,
                       dsp_cores: int = 0) -> float:
        """Frames/s with ``eve_cores`` EVEs and ``dsp_cores`` DSPs running concurrently.

        Either each core runs whole frames (TIDL-API "each EO processes a single frame"), or, with
        both core types, each frame runs an EVE layer group then a DSP layer group, pipelined
        ("frame split across EOs"); the better of the two is returned.
        """
        if eve_cores < 0 or dsp_cores < 0 or eve_cores + dsp_cores == 0:
            raise ValueError("need at least one core and no negative core counts")
        active = eve_cores + dsp_cores
        whole = sum(n * 1e3 / self.layers_ms(descs, placement, active)
                    for placement, n in (("eve", eve_cores), ("dsp", dsp_cores)) if n)
        if not (eve_cores and dsp_cores) or len(descs) < 2:
            return whole
        eve = self._prefix_ms(descs, "eve", active)[1:-1]
        dsp = self._suffix_ms(descs, "dsp", active)[1:-1]
        split = np.minimum(eve_cores * 1e3 / eve, dsp_cores * 1e3 / dsp).max()
        return max(whole, float(split))

    def uncertainty_ms(self, descs: Sequence[LayerDesc], placement: str = "eve") -> float:
        """One-sigma-like band of a prediction, ms: each layer's cost times its group's relative
        uncertainty (``UNCERTAINTY``), summed (errors of one group are not independent)."""
        core = self.core(placement)
        per_layer = self.per_layer_ms(self.table(descs, placement), placement)
        return float(sum(ms * UNCERTAINTY.get(uncertainty_group(d, core), 0.0)
                         for d, ms in zip(descs, per_layer)))

    def breakdown(self, descs: Sequence[LayerDesc], placement: str = "eve") -> list[dict]:
        """Per-layer rows (dicts): shape, kind, MMAC, cost by cause and share of the total."""
        core = self.core(placement)
        overhead, compute, memory = self.terms(self.table(descs, placement), placement)
        rows = []
        for i, d in enumerate(descs):
            cost = LayerCost(float(overhead[i]), float(compute[i]), float(memory[i]))
            group = f" g{d.groups}" if d.groups > 1 else ""
            rows.append({
                "name": d.name, "op": d.op, "flow": layer_kind(d, core),
                "shape": f"{d.in_h}x{d.in_w}x{d.cin}>{d.out_h}x{d.out_w}x{d.cout}",
                "kernel": f"{d.kernel_h}x{d.kernel_w}/{d.stride}{group}",
                "mmac": d.macs / 1e6, "overhead_ms": cost.overhead_ms,
                "compute_ms": cost.compute_ms, "memory_ms": cost.memory_ms,
                "total_ms": cost.total(),
            })
        total = sum(r["total_ms"] for r in rows) or 1.0
        for r in rows:
            r["share"] = r["total_ms"] / total
        return rows

    def _contention_factor(self, active_cores: int) -> float:
        return 1.0 + self.ddr_contention * max(active_cores - 1, 0)

    def _prefix_ms(self, descs: Layers, placement: str, active: int) -> np.ndarray:
        """[time of descs[:k] for k in 0..n]."""
        per_layer = self.per_layer_ms(self.table(descs, placement), placement, active)
        return np.concatenate([[0.0], np.cumsum(per_layer)])

    def _suffix_ms(self, descs: Layers, placement: str, active: int) -> np.ndarray:
        """[time of descs[k:] for k in 0..n]."""
        prefix = self._prefix_ms(descs, placement, active)
        return prefix[-1] - prefix


def format_breakdown(rows: list[dict], top: int | None = None) -> str:
    """Plain-text table of ``AnalyticTDA2x.breakdown`` rows (only the ``top`` costliest if set)."""
    shown = sorted(rows, key=lambda r: -r["total_ms"])[:top] if top else rows
    head = (f"{'layer':30s} {'op':11s} {'in>out':24s} {'kernel':11s} {'kind':9s} "
            f"{'MMAC':>8s} {'ovh':>5s} {'comp':>8s} {'mem':>6s} {'ms':>8s} {'%':>5s}")
    lines = [head, "-" * len(head)]
    for r in shown:
        lines.append(
            f"{r['name'][:30]:30s} {r['op']:11s} {r['shape'][:24]:24s} {r['kernel'][:11]:11s} "
            f"{r['flow']:9s} {r['mmac']:8.2f} {r['overhead_ms']:5.2f} {r['compute_ms']:8.2f} "
            f"{r['memory_ms']:6.2f} {r['total_ms']:8.2f} {100 * r['share']:5.1f}"
        )
    total_mmac = sum(r["mmac"] for r in rows)
    total_ms = sum(r["total_ms"] for r in rows)
    lines.append(f"{'total (' + str(len(rows)) + ' layers)':30s} {'':67s}"
                 f"{total_mmac:8.1f} {'':24s}{total_ms:8.2f}")
    return "\n".join(lines)
