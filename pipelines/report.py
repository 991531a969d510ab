"""Report of a run directory: report.md and a self-contained report.html, plus gates.png and
curves.png beside them.

Renders whatever the run holds — search (arch.json, gates.csv, history.json, per step or not),
tuner (trials.csv), training (train_metrics.json), QAT (qat_metrics.json), export and TIDL reports —
and says what is missing instead of failing, so it can run after any stage. It needs no TensorFlow.

Example:
  python pipelines/report.py --run_dir=runs/demo
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import html
import io
import json
import math
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from absl import app, flags
from matplotlib.ticker import MaxNLocator

from ednas_tf.io_utils import atomic_write_text

FLAGS = flags.FLAGS
flags.DEFINE_string("run_dir", None, "Output directory of a search / tune / train / export run.")
flags.DEFINE_string("output_dir", None, "Where the report goes (default: --run_dir).")
flags.DEFINE_integer("max_trials_shown", 15, "Best tuner trials listed from trials.csv.")

REPORT_FILES = ("report.md", "report.html", "gates.png", "curves.png")
STEP_STYLES = {1: ("-", "o"), 2: ("--", "s")}  # line style, marker of search step 1 / 2
CHOICES = ("kernel", "expansion", "skip", "width")

# ---------------------------------------------------------------------------------------------
# A tiny document model, rendered to Markdown and to HTML from the same content.


@dataclasses.dataclass
class Table:
    headers: list[str]
    rows: list[list[Any]]


@dataclasses.dataclass
class Text:
    text: str


@dataclasses.dataclass
class Code:
    text: str


@dataclasses.dataclass
class Figure:
    filename: str
    png: bytes
    caption: str


@dataclasses.dataclass
class Section:
    title: str
    blocks: list[Table | Text | Code | Figure] = dataclasses.field(default_factory=list)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def render_markdown(title: str, sections: list[Section]) -> str:
    lines = [f"# {title}", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Text):
                lines += [block.text, ""]
            elif isinstance(block, Code):
                lines += ["```", block.text, "```", ""]
            elif isinstance(block, Figure):
                lines += [f"![{block.caption}]({block.filename})", "", f"*{block.caption}*", ""]
            else:
                esc = [[_cell(v).replace("|", "\\|") for v in row] for row in block.rows]
                lines.append("| " + " | ".join(block.headers) + " |")
                lines.append("|" + "---|" * len(block.headers))
                lines += ["| " + " | ".join(row) + " |" for row in esc]
                lines.append("")
    return "\n".join(lines)


_CSS = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.2em;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}th{background:#f0f0f0}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto}img{max-width:100%}
figcaption{font-style:italic;color:#555}"""


def render_html(title: str, sections: list[Section]) -> str:
    """Every image is embedded as base64, so the page is one file that can be mailed around."""
    esc = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
    ]
    for section in sections:
        out.append(f"<h2>{esc(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Text):
                out.append(f"<p>{esc(block.text)}</p>")
            elif isinstance(block, Code):
                out.append(f"<pre>{esc(block.text)}</pre>")
            elif isinstance(block, Figure):
                data = base64.b64encode(block.png).decode("ascii")
                out.append(
                    f'<figure><img alt="{esc(block.caption)}" src="data:image/png;base64,{data}">'
                    f"<figcaption>{esc(block.caption)}</figcaption></figure>"
                )
            else:
                head = "".join(f"<th>{esc(h)}</th>" for h in block.headers)
                out.append(f"<table><tr>{head}</tr>")
                for row in block.rows:
                    out.append("<tr>" + "".join(f"<td>{esc(_cell(v))}</td>" for v in row) + "</tr>")
                out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# Reading the run: every reader returns None when its file is absent and notes unreadable ones.


class Run:
    """The files of a run directory, read leniently."""

    def __init__(self, root: Path, exclude: set[Path]):
        self.root = root
        self.notes: list[str] = []
        self.files = sorted(
            p for p in root.rglob("*") if p.is_file() and p.resolve() not in exclude
        )

    def rel(self, path: Path) -> str:
        return str(path.relative_to(self.root))

    def find(self, name: str) -> list[Path]:
        """Files called `name`, shallowest first (a run's own file before its stages')."""
        return sorted((p for p in self.files if p.name == name), key=lambda p: len(p.parts))

    def json(self, path: Path) -> Any:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as err:
            self.notes.append(f"could not read {self.rel(path)}: {err}")
            return None

    def csv(self, path: Path) -> list[dict[str, str]]:
        try:
            with path.open(newline="") as f:
                return list(csv.DictReader(f))
        except (OSError, csv.Error) as err:
            self.notes.append(f"could not read {self.rel(path)}: {err}")
            return []


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _epoch(entry: dict, index: int) -> int:
    """A history entry's epoch (1-based), its position when it has none."""
    value = entry.get("epoch")
    return value if isinstance(value, int) else index + 1


def _natural_key(name: str) -> list[Any]:
    """s2b10 after s2b9."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def search_histories(run: Run, arch: dict | None) -> dict[int, list[dict]]:
    """Per-epoch metrics by search step: step1/ and step2/ when both ran, else the top level."""
    histories = {}
    for step in (1, 2):
        path = run.root / f"step{step}" / "history.json"
        if path.exists() and isinstance(data := run.json(path), list):
            histories[step] = [h for h in data if isinstance(h, dict)]
    top = run.root / "history.json"
    if not histories and top.exists() and isinstance(data := run.json(top), list):
        search = (arch or {}).get("search")
        step = search.get("step") if isinstance(search, dict) else None
        histories[step if step in (1, 2) else 1] = [h for h in data if isinstance(h, dict)]
    return {step: history for step, history in histories.items() if history}


def _gate_row_ok(row: dict[str, str]) -> bool:
    fields = ("step", "epoch", "block", "choice", "option", "prob")
    return all(row.get(f) not in (None, "") for f in fields) and all(
        str(row[f]).isdigit() for f in ("step", "epoch")
    )


def gate_rows(run: Run) -> list[dict[str, str]]:
    """gates.csv rows of every step (the top-level file holds both steps once the search ends)."""
    top = run.root / "gates.csv"
    paths = [top] if top.exists() else [run.root / f"step{s}" / "gates.csv" for s in (1, 2)]
    rows = []
    for path in paths:
        if path.exists():
            read = run.csv(path)
            kept = [r for r in read if _gate_row_ok(r)]
            rows += kept
            if len(kept) < len(read):
                run.notes.append(f"{run.rel(path)}: skipped malformed rows")
    return rows


# ---------------------------------------------------------------------------------------------
# Plots


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


def plot_gates(rows: list[dict[str, str]]) -> bytes:
    """One small subplot per (block, choice): each option's probability over the epochs."""
    series: dict[tuple[str, str], dict[str, dict[int, list]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    last_epoch: dict[int, int] = defaultdict(int)
    blocks: list[str] = []
    for row in rows:
        step, epoch = int(row["step"]), int(row["epoch"])
        last_epoch[step] = max(last_epoch[step], epoch)
        if row["block"] not in blocks:
            blocks.append(row["block"])
        series[(row["block"], row["choice"])][row["option"]][step].append(
            (epoch, _float(row["prob"]))
        )
    blocks.sort(key=_natural_key)
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
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, block in enumerate(blocks):
        for j, choice in enumerate(choices):
            ax = axes[i][j]
            options = series.get((block, choice))
            if not options:
                ax.axis("off")
                continue
            for k, (option, steps) in enumerate(sorted(options.items(), key=lambda o: o[0])):
                for step, points in sorted(steps.items()):
                    xs = [offsets[step] + e for e, _ in sorted(points)]
                    ys = [p for _, p in sorted(points)]
                    style, marker = STEP_STYLES.get(step, ("-.", "^"))
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
            ax.set_title(f"{block} {choice}", fontsize=9)
            ax.tick_params(labelsize=7)
            ax.legend(fontsize=6, loc="best", frameon=False)
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


SEARCH_PANELS = (
    ("loss", ("loss", "arch_loss")),
    ("accuracy", ("acc", "arch_acc", "val_acc")),
    ("latency (ms)", ("expected_latency_ms", "latency_ms")),
    ("temperature", ("temperature",)),
)
ARCH_ONLY = {"arch_loss", "arch_acc", "latency_ms"}  # not measured in weight-only warm-up epochs


def _plot_search(axes, histories: dict[int, list[dict]]) -> None:
    last = {
        step: max(_epoch(h, i) for i, h in enumerate(history))
        for step, history in histories.items()
        if history
    }
    offsets = _step_offsets(last)
    for ax, (title, keys) in zip(axes, SEARCH_PANELS):
        for step, history in sorted(histories.items()):
            xs = [offsets.get(step, 0) + _epoch(h, i) for i, h in enumerate(history)]
            warm = [bool(h.get("warmup")) for h in history]
            _warmup_spans(ax, xs, warm)
            style, marker = STEP_STYLES.get(step, ("-.", "^"))
            for n, key in enumerate(keys):
                points = [
                    (x, _float(h.get(key)))
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
        _mark_steps(ax, offsets)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"search {title}", fontsize=10)
        ax.set_xlabel("epoch", fontsize=8)
        ax.legend(fontsize=6, frameon=False)


def _plot_train(axes, history: dict[str, list[float]]) -> None:
    panels = (("loss", ("loss", "val_loss")), ("accuracy", ("acc", "val_acc")))
    for ax, (title, keys) in zip(axes, panels):
        for n, key in enumerate(keys):
            values = history.get(key) or []
            if values:
                epochs = range(1, len(values) + 1)
                ax.plot(epochs, values, marker="o", markersize=3, color=f"C{n}", label=key)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"child training {title}", fontsize=10)
        ax.set_xlabel("epoch", fontsize=8)
        ax.legend(fontsize=7, frameon=False)
    for ax in axes[len(panels) :]:
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


# ---------------------------------------------------------------------------------------------
# Sections


def _probs(values: Any) -> str:
    if isinstance(values, dict):
        return " ".join(f"{k}:{_float(v):.2f}" for k, v in values.items())
    return "-" if values is None else f"{_float(values):.2f}"


def architecture_section(run: Run, path: Path | None, arch: dict | None) -> Section:
    section = Section("Derived architecture")
    if arch is None:
        section.blocks.append(Text("No arch.json in this run (the search has not finished)."))
        return section
    probs = arch.get("gate_probs") or {}
    search = arch.get("search") or {}
    blocks = arch.get("blocks") or []
    names = search.get("source_blocks") or []
    if len(names) != len(blocks):
        names = [f"b{i + 1:02d}" for i in range(len(blocks))]
    choices = [c for c in CHOICES if any(c in p for p in probs.values())]
    rows = [[name, block] for name, block in zip(names, blocks)]
    rows += [  # removed blocks, and width groups (one width decision per stage)
        [name, "(width group)" if "width" in probs[name] else "(skipped)"]
        for name in probs
        if name not in names
    ]
    rows = [
        [*row, *(_probs(probs.get(row[0], {}).get(c)) for c in choices)]
        for row in sorted(rows, key=lambda r: _natural_key(r[0]))
    ]
    latency = arch.get("predicted_latency_ms")
    section.blocks += [
        Text(
            f"{run.rel(path)}: input {arch.get('input_shape')}, {arch.get('num_classes')} classes,"
            f" device {arch.get('device')}, activation {arch.get('activation')}, stem "
            f"{arch.get('stem')}, head {arch.get('head') or '-'}, predicted latency "
            f"{_cell(_float(latency))} ms."
        ),
        Table(["block", "block string", *(f"P({c})" for c in choices)], rows),
    ]
    if search:
        fit = dict(search.get("target_fit") or {})
        probed = fit.pop("probed", [])
        provenance = {**search, **({"target_fit": fit} if fit else {})}
        rows = [[k, v] for k, v in provenance.items()]
        section.blocks.append(Table(["provenance", "value"], rows))
        if probed:
            section.blocks += [
                Text(
                    "Children that meet the latency target, scored by "
                    f"{fit.get('scored_by', 'supernet val acc')} "
                    "(the most probable within one standard error of the best is kept):"
                ),
                Table(
                    [
                        "widths",
                        "blocks unlike the first",
                        "predicted ms",
                        "log p",
                        "score",
                        "kept",
                    ],
                    [
                        [
                            " ".join(f"{g} {c}" for g, c in (entry.get("widths") or {}).items()),
                            ", ".join(
                                f"{b} {code}" for b, code in (entry.get("changed") or {}).items()
                            ),
                            entry.get("latency_ms"),
                            entry.get("log_prob"),
                            entry.get("score"),
                            bool(entry.get("chosen")),
                        ]
                        for entry in probed
                    ],
                ),
            ]
    return section


def trials_section(run: Run, limit: int) -> Section | None:
    paths = run.find("trials.csv")
    if not paths:
        return None
    rows = run.csv(paths[0])
    counts = defaultdict(int)
    for r in rows:
        counts[r.get("status", "?")] += 1
    best = sorted(
        (r for r in rows if r.get("status") == "trained"),
        key=lambda r: -_float(r.get("score")),
    )[:limit]
    columns = ["trial_id", "latency_ms", "val_acc", "score", "epochs", "blocks"]
    return Section(
        "Tuner trials",
        [
            Text(
                f"{run.rel(paths[0])}: {len(rows)} trials ("
                + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
                + f"); the best {len(best)} by score:"
            ),
            Table(columns, [[r.get(c, "") for c in columns] for r in best]),
        ],
    )


def _scalars(data: dict) -> list[list[Any]]:
    return [[k, v] for k, v in data.items() if not isinstance(v, (dict, list))]


def train_section(run: Run) -> tuple[Section, dict | None]:
    section = Section("Training")
    paths = run.find("train_metrics.json")
    if not paths:
        section.blocks.append(Text("No train_metrics.json: pipelines/train.py has not run."))
        return section, None
    metrics = run.json(paths[0])
    if not isinstance(metrics, dict):
        section.blocks.append(Text(f"{run.rel(paths[0])} is not a metrics object."))
        return section, None
    section.blocks += [
        Text(run.rel(paths[0])),
        Table(["metric", "value"], _scalars(metrics)),
    ]
    if isinstance(metrics.get("config"), dict):
        section.blocks.append(Code(json.dumps(metrics["config"])))
    return section, metrics


def qat_section(run: Run) -> Section:
    section = Section("Quantization-aware training")
    rows = []
    for path in run.find("qat_metrics.json"):
        data = run.json(path)
        if isinstance(data, dict):
            rows.append(
                [
                    data.get("scheme", path.parent.name),
                    data.get("float_acc"),
                    data.get("qat_acc"),
                    data.get("epochs"),
                    data.get("steps_per_epoch"),
                    run.rel(path),
                ]
            )
    if rows:
        section.blocks.append(
            Table(["scheme", "float acc", "QAT acc", "epochs", "steps/epoch", "file"], rows)
        )
    else:
        section.blocks.append(Text("No qat_metrics.json: pipelines/qat.py has not run."))
    return section


def export_section(run: Run) -> Section:
    section = Section("Export")
    paths = run.find("export_report.json")
    if not paths:
        section.blocks.append(Text("No export_report.json: pipelines/export.py has not run."))
    for path in paths:
        report = run.json(path)
        if not isinstance(report, dict):
            continue
        section.blocks += [Text(run.rel(path)), Table(["field", "value"], _scalars(report))]
        formats = report.get("formats") or {}
        columns = ["file", "bytes", "max_abs_diff", "top1_agreement", "accuracy", "latency_ms"]
        if formats:
            section.blocks.append(
                Table(
                    ["format", *columns],
                    [[key, *(entry.get(c) for c in columns)] for key, entry in formats.items()],
                )
            )
        for key in ("latency", "tidl"):
            if isinstance(report.get(key), dict):
                section.blocks.append(Code(f"{key}: {json.dumps(report[key])}"))
    return section


def tidl_section(run: Run) -> Section:
    section = Section("TIDL check")
    paths = run.find("tidl_report.json")
    if not paths:
        section.blocks.append(Text("No tidl_report.json: the TIDL check has not run."))
    for path in paths:
        data = run.json(path)
        if not isinstance(data, dict):
            continue
        reports = data.get("reports") or []
        section.blocks += [
            Text(f"{run.rel(path)}: passing formats {data.get('passed_formats')}"),
            Table(
                ["format", "model", "profile", "passed", "layers", "failing", "warned", "ops"],
                [
                    [
                        r.get("format"),
                        r.get("model"),
                        r.get("profile"),
                        r.get("passed"),
                        r.get("num_layers"),
                        r.get("num_failures"),
                        r.get("num_warnings"),
                        ", ".join(
                            f"{op} x{n}" for op, n in sorted((r.get("op_counts") or {}).items())
                        ),
                    ]
                    for r in reports
                ],
            ),
        ]
        flagged = [
            [r.get("format"), row.get("status"), row.get("name"), row.get("op"), row.get("reason")]
            for r in reports
            for row in r.get("rows") or []
            if str(row.get("status")).lower() != "pass"  # failing and warned layers
        ]
        if flagged:
            section.blocks.append(Table(["format", "status", "layer", "op", "reason"], flagged))
    return section


def search_section(run: Run, arch: dict | None) -> Section:
    section = Section("Search")
    rows = gate_rows(run)
    histories = search_histories(run, arch)
    if rows:
        section.blocks.append(
            Figure("gates.png", plot_gates(rows), "Gate probabilities per block and choice")
        )
    if histories:
        section.blocks += [Text("Last epoch of each step:"), final_epoch_table(histories)]
    if not section.blocks:
        section.blocks.append(Text("No E-DNAS search outputs (gates.csv, history.json) here."))
    return section


def curves_section(histories: dict[int, list[dict]], train_metrics: dict | None) -> Section:
    section = Section("Curves")
    train_history = (train_metrics or {}).get("history") or {}
    if histories or train_history:
        section.blocks.append(
            Figure(
                "curves.png",
                plot_curves(histories, train_history),
                "Search loss, accuracy, latency and temperature per epoch (grey: weight-only "
                "warm-up); child training curves",
            )
        )
    else:
        section.blocks.append(Text("No history.json or train_metrics.json: nothing to plot."))
    return section


def final_epoch_table(histories: dict[int, list[dict]]) -> Table:
    """Each step's last epoch, every metric it logged."""
    last = {step: history[-1] for step, history in sorted(histories.items()) if history}
    keys = sorted({k for h in last.values() for k in h} - {"epoch", "warmup"})
    rows = [[step, len(histories[step]), *(h.get(k) for k in keys)] for step, h in last.items()]
    return Table(["step", "epochs", *keys], rows)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def files_section(run: Run) -> Section:
    rows = [[run.rel(p), _size(p.stat().st_size), p.stat().st_size] for p in run.files]
    total = sum(r[2] for r in rows)
    return Section(
        "Files",
        [
            Text(f"{len(rows)} files, {_size(total)} in all."),
            Table(["file", "size", "bytes"], rows),
        ],
    )


# ---------------------------------------------------------------------------------------------


def build_report(
    run_dir: str | Path, output_dir: str | Path | None = None, max_trials_shown: int = 15
) -> dict[str, Path]:
    """Writes report.md, report.html and the PNGs; returns their paths."""
    root = Path(run_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"run directory {root} does not exist")
    output = Path(output_dir) if output_dir else root
    output.mkdir(parents=True, exist_ok=True)
    run = Run(root, {(output / name).resolve() for name in REPORT_FILES})

    arch_paths = run.find("arch.json")
    arch_path = arch_paths[0] if arch_paths else None
    arch = run.json(arch_path) if arch_path else None
    arch = arch if isinstance(arch, dict) else None
    sections = [architecture_section(run, arch_path, arch)]
    trials = trials_section(run, max_trials_shown)
    if trials:
        sections.append(trials)

    search = search_section(run, arch)
    train, train_metrics = train_section(run)
    curves = curves_section(search_histories(run, arch), train_metrics)
    sections += [search, curves, train, qat_section(run), export_section(run), tidl_section(run)]
    if run.notes:
        sections.append(Section("Problems reading the run", [Text(n) for n in run.notes]))
    sections.append(files_section(run))

    written: dict[str, Path] = {}
    for block in (*search.blocks, *curves.blocks):
        if isinstance(block, Figure):
            written[block.filename] = output / block.filename
            written[block.filename].write_bytes(block.png)
    title = f"ednas_tf run report: {root.resolve().name}"
    written["report.md"] = atomic_write_text(output / "report.md", render_markdown(title, sections))
    written["report.html"] = atomic_write_text(output / "report.html", render_html(title, sections))
    return written


def main(argv):
    del argv
    if not FLAGS.run_dir:
        print("error: --run_dir is required", file=sys.stderr)
        return 2
    try:
        written = build_report(FLAGS.run_dir, FLAGS.output_dir, FLAGS.max_trials_shown)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print("report: " + ", ".join(str(p) for p in written.values()), flush=True)
    return 0


def run() -> None:
    """Console-script entry point (see pyproject.toml [project.scripts])."""
    app.run(main)


if __name__ == "__main__":
    run()
