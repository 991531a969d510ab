"""The Pareto run's verdict: does each E-DNAS child beat every baseline at or below its latency
(measured host or predicted TDA2x: the run's latency key) by `MARGIN`, by how much over the
closest, with what standard error over seeds; and the text table of every model.
"""

from __future__ import annotations

import numpy as np

MARGIN = 0.005  # E-DNAS must beat a baseline by 0.5 pt (accuracies are fractions)


def margin_standard_error(a: dict, b: dict) -> float | None:
    """Standard error (points) of the difference of two models' mean accuracies over seeds;
    None unless both were trained under several seeds."""
    runs_a, runs_b = a.get("test_acc_runs") or [], b.get("test_acc_runs") or []
    if len(runs_a) < 2 or len(runs_b) < 2:
        return None
    var = np.var(runs_a, ddof=1) / len(runs_a) + np.var(runs_b, ddof=1) / len(runs_b)
    return round(100 * float(np.sqrt(var)), 3)


def finished_models(models: list[dict]) -> list[dict]:
    """The models that ran without error and have an accuracy (the verdict's and plot's)."""
    return [m for m in models if not m.get("error") and m.get("test_acc") is not None]


def _row(m: dict, baselines: list[dict], tuners: list[dict], key: str) -> dict:
    """One E-DNAS model's verdict against `baselines` and the `tuners` at its target, placed
    by latency `key`."""
    peers = [b for b in baselines if b[key] <= m[key]]
    beaten = [b["name"] for b in peers if m["test_acc"] >= b["test_acc"] + MARGIN]
    tuner = [t for t in tuners if t["target_ms"] == m["target_ms"]]
    closest = max(peers, key=lambda b: b["test_acc"], default=None)
    return {
        "target_ms": m["target_ms"],
        "ednas": m["name"],
        "ednas_test_acc": m["test_acc"],
        "latency_key": key,
        f"ednas_{key}": m[key],
        "baselines_at_or_below_latency": [b["name"] for b in peers],
        "ednas_beats_all_by_0.5pt": len(beaten) == len(peers),
        "vacuous": not peers,
        "not_beaten": [b["name"] for b in peers if b["name"] not in beaten],
        "closest_baseline": closest and closest["name"],
        "margin_pt": closest and round(100 * (m["test_acc"] - closest["test_acc"]), 3),
        "margin_se_pt": closest and margin_standard_error(m, closest),
        "tuner": tuner[0]["name"] if tuner else None,
        "tuner_test_acc": tuner[0]["test_acc"] if tuner else None,
        f"tuner_{key}": tuner[0][key] if tuner else None,
        "tuner_worse": (tuner[0]["test_acc"] < m["test_acc"]) if tuner else None,
    }


def verdict(models: list[dict], key: str = "host_latency_ms") -> list[dict]:
    """Per E-DNAS model: the baselines at or below its latency `key`, whether it beats each
    by MARGIN (mean accuracies when several seeds ran), and the tuner at its target."""
    ok = [m for m in finished_models(models) if m.get(key) is not None]
    baselines = [m for m in ok if m["family"] == "baseline"]
    tuners = [m for m in ok if m["family"] == "tuner"]
    return [_row(m, baselines, tuners, key) for m in ok if m["family"] == "ednas"]


def verdict_line(v: dict) -> str:
    """One verdict row as the line the run prints."""
    peers = len(v["baselines_at_or_below_latency"])
    return (
        f"target {v['target_ms']:.4g} ms: E-DNAS beats all {peers}"
        f" baselines at <= its latency by 0.5 pt: {v['ednas_beats_all_by_0.5pt']}"
        f" (not beaten: {v['not_beaten']}; margin over the closest, {v['closest_baseline']}:"
        f" {v['margin_pt']} pt, standard error {v['margin_se_pt']}); tuner worse:"
        f" {v['tuner_worse']}"
    )


def _fmt(value, spec: str) -> str:
    """`value` formatted with `spec`; a missing value as "-" at the same width."""
    width = int(spec.split(".")[0].rstrip("df") or 0)
    return "-".rjust(width) if value is None else format(value, spec)


def table(models: list[dict]) -> str:
    """Every model's figures, one line each (a failed one with its error)."""
    head = (
        f"{'name':<22}{'family':<9}{'target':>8}{'test':>8}{'sd pt':>7}{'int8':>8}{'params':>10}"
        f"{'MMACs':>9}{'host ms':>9}{'tda2x ms':>9}{'srch min':>9}{'train min':>10}"
    )
    lines = [head, "-" * len(head)]
    for m in models:
        if m.get("error"):
            lines.append(f"{m['name']:<22}{m['family']:<9}  ERROR {m['error'][:80]}")
            continue
        lines.append(
            f"{m['name']:<22}{m['family']:<9}{_fmt(m['target_ms'], '8.3f')}"
            f"{_fmt(m['test_acc'], '8.4f')}{_fmt(m.get('test_acc_std_pt'), '7.2f')}"
            f"{_fmt(m['int8_acc'], '8.4f')}"
            f"{_fmt(m['params'], '10d')}{_fmt(m['macs'] and m['macs'] / 1e6, '9.2f')}"
            f"{_fmt(m['host_latency_ms'], '9.3f')}{_fmt(m['tda2x_latency_ms'], '9.3f')}"
            f"{_fmt(m['search_minutes'], '9.1f')}{_fmt(m['train_minutes'], '10.1f')}"
        )
    return "\n".join(lines)
