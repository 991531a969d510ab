"""The analytic TDA2x model fitted to TI's published AM5729 timings, and the figures themselves.

`PUBLISHED` holds every figure (Processor SDK Linux, TIDL chapter; docs/TIDL.md) with its role:
"fit" figures set the free constants of `ednas_tf.cost.tda2x` (`fit_parameters`, least squares on
log-ratios), "check" figures are only compared with the prediction. The shipped constants are what
`fit_parameters()` returns; `bench/latency_tda2x.py --refit` re-runs it (`shipped_vs_fitted`).
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
from ednas_tf.cost.tda2x import AnalyticTDA2x
from ednas_tf.fit.reference_nets import REFERENCE_NETS


@dataclass(frozen=True)
class PublishedFigure:
    """One number TI published for AM5729 (Processor SDK Linux, TIDL chapter; docs/TIDL.md).

    kind: "ms" one-frame latency on ``placement``; "split_ms" best EVE+DSP layer-group latency;
    "fps" throughput on ``eve_cores`` EVEs + ``dsp_cores`` DSPs.
    role: "fit" (used by fit_parameters) or "check" (only compared with the prediction).
    """

    net: str
    kind: str
    value: float
    role: str
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
        """Single-EVE latency or multi-EVE throughput: the figures the model is built for."""
        return self.placement == "eve" and self.dsp_cores == 0 and self.kind != "split_ms"


FIT_NETWORKS = ("mobilenet_v1", "mobilenet_v2", "squeezenet1_1", "jacintonet11_v2")
"""Fitted on: each brings an effect the others lack (depthwise; eltwise add and many small layers;
concat and pooling; grouped and 5x5/2 sparse-flow convolutions on small maps)."""
CHECK_NETWORKS = ("inception_v1", "jsegnet21_v2")
"""Only checked: InceptionV1 recombines fitted effects (concat, pooling, 7x7/2, dense convs);
JSegNet21 at 1024x512 extrapolates to large maps, dilation and deconvolution."""


def _single_core(net: str, eve_ms: float, dsp_ms: float) -> tuple[PublishedFigure, ...]:
    role = "fit" if net in FIT_NETWORKS else "check"
    return (PublishedFigure(net, "ms", eve_ms, role, "eve"),
            PublishedFigure(net, "ms", dsp_ms, role, "dsp"))


PUBLISHED: tuple[PublishedFigure, ...] = (
    *_single_core("mobilenet_v1", 155.0, 717.0),
    *_single_core("mobilenet_v2", 146.0, 409.0),
    *_single_core("squeezenet1_1", 180.0, 434.0),
    *_single_core("inception_v1", 362.0, 1455.0),
    *_single_core("jacintonet11_v2", 181.0, 371.0),
    *_single_core("jsegnet21_v2", 1005.0, 3826.0),
    # TI's "EVE+DSP" MobileNetV2 figure, read as one frame split into an EVE and a DSP layer
    # group. It is the one figure that separates the EVE cost of the classifier tail (softmax on
    # the EVE's scalar core) from the body, hence fitted.
    PublishedFigure("mobilenet_v2", "split_ms", 78.1, "fit"),
    PublishedFigure("mobilenet_v1", "fps", 13.7, "fit", eve_cores=2),
    PublishedFigure("mobilenet_v1", "fps", 25.05, "fit", eve_cores=4),
    PublishedFigure("mobilenet_v2", "fps", 13.5, "fit", eve_cores=2),
    PublishedFigure("mobilenet_v2", "fps", 24.8, "fit", eve_cores=4),
    PublishedFigure("squeezenet1_1", "fps", 11.0, "fit", eve_cores=2),
    PublishedFigure("inception_v1", "fps", 5.46, "check", eve_cores=2),
    PublishedFigure("mobilenet_v1", "fps", 39.1, "check", eve_cores=4, dsp_cores=1),
)


def predict_figure(model: AnalyticTDA2x, fig: PublishedFigure,
                   descs: Sequence[LayerDesc]) -> float:
    """The model's value for a published figure, in the figure's unit."""
    if fig.kind == "ms":
        return model.layers_ms(descs, fig.placement)
    if fig.kind == "split_ms":
        return model.split_ms(descs)[0]
    if fig.kind == "fps":
        return model.throughput_fps(descs, fig.eve_cores, fig.dsp_cores)
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
    ("efficiency", "eve", 0.05, 1.0),
    ("sparse_px0", "eve", 1.0, 1e4),
    ("layer_ms", "eve", 1e-3, 5.0),
    ("concat_ms_per_mb", "eve", 1e-3, 100.0),
    ("softmax_ms_per_kclass", "eve", 1e-2, 500.0),
    ("efficiency", "dsp", 0.01, 1.0),
    ("taps0", "dsp", 1e-2, 100.0),
    ("layer_ms", "dsp", 1e-3, 20.0),
    ("ddr_contention", "", 1e-4, 1.0),
)


def _value(model: AnalyticTDA2x, name: str, placement: str) -> float:
    return getattr(model.core(placement) if placement else model, name)


def _model_from(log_values: Sequence[float], free: Sequence[FreeParam]) -> AnalyticTDA2x:
    """The shipped model with the ``free`` fields set to exp(log_values)."""
    fields: dict[str, dict[str, float]] = {"eve": {}, "dsp": {}, "": {}}
    for (name, placement, _, _), value in zip(free, log_values):
        fields[placement][name] = math.exp(value)
    base = AnalyticTDA2x()
    return dataclasses.replace(
        base,
        eve=dataclasses.replace(base.eve, **fields["eve"]),
        dsp=dataclasses.replace(base.dsp, **fields["dsp"]),
        **fields[""],
    )


def fit_parameters(descs: dict[str, list[LayerDesc]] | None = None, starts: int = 8,
                   free: Sequence[FreeParam] = FREE_PARAMS) -> AnalyticTDA2x:
    """Fit ``free`` by least squares on log(predicted / published) over the "fit" figures.

    Log-ratios weigh a 10 % miss equally on a 78 ms and a 717 ms figure. Several seeded starts
    guard against local minima; the best is returned.
    """
    figs = [f for f in PUBLISHED if f.role == "fit"]
    descs = descs or reference_descs(sorted({f.net for f in figs}))
    lower = np.log([lo for _, _, lo, _ in free])
    upper = np.log([hi for _, _, _, hi in free])

    def residuals(x: np.ndarray) -> list[float]:
        model = _model_from(x, free)
        return [math.log(predict_figure(model, f, descs[f.net]) / f.value) for f in figs]

    rng = np.random.default_rng(0)
    best = None
    for i in range(starts):
        frac = 0.5 if i == 0 else rng.uniform(0.2, 0.8, size=len(free))
        result = least_squares(residuals, lower + frac * (upper - lower),
                               bounds=(lower, upper), x_scale="jac")
        if best is None or result.cost < best.cost:
            best = result
    return _model_from(best.x, free)


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
