"""gates.png and curves.png: what the search's gates and losses did, epoch by epoch.

Headless: the Agg backend is selected before pyplot is imported, so a report renders on a
machine without a display (a server, CI, a container). Each function returns PNG bytes.
"""

from __future__ import annotations

import io
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from ednas_tf.reporting.run_files import CHOICES, as_float, epoch_of, natural_key

STEP_STYLES = {1: ("-", "o"), 2: ("--", "s")}  # line style, marker of search step 1 / 2
OTHER_STEP_STYLE = ("-.", "^")
SEARCH_PANELS = (
    ("loss", ("loss", "arch_loss")),
    ("accuracy", ("acc", "arch_acc", "val_acc")),
    ("latency (ms)", ("expected_latency_ms", "latency_ms")),
    ("temperature", ("temperature",)),
)
ARCH_ONLY = {"arch_loss", "arch_acc", "latency_ms"}  # not measured in weight-only warm-up epochs
TRAIN_PANELS = (("loss", ("loss", "val_loss")), ("accuracy", ("acc", "val_acc")))

# (block, choice) -> option -> step -> [(epoch, probability)]
GateSeries = dict[tuple[str, str], dict[str, dict[int, list[tuple[int, float]]]]]


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _step_offsets(last_epoch: dict[int, int]) -> dict[int, int]:
    """x offset of each step so that step 2's epochs follow step 1's on one axis."""
    offsets, total = {}, 0
    for step in sorted(last_epoch):
        offsets[step] = total
        total += last_epoch[step]
    return offsets


def _mark_steps(ax, offsets: dict[int, int]) -> None:
    for offset in offsets.values():
        if offset:
            ax.axvline(offset, color="0.6", linestyle=":", linewidth=1)


def _gate_series(rows: list[dict[str, str]]) -> tuple[GateSeries, dict[int, int], list[str]]:
    """The probabilities by (block, choice), option and step; each step's last epoch; blocks."""
    series: GateSeries = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    last_epoch: dict[int, int] = defaultdict(int)
    blocks: list[str] = []
    for row in rows:
        step, epoch = int(row["step"]), int(row["epoch"])
        last_epoch[step] = max(last_epoch[step], epoch)
        if row["block"] not in blocks:
            blocks.append(row["block"])
        option = series[(row["block"], row["choice"])][row["option"]]
        option[step].append((epoch, as_float(row["prob"])))
    return series, last_epoch, sorted(blocks, key=natural_key)


def _plot_gate(ax, choice: str, options: dict, offsets: dict[int, int]) -> None:
    """One (block, choice) subplot: a line per option and step, one colour per option."""
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (option, steps) in enumerate(sorted(options.items(), key=lambda o: o[0])):
        for step, points in sorted(steps.items()):
            xs = [offsets[step] + e for e, _ in sorted(points)]
            ys = [p for _, p in sorted(points)]
            style, marker = STEP_STYLES.get(step, OTHER_STEP_STYLE)
            label = option if choice != "skip" else "P(skip)"
            ax.plot(
                xs,
                ys,
                linestyle=style,
                marker=marker,
                markersize=3,
                color=colors[k % len(colors)],
                label=label if step == min(steps) else None,
            )
    _mark_steps(ax, offsets)
    ax.set_ylim(-0.02, 1.02)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6, loc="best", frameon=False)


def plot_gates(rows: list[dict[str, str]]) -> bytes:
    """One small subplot per (block, choice): each option's probability over the epochs."""
    series, last_epoch, blocks = _gate_series(rows)
    choices = [c for c in CHOICES if any((b, c) in series for b in blocks)]
    choices += sorted({c for _, c in series} - set(choices))
    offsets = _step_offsets(last_epoch)
    fig, axes = plt.subplots(
        len(blocks),
        len(choices),
        figsize=(3.2 * len(choices), 1.9 * len(blocks)),
        squeeze=False,
        sharex=True,
    )
    for i, block in enumerate(blocks):
        for j, choice in enumerate(choices):
            ax = axes[i][j]
            options = series.get((block, choice))
            if not options:
                ax.axis("off")
                continue
            _plot_gate(ax, choice, options, offsets)
            ax.set_title(f"{block} {choice}", fontsize=9)
            if i == len(blocks) - 1:
                ax.set_xlabel("epoch", fontsize=8)
    fig.suptitle(
        "gate probabilities per option — step 1: solid, circles; step 2: dashed, squares",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    return _png(fig)


def _warmup_spans(ax, xs: list[float], warm: list[bool]) -> None:
    for x, w in zip(xs, warm):
        if w:
            ax.axvspan(x - 0.5, x + 0.5, color="0.92", zorder=0)


def _plot_search_panel(ax, keys: tuple[str, ...], step: int, history: list[dict], x0: int) -> None:
    """One step's metrics `keys` on one panel; arch-only metrics skip the warm-up epochs."""
    xs = [x0 + epoch_of(h, i) for i, h in enumerate(history)]
    warm = [bool(h.get("warmup")) for h in history]
    _warmup_spans(ax, xs, warm)
    style, marker = STEP_STYLES.get(step, OTHER_STEP_STYLE)
    for n, key in enumerate(keys):
        points = [
            (x, as_float(h.get(key)))
            for x, h, w in zip(xs, history, warm)
            if key in h and not (w and key in ARCH_ONLY)
        ]
        if points:
            ax.plot(
                *zip(*points),
                linestyle=style,
                marker=marker,
                markersize=3,
                color=f"C{n}",
                label=f"{key} (step {step})",
            )


def _plot_search(axes, histories: dict[int, list[dict]]) -> None:
    last = {
        step: max(epoch_of(h, i) for i, h in enumerate(history))
        for step, history in histories.items()
        if history
    }
    offsets = _step_offsets(last)
    for ax, (title, keys) in zip(axes, SEARCH_PANELS):
        for step, history in sorted(histories.items()):
            _plot_search_panel(ax, keys, step, history, offsets.get(step, 0))
        _mark_steps(ax, offsets)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"search {title}", fontsize=10)
        ax.set_xlabel("epoch", fontsize=8)
        ax.legend(fontsize=6, frameon=False)


def _plot_train(axes, history: dict[str, list[float]]) -> None:
    for ax, (title, keys) in zip(axes, TRAIN_PANELS):
        for n, key in enumerate(keys):
            values = history.get(key) or []
            if values:
                epochs = range(1, len(values) + 1)
                ax.plot(epochs, values, marker="o", markersize=3, color=f"C{n}", label=key)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"child training {title}", fontsize=10)
        ax.set_xlabel("epoch", fontsize=8)
        ax.legend(fontsize=7, frameon=False)
    for ax in axes[len(TRAIN_PANELS) :]:
        ax.axis("off")


def plot_curves(histories: dict[int, list[dict]], train_history: dict[str, list[float]]) -> bytes:
    """Search curves (both steps on one epoch axis, grey band = weight-only warm-up, where the
    architecture metrics do not exist), then the child's training curves if it was trained."""
    rows = [r for r, present in (("search", histories), ("train", train_history)) if present]
    fig, axes = plt.subplots(
        len(rows),
        len(SEARCH_PANELS),
        figsize=(4.2 * len(SEARCH_PANELS), 3.2 * len(rows)),
        squeeze=False,
    )
    for row, ax_row in zip(rows, axes):
        if row == "search":
            _plot_search(list(ax_row), histories)
        else:
            _plot_train(list(ax_row), train_history)
    fig.tight_layout()
    return _png(fig)
