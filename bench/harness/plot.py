"""The Pareto run's figure: test accuracy against measured host and predicted TDA2x latency,
one marker per family, a seed spread as error bars."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
from matplotlib import ticker

from bench.harness.verdict import finished_models

MARKERS = {  # family: (marker, colour, size)
    "ednas": ("*", "tab:red", 160),
    "baseline": ("o", "tab:blue", 50),
    "tuner": ("^", "tab:green", 80),
}
AXES = (
    ("host_latency_ms", "measured host LiteRT latency (ms)"),
    ("tda2x_latency_ms", "predicted TDA2x latency (ms)"),
)


def _family(ax, pts: list[dict], key: str, marker: str, color: str, size: int, label: str):
    """One family's models on `ax`: accuracy (%) against `key`, named, with seed spreads."""
    ax.scatter(
        [m[key] for m in pts],
        [100 * m["test_acc"] for m in pts],
        marker=marker,
        c=color,
        s=size,
        label=label,
    )
    spread_pts = [m for m in pts if m.get("test_acc_std_pt") is not None]
    if spread_pts:  # one standard deviation over training seeds
        ax.errorbar(
            [m[key] for m in spread_pts],
            [100 * m["test_acc"] for m in spread_pts],
            yerr=[m["test_acc_std_pt"] for m in spread_pts],
            fmt="none",
            ecolor=color,
            alpha=0.6,
            capsize=3,
        )
    for m in pts:
        ax.annotate(
            m["name"],
            (m[key], 100 * m["test_acc"]),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
        )


def _axis(ax, models: list[dict], key: str, label: str) -> None:
    """One panel: every family against latency `key` on a log axis."""
    for family, (marker, color, size) in MARKERS.items():
        pts = [m for m in models if m["family"] == family and m.get(key) is not None]
        if pts:
            _family(ax, pts, key, marker, color, size, family)
    ax.set_xscale("log")
    # plain decimals at 1-2-5 steps: log-scale minor labels overlap at this width
    ax.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlabel(label)
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend()


def plot(models: list[dict], path: Path, title: str = "Fashion-MNIST 32 px") -> None:
    """Write the figure to `path` (atomically: a PNG is never left half-written): one panel per
    latency some model has (a --device=tda2x run times nothing on the host)."""
    matplotlib.use("Agg")  # no display on a benchmark machine
    ok = finished_models(models)
    axes_drawn = [(k, label) for k, label in AXES if any(m.get(k) is not None for m in ok)]
    axes_drawn = axes_drawn or AXES[:1]
    fig, axes = plt.subplots(1, len(axes_drawn), figsize=(7 * len(axes_drawn), 6), squeeze=False)
    for ax, (key, label) in zip(axes[0], axes_drawn):
        _axis(ax, ok, key, label)
    fig.suptitle(f"{title}: accuracy vs latency")
    fig.tight_layout()
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".png")
    os.close(fd)
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
