"""One report section per stage of a run: what it produced, or a line saying it has not run.

Each function reads through `RunFiles` (so an unreadable file becomes a note, not a failure) and
returns `document` blocks; none writes anything.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from ednas_tf import rundir
from ednas_tf.reporting.document import Code, Figure, Section, Table, Text, cell
from ednas_tf.reporting.plots import plot_curves, plot_gates
from ednas_tf.reporting.run_files import (
    CHOICES,
    RunFiles,
    as_float,
    gate_rows,
    natural_key,
)

PROBE_HEADERS = ["widths", "blocks unlike the first", "predicted ms", "log p", "score", "kept"]
TIDL_HEADERS = ["format", "model", "profile", "passed", "layers", "failing", "warned", "ops"]
EXPORT_COLUMNS = ["file", "bytes", "max_abs_diff", "top1_agreement", "accuracy", "latency_ms"]
TRIAL_COLUMNS = ["trial_id", "latency_ms", "val_acc", "score", "epochs", "blocks"]


def _probs(values: Any) -> str:
    if isinstance(values, dict):
        return " ".join(f"{k}:{as_float(v):.2f}" for k, v in values.items())
    return "-" if values is None else f"{as_float(values):.2f}"


def _scalars(data: dict) -> list[list[Any]]:
    return [[k, v] for k, v in data.items() if not isinstance(v, (dict, list))]


def _block_table(arch: dict) -> Table:
    """Each block of the child (and each removed block and width group) with its gate probs."""
    probs = arch.get("gate_probs") or {}
    blocks = arch.get("blocks") or []
    names = (arch.get("search") or {}).get("source_blocks") or []
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
        for row in sorted(rows, key=lambda r: natural_key(r[0]))
    ]
    return Table(["block", "block string", *(f"P({c})" for c in choices)], rows)


def _probe_blocks(fit: dict, probed: list[dict]) -> list[Text | Table]:
    """The children that met the latency target, as the search scored them."""
    rows = [
        [
            " ".join(f"{g} {c}" for g, c in (entry.get("widths") or {}).items()),
            ", ".join(f"{b} {code}" for b, code in (entry.get("changed") or {}).items()),
            entry.get("latency_ms"),
            entry.get("log_prob"),
            entry.get("score"),
            bool(entry.get("chosen")),
        ]
        for entry in probed
    ]
    return [
        Text(
            "Children that meet the latency target, scored by "
            f"{fit.get('scored_by', 'supernet val acc')} "
            "(the most probable within one standard error of the best is kept):"
        ),
        Table(PROBE_HEADERS, rows),
    ]


def _provenance_blocks(search: dict) -> list[Text | Table]:
    """How the search derived the child; the probed children get a table of their own."""
    fit = dict(search.get("target_fit") or {})
    probed = fit.pop("probed", [])
    provenance = {**search, **({"target_fit": fit} if fit else {})}
    table = Table(["provenance", "value"], [[k, v] for k, v in provenance.items()])
    return [table, *(_probe_blocks(fit, probed) if probed else [])]


def architecture_section(run: RunFiles, path: Path | None, arch: dict | None) -> Section:
    section = Section("Derived architecture")
    if arch is None or path is None:
        section.blocks.append(Text("No arch.json in this run (the search has not finished)."))
        return section
    latency = arch.get("predicted_latency_ms")
    section.blocks += [
        Text(
            f"{run.rel(path)}: input {arch.get('input_shape')}, {arch.get('num_classes')} classes,"
            f" device {arch.get('device')}, activation {arch.get('activation')}, stem "
            f"{arch.get('stem')}, head {arch.get('head') or '-'}, predicted latency "
            f"{cell(as_float(latency))} ms."
        ),
        _block_table(arch),
    ]
    if arch.get("search"):
        section.blocks += _provenance_blocks(arch["search"])
    return section


def trials_section(run: RunFiles, limit: int) -> Section | None:
    """The tuner baseline's best trials; None when the run is not a tuner run."""
    paths = run.find(rundir.TRIALS_FILE)
    if not paths:
        return None
    rows = run.csv(paths[0])
    counts: dict[str, int] = defaultdict(int)
    for r in rows:
        counts[r.get("status", "?")] += 1
    best = sorted(
        (r for r in rows if r.get("status") == "trained"),
        key=lambda r: -as_float(r.get("score")),
    )[:limit]
    tally = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    text = f"{run.rel(paths[0])}: {len(rows)} trials ({tally}); the best {len(best)} by score:"
    return Section(
        "Tuner trials",
        [
            Text(text),
            Table(TRIAL_COLUMNS, [[r.get(c, "") for c in TRIAL_COLUMNS] for r in best]),
        ],
    )


def train_section(run: RunFiles) -> tuple[Section, dict | None]:
    """The training section and the metrics it read (their history feeds the curves)."""
    section = Section("Training")
    paths = run.find(rundir.TRAIN_METRICS_FILE)
    if not paths:
        section.blocks.append(Text("No train_metrics.json: pipelines/train.py has not run."))
        return section, None
    metrics = run.json(paths[0])
    if not isinstance(metrics, dict):
        section.blocks.append(Text(f"{run.rel(paths[0])} is not a metrics object."))
        return section, None
    section.blocks += [Text(run.rel(paths[0])), Table(["metric", "value"], _scalars(metrics))]
    if isinstance(metrics.get("config"), dict):
        section.blocks.append(Code(json.dumps(metrics["config"])))
    return section, metrics


def qat_section(run: RunFiles) -> Section:
    section = Section("Quantization-aware training")
    rows = []
    for path in run.find(rundir.QAT_METRICS_FILE):
        data = run.json(path)
        if isinstance(data, dict):
            keys = ("float_acc", "qat_acc", "epochs", "steps_per_epoch")
            rows.append([data.get("scheme", path.parent.name), *map(data.get, keys), run.rel(path)])
    if rows:
        headers = ["scheme", "float acc", "QAT acc", "epochs", "steps/epoch", "file"]
        section.blocks.append(Table(headers, rows))
    else:
        section.blocks.append(Text("No qat_metrics.json: pipelines/qat.py has not run."))
    return section


def _export_blocks(run: RunFiles, path: Path, report: dict) -> list[Text | Table | Code]:
    blocks: list[Text | Table | Code] = [
        Text(run.rel(path)),
        Table(["field", "value"], _scalars(report)),
    ]
    formats = report.get("formats") or {}
    if formats:
        rows = [[key, *(entry.get(c) for c in EXPORT_COLUMNS)] for key, entry in formats.items()]
        blocks.append(Table(["format", *EXPORT_COLUMNS], rows))
    for key in ("latency", "tidl"):
        if isinstance(report.get(key), dict):
            blocks.append(Code(f"{key}: {json.dumps(report[key])}"))
    return blocks


def export_section(run: RunFiles) -> Section:
    section = Section("Export")
    paths = run.find(rundir.EXPORT_REPORT_FILE)
    if not paths:
        section.blocks.append(Text("No export_report.json: pipelines/export.py has not run."))
    for path in paths:
        report = run.json(path)
        if isinstance(report, dict):
            section.blocks += _export_blocks(run, path, report)
    return section


def _tidl_row(report: dict) -> list[Any]:
    ops = sorted((report.get("op_counts") or {}).items())
    keys = ("format", "model", "profile", "passed", "num_layers", "num_failures", "num_warnings")
    return [*map(report.get, keys), ", ".join(f"{op} x{n}" for op, n in ops)]


def tidl_section(run: RunFiles) -> Section:
    section = Section("TIDL check")
    paths = run.find(rundir.TIDL_REPORT_FILE)
    if not paths:
        section.blocks.append(Text("No tidl_report.json: the TIDL check has not run."))
    for path in paths:
        data = run.json(path)
        if not isinstance(data, dict):
            continue
        reports = data.get("reports") or []
        section.blocks += [
            Text(f"{run.rel(path)}: passing formats {data.get('passed_formats')}"),
            Table(TIDL_HEADERS, [_tidl_row(r) for r in reports]),
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


def final_epoch_table(histories: dict[int, list[dict]]) -> Table:
    """Each step's last epoch, every metric it logged."""
    last = {step: history[-1] for step, history in sorted(histories.items()) if history}
    keys = sorted({k for h in last.values() for k in h} - {"epoch", "warmup"})
    rows = [[step, len(histories[step]), *(h.get(k) for k in keys)] for step, h in last.items()]
    return Table(["step", "epochs", *keys], rows)


def search_section(run: RunFiles, histories: dict[int, list[dict]]) -> Section:
    section = Section("Search")
    rows = gate_rows(run)
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


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def files_section(run: RunFiles) -> Section:
    rows = [[run.rel(p), _size(p.stat().st_size), p.stat().st_size] for p in run.files]
    total = sum(r[2] for r in rows)
    return Section(
        "Files",
        [
            Text(f"{len(rows)} files, {_size(total)} in all."),
            Table(["file", "size", "bytes"], rows),
        ],
    )


def problems_section(run: RunFiles) -> Section | None:
    """The files that could not be read, when there are any."""
    return Section("Problems reading the run", [Text(n) for n in run.notes]) if run.notes else None
