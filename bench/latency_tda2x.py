"""Analytic TDA2x latency model vs TI's published AM5729 TIDL figures (issue 3).

Prints, per reference network: the builder's MACs vs TI's MMAC, then predicted vs published for
every figure (single EVE, multi-EVE throughput, and the DSP-involving figures), with the relative
error and whether the figure was used to fit the model or only to check it. Target: every EVE
figure within +-15 %. The last line is one JSON object (also bench/results/latency_tda2x.json).

  python bench/latency_tda2x.py                       # the comparison table
  python bench/latency_tda2x.py --refit               # also re-run the fit, compare constants
  python bench/latency_tda2x.py --breakdown=jacintonet11_v2 [--placement=eve]
  python bench/latency_tda2x.py --keras_app=MobileNetV2 [--eve_cores=4] [--image_size=160]
      [--app_kwargs='{"alpha": 0.5}']                 # any tf.keras.applications architecture
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import tensorflow as tf
from absl import flags

from bench import cli
from bench.common import emit
from ednas_tf.cost.layer_desc import describe_keras_model, total_macs
from ednas_tf.cost.tda2x import AnalyticTDA2x, format_breakdown
from ednas_tf.fit.reference_nets import REFERENCE_NETS
from ednas_tf.fit.tda2x import (
    CHECK_NETWORKS,
    FIT_NETWORKS,
    PUBLISHED,
    fit_parameters,
    fitted_constants_text,
    predict_figure,
    reference_descs,
    shipped_vs_fitted,
)

TARGET = 0.15

FV = cli.new_flags()
flags.DEFINE_string(
    "keras_app", None, "tf.keras.applications name, e.g. MobileNetV2.", flag_values=FV
)
flags.DEFINE_integer("image_size", 224, "Input side of --keras_app in pixels.", flag_values=FV)
flags.DEFINE_integer(
    "eve_cores", 1, "EVE cores of the --keras_app throughput.", lower_bound=1, flag_values=FV
)
flags.DEFINE_string(
    "app_kwargs",
    "{}",
    "Extra builder arguments as JSON, e.g. '{\"minimalistic\": true}'.",
    flag_values=FV,
)
flags.DEFINE_enum(
    "breakdown",
    None,
    sorted(REFERENCE_NETS),
    "Per-layer table of one reference network.",
    flag_values=FV,
)
flags.DEFINE_enum("placement", "eve", ["eve", "dsp"], "Core of the --breakdown.", flag_values=FV)
flags.DEFINE_bool(
    "refit",
    False,
    "Re-run fit_parameters() and compare with the shipped constants.",
    flag_values=FV,
)
cli.define_results_name(FV, "latency_tda2x")


def _rel(predicted: float, published: float) -> float:
    """Relative error of a prediction (+0.1: 10 % too slow)."""
    return predicted / published - 1.0


def _mac_table(descs: dict) -> list[str]:
    """Our builders' MACs against TI's: a latency error is only the model's if these agree."""
    lines = [
        "Builders vs TI's published MMAC",
        f"{'network':22s} {'MMAC (builder)':>15s} {'MMAC (TI)':>10s} {'diff':>7s}",
    ]
    for key, net in REFERENCE_NETS.items():
        mmac = total_macs(descs[key]) / 1e6
        ti = f"{net.published_mmac:10.1f}" if net.published_mmac else f"{'-':>10s}"
        diff = f"{100 * _rel(mmac, net.published_mmac):+6.1f}%" if net.published_mmac else ""
        lines.append(f"{net.label:22s} {mmac:15.1f} {ti} {diff:>7s}")
    return lines


def _figure_rows(model: AnalyticTDA2x, descs: dict) -> list[dict]:
    """One row per published figure: what the model predicts for it and how far off."""
    rows = []
    for fig in PUBLISHED:
        predicted = predict_figure(model, fig, descs[fig.net])
        rows.append(
            {
                "net": fig.net,
                "figure": fig.label,
                "role": fig.role,
                "eve_only": fig.eve_only,
                "published": fig.value,
                "predicted": round(predicted, 3),
                "rel_error": round(_rel(predicted, fig.value), 4),
            }
        )
    return rows


def _figure_table(rows: list[dict]) -> list[str]:
    """The rows as text, EVE figures (the target) apart from the DSP ones."""
    lines = [
        f"{'network':22s} {'figure':18s} {'role':6s} {'published':>10s} {'predicted':>10s} "
        f"{'error':>8s}"
    ]
    for section, keep in (
        ("EVE (single core, multi-EVE throughput)", True),
        ("DSP-involving (secondary)", False),
    ):
        lines.append(f"-- {section}")
        for r in (r for r in rows if r["eve_only"] is keep):
            flag = "" if abs(r["rel_error"]) <= TARGET else "  > 15%"
            lines.append(
                f"{REFERENCE_NETS[r['net']].label:22s} {r['figure']:18s} {r['role']:6s} "
                f"{r['published']:10.2f} {r['predicted']:10.2f} {100 * r['rel_error']:+7.1f}%{flag}"
            )
    return lines


def _max_abs(rows: list[dict], **match) -> float:
    """Largest |error| of the rows whose fields equal `match` (NaN when none)."""
    errors = [abs(r["rel_error"]) for r in rows if all(r[k] == v for k, v in match.items())]
    return round(max(errors), 4) if errors else float("nan")


def _summary(rows: list[dict], descs: dict) -> dict:
    """The JSON figures: worst errors per scope, and every figure per network."""
    networks = {
        key: {
            "macs_m": round(total_macs(descs[key]) / 1e6, 1),
            "published_mmac": net.published_mmac,
            "role": "fit" if key in FIT_NETWORKS else "check",
            "figures": [
                {k: r[k] for k in ("figure", "role", "published", "predicted", "rel_error")}
                for r in rows
                if r["net"] == key
            ],
        }
        for key, net in REFERENCE_NETS.items()
    }
    return {
        "max_abs_rel_error": _max_abs(rows, eve_only=True),
        "max_abs_rel_error_eve_fit": _max_abs(rows, eve_only=True, role="fit"),
        "max_abs_rel_error_eve_check": _max_abs(rows, eve_only=True, role="check"),
        "max_abs_rel_error_incl_dsp": _max_abs(rows),
        "scope": "max_abs_rel_error covers single-EVE latencies and multi-EVE throughputs; "
        "*_incl_dsp adds DSP latencies, the EVE+DSP split and 4xEVE+1xDSP",
        "target": TARGET,
        "fit_networks": list(FIT_NETWORKS),
        "check_networks": list(CHECK_NETWORKS),
        "networks": networks,
    }


def run_reference(refit: bool, results_name: str = "latency_tda2x") -> None:
    """The comparison with TI's figures (bench/results/<results_name>.json); `refit` also
    checks that the shipped constants are still what the fit gives."""
    descs = reference_descs()
    model = AnalyticTDA2x()
    print("\n".join(_mac_table(descs)), "\n")
    print(
        f"Fit on: {', '.join(FIT_NETWORKS)} (+ the fit figures marked below); "
        f"check only: {', '.join(CHECK_NETWORKS)}"
    )
    rows = _figure_rows(model, descs)
    print("\n".join(_figure_table(rows)), "\n")
    if refit:
        fitted = fit_parameters(descs)
        diffs = shipped_vs_fitted(fitted)
        print("Refit:\n" + fitted_constants_text(fitted))
        print(
            "shipped constants == refit (4 significant digits)"
            if not diffs
            else "shipped constants differ from the refit:\n  " + "\n  ".join(diffs)
        )
    summary = _summary(rows, descs)
    print(
        f"max |error|: EVE figures {100 * summary['max_abs_rel_error']:.1f}% "
        f"(fit {100 * summary['max_abs_rel_error_eve_fit']:.1f}%, "
        f"check {100 * summary['max_abs_rel_error_eve_check']:.1f}%), "
        f"all figures incl. DSP {100 * summary['max_abs_rel_error_incl_dsp']:.1f}%"
    )
    emit(results_name, summary)


def run_breakdown(net: str, placement: str) -> None:
    """Per-layer costs of one reference network: where a figure's error comes from."""
    descs = reference_descs([net])[net]
    print(f"{REFERENCE_NETS[net].label} on {placement.upper()}")
    print(format_breakdown(AnalyticTDA2x().breakdown(descs, placement)))
    print(
        json.dumps(
            {
                "net": net,
                "placement": placement,
                "ms": round(AnalyticTDA2x().layers_ms(descs, placement), 3),
            }
        )
    )


def run_keras_app(name: str, image_size: int, eve_cores: int, app_kwargs: dict) -> None:
    """The model's estimate for any tf.keras.applications network (no published figure)."""
    builder = getattr(tf.keras.applications, name, None)
    if builder is None:
        cli.error(f"tf.keras.applications has no {name!r}")
    keras_model = builder(weights=None, input_shape=(image_size, image_size, 3), **app_kwargs)
    descs = describe_keras_model(keras_model)
    model = AnalyticTDA2x()
    eve_ms, dsp_ms = model.layers_ms(descs, "eve"), model.layers_ms(descs, "dsp")
    split_ms, split_at = model.split_ms(descs)
    fps = model.throughput_fps(descs, eve_cores=eve_cores)
    print(
        f"{name} {image_size}x{image_size} {app_kwargs or ''}: {len(descs)} TIDL layers, "
        f"{total_macs(descs) / 1e6:.1f} MMAC"
    )
    print(
        f"  1xEVE {eve_ms:.1f} ms | 1xDSP {dsp_ms:.1f} ms | EVE+DSP split {split_ms:.1f} ms "
        f"(DSP from layer {split_at}) | {eve_cores}xEVE {fps:.2f} fps"
    )
    print("Costliest layers on the EVE:")
    print(format_breakdown(model.breakdown(descs, "eve"), top=12))
    print(
        json.dumps(
            {
                "keras_app": name,
                "image_size": image_size,
                "app_kwargs": app_kwargs,
                "mmac": round(total_macs(descs) / 1e6, 1),
                "eve_ms": round(eve_ms, 3),
                "dsp_ms": round(dsp_ms, 3),
                "split_ms": round(split_ms, 3),
                "eve_cores": eve_cores,
                "fps": round(fps, 3),
            }
        )
    )


def _app_kwargs(text: str) -> dict:
    """--app_kwargs as a dict; anything else is one `error:` line, not a traceback."""
    try:
        kwargs = json.loads(text)
    except json.JSONDecodeError as err:
        cli.error(f"--app_kwargs is not JSON ({err}): {text!r}")
    if not isinstance(kwargs, dict):
        cli.error(f"--app_kwargs must be a JSON object, got {text!r}")
    return kwargs


def main(argv: Sequence[str] | None = None) -> None:
    """argv as absl's (argv[0] the program; default sys.argv)."""
    args = cli.parse_args(FV, argv, __doc__)
    if args.keras_app:
        run_keras_app(args.keras_app, args.image_size, args.eve_cores, _app_kwargs(args.app_kwargs))
    elif args.breakdown:
        run_breakdown(args.breakdown, args.placement)
    else:
        run_reference(args.refit, args.results_name)


if __name__ == "__main__":
    main()
