"""The analytic TDA2x model fitted to TI's published AM5729 timings, and the figures themselves.

`PUBLISHED` holds every figure TI published for these networks (Processor SDK Linux, TIDL
chapter; docs/TIDL.md). `fit_parameters` sets the free constants of `ednas_tf.cost.tda2x` by
least squares on log-ratios over all of them; with 10 constants and 20 figures the in-sample
error says little, so `leave_one_out` refits without each network's figures and predicts them,
and `layer_uncertainty` turns the spread of those refits into a relative uncertainty per layer
group. `bench/latency_tda2x.py --refit` checks the shipped constants against both.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from scipy.optimize import least_squares

from ednas_tf.cost.layer_desc import LayerDesc, describe_keras_model
from ednas_tf.cost.tda2x import AnalyticTDA2x, NetTables, uncertainty_group
from ednas_tf.fit.reference_nets import REFERENCE_NETS


@dataclass(frozen=True)
class PublishedFigure:
    """One number TI published for AM5729 (Processor SDK Linux, TIDL chapter; docs/TIDL.md).

    kind: "ms" one-frame latency on ``placement``; "split_ms" best EVE+DSP layer-group latency;
    "fps" throughput on ``eve_cores`` EVEs + ``dsp_cores`` DSPs.
    """

    net: str
    kind: str
    value: float
    placement: str = "eve"
    eve_cores: int = 1
    dsp_cores: int = 0

    @property
    def label(self) -> str:
        if self.kind == "ms":
            return f"1x{self.placement.upper()} ms"
        if self.kind == "split_ms":
            return "EVE+DSP split ms"
        dsp = f"+{self.dsp_cores}xDSP" if self.dsp_cores else ""
        return f"{self.eve_cores}xEVE{dsp} fps"

    @property
    def eve_only(self) -> bool:
        """Single-EVE latency or multi-EVE throughput: what the search optimises."""
        return self.placement == "eve" and self.dsp_cores == 0 and self.kind != "split_ms"


def _single_core(net: str, eve_ms: float, dsp_ms: float) -> tuple[PublishedFigure, ...]:
    return (PublishedFigure(net, "ms", eve_ms, "eve"), PublishedFigure(net, "ms", dsp_ms, "dsp"))


PUBLISHED: tuple[PublishedFigure, ...] = (
    *_single_core("mobilenet_v1", 155.0, 717.0),
    *_single_core("mobilenet_v2", 146.0, 409.0),
    *_single_core("squeezenet1_1", 180.0, 434.0),
    *_single_core("inception_v1", 362.0, 1455.0),
    *_single_core("jacintonet11_v2", 181.0, 371.0),
    *_single_core("jsegnet21_v2", 1005.0, 3826.0),
    # TI's "EVE+DSP" MobileNetV2 figure, read as one frame split into an EVE and a DSP layer
    # group: the one figure that separates the EVE cost of the classifier tail (softmax on the
    # EVE's scalar core) from the body.
    PublishedFigure("mobilenet_v2", "split_ms", 78.1),
    PublishedFigure("mobilenet_v1", "fps", 13.7, eve_cores=2),
    PublishedFigure("mobilenet_v1", "fps", 25.05, eve_cores=4),
    PublishedFigure("mobilenet_v2", "fps", 13.5, eve_cores=2),
    PublishedFigure("mobilenet_v2", "fps", 24.8, eve_cores=4),
    PublishedFigure("squeezenet1_1", "fps", 11.0, eve_cores=2),
    PublishedFigure("inception_v1", "fps", 5.46, eve_cores=2),
    PublishedFigure("mobilenet_v1", "fps", 39.1, eve_cores=4, dsp_cores=1),
)


def predict_figure(model: AnalyticTDA2x, fig: PublishedFigure,
                   layers: Sequence[LayerDesc] | NetTables) -> float:
    """The model's value for a published figure, in the figure's unit."""
    if fig.kind == "ms":
        return model.layers_ms(layers, fig.placement)
    if fig.kind == "split_ms":
        return model.split_ms(layers)[0]
    if fig.kind == "fps":
        return model.throughput_fps(layers, fig.eve_cores, fig.dsp_cores)
    raise ValueError(f"unknown figure kind {fig.kind!r}")


def reference_descs(nets: Iterable[str] | None = None) -> dict[str, list[LayerDesc]]:
    """Layer lists of the reference networks (builds the Keras models: a few seconds)."""
    out = {}
    for key in nets or REFERENCE_NETS:
        out[key] = describe_keras_model(REFERENCE_NETS[key].build())
        tf.keras.backend.clear_session()
    return out


FreeParam = tuple[str, str, float, float]
"""(field, placement or "" for AnalyticTDA2x itself, lower bound, upper bound)."""

FREE_PARAMS: tuple[FreeParam, ...] = (
    ("eff_dense", "eve", 0.05, 1.0),
    ("sparse_px0", "eve", 1.0, 1e4),
    ("layer_ms", "eve", 1e-3, 5.0),
    ("concat_ms_per_mb", "eve", 1e-3, 100.0),
    ("softmax_ms_per_kclass", "eve", 1e-2, 500.0),
    ("eff_sparse", "dsp", 0.01, 1.0),
    ("taps0", "dsp", 1e-2, 100.0),
    ("layer_ms", "dsp", 1e-3, 20.0),
    ("ddr_gbps", "", 0.1, 4.264),  # up to one AM572x EMIF's peak (32-bit DDR3-1066)
    ("ddr_contention", "", 1e-4, 1.0),
)


def _value(model: AnalyticTDA2x, name: str, placement: str) -> float:
    return getattr(model.core(placement) if placement else model, name)


def with_design_rules(model: AnalyticTDA2x) -> AnalyticTDA2x:
    """Constants set by design from fitted ones: each depthwise tap beyond 3x3 runs at the best
    MAC rate the EVE shows, dense or depthwise (cost/tda2x.py explains why; TI's figures
    cannot say)."""
    tap = max(model.eve.eff_dense, model.eve.eff_depthwise)
    return dataclasses.replace(model, eve=dataclasses.replace(model.eve, dw_tap_efficiency=tap))


def _model_from(log_values: Sequence[float], free: Sequence[FreeParam]) -> AnalyticTDA2x:
    """The shipped model with the ``free`` fields set to exp(log_values)."""
    fields: dict[str, dict[str, float]] = {"eve": {}, "dsp": {}, "": {}}
    for (name, placement, _, _), value in zip(free, log_values):
        fields[placement][name] = math.exp(value)
    base = AnalyticTDA2x()
    return with_design_rules(dataclasses.replace(
        base,
        eve=dataclasses.replace(base.eve, **fields["eve"]),
        dsp=dataclasses.replace(base.dsp, **fields["dsp"]),
        **fields[""],
    ))


def _tables(descs: dict[str, list[LayerDesc]]) -> dict[str, NetTables]:
    return {net: NetTables.of(layers) for net, layers in descs.items()}


def fit_parameters(descs: dict[str, list[LayerDesc]] | None = None, starts: int = 8,
                   free: Sequence[FreeParam] = FREE_PARAMS,
                   figures: Sequence[PublishedFigure] = PUBLISHED,
                   start_from: AnalyticTDA2x | None = None) -> AnalyticTDA2x:
    """Fit ``free`` by least squares on log(predicted / published) over ``figures``.

    Log-ratios weigh a 10 % miss equally on a 78 ms and a 717 ms figure. Several seeded starts
    guard against local minima (the first is ``start_from``'s values when given, else the middle
    of the bounds); the best is returned.
    """
    descs = descs or reference_descs(sorted({f.net for f in figures}))
    tables = _tables(descs)
    lower = np.log([lo for _, _, lo, _ in free])
    upper = np.log([hi for _, _, _, hi in free])

    def residuals(x: np.ndarray) -> list[float]:
        model = _model_from(x, free)
        return [math.log(predict_figure(model, f, tables[f.net]) / f.value) for f in figures]

    if start_from is not None:
        first = np.clip(np.log([_value(start_from, n, p) for n, p, _, _ in free]), lower, upper)
    else:
        first = lower + 0.5 * (upper - lower)
    rng = np.random.default_rng(0)
    best = None
    for i in range(starts):
        x0 = first if i == 0 else lower + rng.uniform(0.2, 0.8, size=len(free)) * (upper - lower)
        result = least_squares(residuals, x0, bounds=(lower, upper), x_scale="jac")
        if best is None or result.cost < best.cost:
            best = result
    return _model_from(best.x, free)


@dataclass(frozen=True)
class LeaveOneOut:
    """Each network's figures predicted by the model refitted without them."""

    models: dict[str, AnalyticTDA2x]  # network left out -> its refit
    rows: list[dict]  # one per figure: net, figure, published, predicted, rel_error

    def max_abs(self, eve_only: bool) -> float:
        errors = [abs(r["rel_error"]) for r in self.rows if r["eve_only"] or not eve_only]
        return max(errors)

    def per_network(self) -> dict[str, float]:
        """Largest |relative error| of each network's EVE figures."""
        out: dict[str, float] = {}
        for r in self.rows:
            if r["eve_only"]:
                out[r["net"]] = max(out.get(r["net"], 0.0), abs(r["rel_error"]))
        return out


def leave_one_out(descs: dict[str, list[LayerDesc]], full: AnalyticTDA2x,
                  starts: int = 1) -> LeaveOneOut:
    """Refit without each network in turn (starting from ``full``'s values) and predict it."""
    tables = _tables(descs)
    models, rows = {}, []
    for net in sorted({f.net for f in PUBLISHED}):
        kept = [f for f in PUBLISHED if f.net != net]
        model = fit_parameters(descs, starts=starts, figures=kept, start_from=full)
        models[net] = model
        for fig in (f for f in PUBLISHED if f.net == net):
            predicted = predict_figure(model, fig, tables[net])
            rows.append({"net": net, "figure": fig.label, "eve_only": fig.eve_only,
                         "published": fig.value, "predicted": round(predicted, 3),
                         "rel_error": round(predicted / fig.value - 1.0, 4)})
    return LeaveOneOut(models, rows)


def _large_depthwise(descs: dict[str, list[LayerDesc]]) -> list[LayerDesc]:
    """MobileNetV2's depthwise layers at 5x5 and 7x7: the layers TI never timed, for their
    uncertainty."""
    return [dataclasses.replace(d, kernel_h=k, kernel_w=k)
            for d in descs["mobilenet_v2"] if d.op == "depthwise" for k in (5, 7)]


def _group_ms(model: AnalyticTDA2x, layers: list[LayerDesc]) -> dict[str, float]:
    """EVE time of ``layers`` summed per uncertainty group."""
    out: dict[str, float] = {}
    per_layer = model.per_layer_ms(model.table(layers, "eve"), "eve")
    for d, ms in zip(layers, per_layer):
        group = uncertainty_group(d, model.eve)
        out[group] = out.get(group, 0.0) + float(ms)
    return out


def _with_depthwise_rate(model: AnalyticTDA2x, eff: float) -> AnalyticTDA2x:
    """``model`` with every depthwise tap, 3x3 or larger, at ``eff`` of the EVE's peak."""
    return dataclasses.replace(
        model, eve=dataclasses.replace(model.eve, eff_depthwise=eff, dw_tap_efficiency=eff))


def depthwise_rate_floor(descs: dict[str, list[LayerDesc]], model: AnalyticTDA2x,
                         tolerance: float = 0.01) -> float:
    """The lowest depthwise MAC rate (fraction of peak) that moves no EVE figure by more than
    ``tolerance``: TI's figures cannot tell it from ``model``'s, so a 5x5/7x7 depthwise layer,
    which is compute-bound where a 3x3 is not, may cost up to this much more."""
    tables = _tables(descs)
    figures = [f for f in PUBLISHED if f.eve_only]
    base = [predict_figure(model, f, tables[f.net]) for f in figures]

    def moved(eff: float) -> float:
        probe = _with_depthwise_rate(model, eff)
        return max(abs(predict_figure(probe, f, tables[f.net]) / b - 1.0)
                   for f, b in zip(figures, base))

    low, high = 0.01, model.eve.eff_depthwise
    for _ in range(30):  # bisection on log(eff): `moved` falls as the rate rises
        mid = math.sqrt(low * high)
        low, high = (mid, high) if moved(mid) > tolerance else (low, mid)
    return high


def layer_uncertainty(descs: dict[str, list[LayerDesc]], full: AnalyticTDA2x,
                      loo: LeaveOneOut) -> dict[str, float]:
    """Relative uncertainty of each layer group's EVE cost: the largest change of the group's
    summed cost over the reference networks between the full fit and any leave-one-out refit;
    for depthwise above 3x3 plus the rise at the lowest depthwise rate TI's figures allow."""
    large = _large_depthwise(descs)
    layers = [d for net in descs.values() for d in net] + large
    base = _group_ms(full, layers)
    out = {g: 0.0 for g in base}
    for model in loo.models.values():
        for g, ms in _group_ms(model, layers).items():
            out[g] = max(out[g], abs(ms / base[g] - 1.0))
    slow = _with_depthwise_rate(full, depthwise_rate_floor(descs, full))
    out["depthwise_large"] += slow.layers_ms(large) / full.layers_ms(large) - 1.0
    return {g: round(v, 3) for g, v in sorted(out.items())}


def shipped_vs_fitted(fitted: AnalyticTDA2x, rel_tol: float = 5e-4,
                      free: Sequence[FreeParam] = FREE_PARAMS) -> list[str]:
    """Fitted fields whose shipped value differs from ``fitted`` beyond 4-digit rounding."""
    shipped = AnalyticTDA2x()
    diffs = []
    for name, placement, _, _ in free:
        a, b = _value(shipped, name, placement), _value(fitted, name, placement)
        if not math.isclose(a, b, rel_tol=rel_tol):
            diffs.append(f"{placement or 'system'}.{name}: shipped {a:.4g}, fitted {b:.4g}")
    return diffs


def fitted_constants_text(model: AnalyticTDA2x, free: Sequence[FreeParam] = FREE_PARAMS) -> str:
    """The fitted values, 4 significant digits, grouped like the module constants."""
    groups = {"eve": "EVE_PARAMS", "dsp": "DSP_PARAMS", "": "AnalyticTDA2x"}
    return "\n".join(
        f"{label}: " + ", ".join(
            f"{n}={_value(model, n, p):.4g}" for n, p, _, _ in free if p == placement)
        for placement, label in groups.items()
    )
