"""Analytic latency model of TIDL on TI TDA2x/AM57x: EVE and C66x DSP, one or several cores.

Why analytic: TI publishes only whole-network timings (Processor SDK Linux, TIDL chapter, AM5729
table; docs/TIDL.md), and MACs alone are off by up to 4x (the EVE reaches 21-40 % of
its peak on 224x224 classifiers but 81 % on a 1024x512 segmentation net). The per-layer cost has
one term per effect behind that spread; its free constants are fitted to TI's figures by
``ednas_tf.fit.tda2x.fit_parameters()`` and the shipped values are what it returns (4 significant
digits).

One layer on one core (``_layer_terms``), in ms::

    overhead = layer_ms                                  DMA/kernel set-up and control per layer
    compute  = MACs / (peak * efficiency)                sustained MAC rate on large maps
               * padded_area / out_area                  TIDL keeps maps padded in DDR and
                                                         computes over the padded rows
               * (1 + taps0 / (kh * kw))                 low kernel reuse (1x1, depthwise)
               * (1 + sparse_px0 / out_pixels)           sparse flow only (see below)
    memory   = (input + output + weight bytes) / ddr_gbps * (1 + ddr_contention * (N - 1))
    concat   = concat_ms_per_mb * MB moved;  softmax = softmax_ms_per_kclass * classes / 1000
    pool, add, global pool: overhead + memory only

Dense vs sparse flow: TIDL's "dense" convolution kernel exists on the EVE only, for 1x1 and 3x3
stride-1 convolutions (mandatory below 64x64 maps). Every other convolution (stride 2, 5x5/7x7,
grouped, depthwise, deconvolution) runs the "sparse" kernel, which loops over weights and
vectorises over the pixels of a block, so each weight carries a fixed cost that a small map
cannot amortise: at ``out_pixels == sparse_px0`` it runs at half speed (this is what makes
JacintoNet11's grouped 3x3 layers on 7x7 and 14x14 maps so slow). Channel counts enter through
MACs and the weight/activation bytes. N concurrent cores share DDR, which stretches each core's
memory time: multi-core throughput is sub-linear.

Honesty note: 9 constants are fitted on 14 "fit" figures; the other 6 figures are only checked.
The model's form (which terms exist, which are set by design) was chosen with all figures in view.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ednas_tf.cost.layer_desc import LayerDesc, describe_keras_model

PLACEMENTS = ("eve", "dsp")


@dataclass(frozen=True)
class CoreParams:
    """Constants of one core type: hardware facts, fitted values, and values set by design
    (the module constants below say which is which)."""

    clock_mhz: float
    macs_per_cycle: int
    has_dense_flow: bool  # TIDL's dense 1x1/3x3 kernels exist on the EVE only
    efficiency: float  # fraction of the peak MAC rate sustained on large maps
    sparse_px0: float  # output pixels at which the sparse flow runs at half speed
    taps0: float  # kernel taps (kh * kw) at which a convolution runs at half speed
    layer_ms: float  # fixed cost of every TIDL layer
    concat_ms_per_mb: float  # concatenation cost per MB read + written
    softmax_ms_per_kclass: float  # softmax cost per 1000 classes

    @property
    def peak_macs_per_ms(self) -> float:
        return self.clock_mhz * 1e3 * self.macs_per_cycle


# --- Shipped constants ----------------------------------------------------------------------
# Hardware facts: EVE = 16 8-bit MACs/cycle at 650 MHz (10.4 GMAC/s), C66x DSP at 750 MHz
# (TIDL chapter of Processor SDK Linux; docs/TIDL.md); the C66x does 32 16x16-bit MACs/cycle
# (TI C66x CorePac user guide), the rate TIDL's 8-bit DSP kernels can use. The "dense kernels on
# EVE" fact is from the TIDL datasheet (Nov 2019): "dense convolution kernels (1xN and 3x3) on EVE
# to optimize small ROI processing".
#
# Fitted by ednas_tf.fit.tda2x.fit_parameters() on the "fit" figures of its PUBLISHED;
# `bench/latency_tda2x.py --refit` re-runs the fit and prints any difference from these values.
# What the fit says: the EVE sustains ~97 % of its peak on large maps (consistent with 81 %
# overall on JSegNet21, a check net); a TIDL layer costs ~0.6 ms fixed; the sparse flow halves
# its speed at ~420 output pixels (20x20); concat costs ~14 ms/MB on the EVE; softmax on the EVE
# (its scalar core, docs/TIDL.md) costs ~68 ms per 1000 classes, which is what the MobileNetV2
# EVE+DSP figure (78.1 vs 146 ms) demands.
#
# Set by design, not fitted: EVE taps0 = 0 (fitting it gives 0.001: the EVE figures show no
# kernel-reuse effect); DSP sparse_px0 = 0 (the C66x has no dense flow, so the "sparse" penalty
# would hit every layer; fitting it drives it to its lower bound); DSP concat and softmax = 0 beyond
# overhead and DDR time (TI: softmax, flatten and concat run faster on the DSP, which has floating
# point; the four DSP fit figures could not separate these terms from the per-layer overhead).
EVE_PARAMS = CoreParams(
    clock_mhz=650.0, macs_per_cycle=16, has_dense_flow=True,
    efficiency=0.974, sparse_px0=416.5, taps0=0.0, layer_ms=0.6146,
    concat_ms_per_mb=13.66, softmax_ms_per_kclass=68.25,
)
DSP_PARAMS = CoreParams(
    clock_mhz=750.0, macs_per_cycle=32, has_dense_flow=False,
    efficiency=0.06491, sparse_px0=0.0, taps0=0.9351, layer_ms=0.7864,
    concat_ms_per_mb=0.0, softmax_ms_per_kclass=0.0,
)
DDR_GBPS = 4.264
"""Set, not fitted: one AM572x EMIF's peak, 32-bit DDR3 at 1066 MT/s (AM572x datasheet). The
per-core bandwidth and the contention below trade off almost exactly in the fit (only their
combination is observable), so the bandwidth is pinned to its physical upper bound."""
DDR_CONTENTION = 1.0
"""Fitted (bounds 0..1): stretch of each core's DDR time per extra concurrent core. The fit ends at
the bound 1, i.e. concurrent cores' DDR traffic fully serialises."""


def uses_dense_flow(desc: LayerDesc) -> bool:
    """Whether TIDL runs the layer with its dense kernel (no small-map per-weight penalty)."""
    return desc.dense_flow_eligible and desc.groups == 1


def _is_matvec(desc: LayerDesc) -> bool:
    """Fully connected layers, and 1x1 convolutions on a 1x1 map (the same product), stream
    their weights once without spatial tiling: the memory term covers them."""
    return desc.op == "fc" or (desc.out_pixels == 1 and desc.kernel_h * desc.kernel_w == 1)


def _padded_area_factor(desc: LayerDesc) -> float:
    """Computed area over useful area: TIDL stores maps with their padding border and its
    kernels sweep the padded rows, which costs most on small maps with large kernels."""
    if desc.op not in ("conv", "depthwise"):
        return 1.0
    extra_h = (desc.kernel_h - 1) * desc.dilation / desc.stride
    extra_w = (desc.kernel_w - 1) * desc.dilation / desc.stride
    return (desc.out_h + extra_h) * (desc.out_w + extra_w) / desc.out_pixels


@dataclass(frozen=True)
class LayerCost:
    """A layer's cost split by cause, in ms on one core without DDR contention."""

    overhead_ms: float
    compute_ms: float
    memory_ms: float

    def total(self, contention_factor: float = 1.0) -> float:
        return self.overhead_ms + self.compute_ms + self.memory_ms * contention_factor


_MAC_OPS = frozenset({"conv", "depthwise", "deconv", "fc"})


def _mac_ms(desc: LayerDesc, core: CoreParams) -> float:
    ms = desc.macs / (core.peak_macs_per_ms * core.efficiency)
    if _is_matvec(desc):
        return ms
    ms *= _padded_area_factor(desc) * (1.0 + core.taps0 / (desc.kernel_h * desc.kernel_w))
    if not (core.has_dense_flow and uses_dense_flow(desc)):
        ms *= 1.0 + core.sparse_px0 / desc.out_pixels
    return ms


def _layer_terms(desc: LayerDesc, core: CoreParams, ddr_gbps: float) -> LayerCost:
    """Overhead, compute and DDR-traffic time of one layer on one core."""
    memory = (desc.in_bytes + desc.out_bytes + desc.weight_bytes) / (ddr_gbps * 1e6)
    compute = 0.0
    if desc.op in _MAC_OPS:
        compute = _mac_ms(desc, core)
    elif desc.op == "concat":
        compute = core.concat_ms_per_mb * (desc.in_bytes + desc.out_bytes) / 1e6
    elif desc.op == "softmax":
        compute = core.softmax_ms_per_kclass * desc.cout / 1000.0
    return LayerCost(core.layer_ms, compute, memory)


def _flow(desc: LayerDesc, core: CoreParams) -> str:
    if desc.op not in _MAC_OPS:
        return ""
    if _is_matvec(desc):
        return "matvec"
    return "dense" if core.has_dense_flow and uses_dense_flow(desc) else "sparse"


@dataclass(frozen=True)
class AnalyticTDA2x:
    """TIDL latency on TDA2x/AM57x (EVE 650 MHz, C66x 750 MHz); defaults are the fitted values.

    ``placement`` is "eve" or "dsp". Latencies are one frame on one core (ms); throughputs are
    frames/s over several cores sharing DDR.
    """

    eve: CoreParams = EVE_PARAMS
    dsp: CoreParams = DSP_PARAMS
    ddr_gbps: float = DDR_GBPS
    ddr_contention: float = DDR_CONTENTION

    def core(self, placement: str) -> CoreParams:
        if placement not in PLACEMENTS:
            raise ValueError(f"placement must be one of {PLACEMENTS}, got {placement!r}")
        return self.eve if placement == "eve" else self.dsp

    def layer_cost(self, desc: LayerDesc, placement: str = "eve") -> LayerCost:
        return _layer_terms(desc, self.core(placement), self.ddr_gbps)

    def layer_ms(self, desc: LayerDesc, placement: str = "eve") -> float:
        """Latency of one layer on one core, ms."""
        return self.layer_cost(desc, placement).total()

    def layers_ms(self, descs: Iterable[LayerDesc], placement: str = "eve",
                  active_cores: int = 1) -> float:
        """Latency of a layer sequence on one core while ``active_cores`` cores share DDR."""
        factor = self._contention_factor(active_cores)
        return sum(self.layer_cost(d, placement).total(factor) for d in descs)

    def model_ms(self, keras_model, placement: str = "eve") -> float:
        """Single-core latency of a built tf.keras model, ms."""
        return self.layers_ms(describe_keras_model(keras_model), placement)

    def split_ms(self, descs: Sequence[LayerDesc]) -> tuple[float, int]:
        """Best EVE-then-DSP split of one frame (TIDL layer groups): (latency ms, first DSP layer).

        The index is ``len(descs)`` when running everything on the EVE is fastest.
        """
        eve = self._prefix_ms(descs, "eve", 1)
        dsp = self._suffix_ms(descs, "dsp", 1)
        return min((eve[k] + dsp[k], k) for k in range(1, len(descs) + 1))

    def throughput_fps(self, descs: Sequence[LayerDesc], eve_cores: int = 1,
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
        eve = self._prefix_ms(descs, "eve", active)
        dsp = self._suffix_ms(descs, "dsp", active)
        split = max(min(eve_cores * 1e3 / eve[k], dsp_cores * 1e3 / dsp[k])
                    for k in range(1, len(descs)))
        return max(whole, split)

    def breakdown(self, descs: Iterable[LayerDesc], placement: str = "eve") -> list[dict]:
        """Per-layer rows (dicts): shape, flow, MMAC, cost by cause and share of the total."""
        core = self.core(placement)
        rows = []
        for d in descs:
            cost = self.layer_cost(d, placement)
            group = f" g{d.groups}" if d.groups > 1 else ""
            rows.append({
                "name": d.name, "op": d.op, "flow": _flow(d, core),
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

    def _prefix_ms(self, descs: Sequence[LayerDesc], placement: str, active: int) -> list[float]:
        """[time of descs[:k] for k in 0..n]."""
        factor = self._contention_factor(active)
        out = [0.0]
        for d in descs:
            out.append(out[-1] + self.layer_cost(d, placement).total(factor))
        return out

    def _suffix_ms(self, descs: Sequence[LayerDesc], placement: str, active: int) -> list[float]:
        """[time of descs[k:] for k in 0..n]."""
        prefix = self._prefix_ms(descs, placement, active)
        return [prefix[-1] - p for p in prefix]


def format_breakdown(rows: list[dict], top: int | None = None) -> str:
    """Plain-text table of ``AnalyticTDA2x.breakdown`` rows (only the ``top`` costliest if set)."""
    shown = sorted(rows, key=lambda r: -r["total_ms"])[:top] if top else rows
    head = (f"{'layer':30s} {'op':11s} {'in>out':24s} {'kernel':11s} {'flow':6s} "
            f"{'MMAC':>8s} {'ovh':>5s} {'comp':>8s} {'mem':>6s} {'ms':>8s} {'%':>5s}")
    lines = [head, "-" * len(head)]
    for r in shown:
        lines.append(
            f"{r['name'][:30]:30s} {r['op']:11s} {r['shape'][:24]:24s} {r['kernel'][:11]:11s} "
            f"{r['flow']:6s} {r['mmac']:8.2f} {r['overhead_ms']:5.2f} {r['compute_ms']:8.2f} "
            f"{r['memory_ms']:6.2f} {r['total_ms']:8.2f} {100 * r['share']:5.1f}"
        )
    total_mmac = sum(r["mmac"] for r in rows)
    total_ms = sum(r["total_ms"] for r in rows)
    lines.append(f"{'total (' + str(len(rows)) + ' layers)':30s} {'':64s}"
                 f"{total_mmac:8.1f} {'':24s}{total_ms:8.2f}")
    return "\n".join(lines)
