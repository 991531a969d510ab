"""NAS-Bench-Macro's table: the ground truth our search on its macro space is measured against.

NAS-Bench-Macro (public repository xiusu/NAS-Bench-Macro, file `data/nas-bench-macro_cifar10.json`;
Su et al., "Prioritized Architecture Sampling with Monto-Carlo Tree Search", CVPR 2021,
arXiv 2103.11922) trained every network of an 8-layer macro space on CIFAR-10 three times for
50 epochs. A network is an 8-character code, one digit per searchable layer: `0` identity, `1`
inverted residual with expansion 3 and a 3x3 kernel, `2` expansion 6 and a 5x5 kernel. The table
maps each of the 3^8 = 6,561 codes to `{"test_acc": [3 floats], "mean_acc", "std", "params",
"flops"}` (accuracy in percent; `flops` counts multiply-accumulates).

This module is the table side of the benchmark, pure Python and numpy (no TensorFlow), so a
search's children can be scored, and the figures a search must beat (best, top 1 %, random
sampling) computed, without building a model. `synthetic_table` makes a stand-in of the same
format for tests and quick runs, where the real table is not at hand.
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from scipy import stats

from ednas_tf.io_utils import atomic_write_bytes, read_json

DIGITS = "012"
CODE_LENGTH = 8
N_CODES = len(DIGITS) ** CODE_LENGTH  # 6,561
UNIFORM_CODES = tuple(digit * CODE_LENGTH for digit in DIGITS)  # one operation in every layer
FIELDS = ("test_acc", "mean_acc", "std", "params", "flops")
ENTRY_FIELDS = (("mean_acc", float), ("std", float), ("params", int), ("flops", int))  # -> Entry
EXPECTED_BEST_OF = (1, 10, 100)  # draws of uniform random search the anchors price
TOP_FRACTION = 0.01  # anchors: the top-1 % threshold
OVERLAP_FRACTION = 0.1  # rank_correlation: the top-10 % overlap
SOURCE = "NAS-Bench-Macro (github.com/xiusu/NAS-Bench-Macro, data/nas-bench-macro_cifar10.json)"


class TableError(ValueError):
    """A table that cannot be used; the message is one line naming the file and the fault."""


class Entry(NamedTuple):
    """One network's figures: mean and std (population, over 3 trainings) of test accuracy (%),
    parameter count and multiply-accumulates."""

    mean: float
    std: float
    params: int
    flops: int


def is_code(value: Any) -> bool:
    """Whether `value` is a code of the space: 8 characters, each 0, 1 or 2."""
    return isinstance(value, str) and len(value) == CODE_LENGTH and all(c in DIGITS for c in value)


def all_codes() -> list[str]:
    """Every code of the space, in lexicographic order."""
    return ["".join(digits) for digits in itertools.product(DIGITS, repeat=CODE_LENGTH)]


def expected_best_of(values: Sequence[float], n: int) -> float:
    """Exact expected maximum of `n` uniform draws with replacement from `values`.

    Order statistics of the ascending a_(1..N): P(max = a_(i)) = (i/N)^n - ((i-1)/N)^n, so no
    Monte Carlo error enters the random-search anchor.
    """
    if n < 1 or not len(values):
        raise ValueError(f"expected_best_of needs n >= 1 and values (n={n}, {len(values)} values)")
    ascending = np.sort(np.asarray(values, dtype=float))
    fraction = np.arange(len(ascending) + 1) / len(ascending)
    return float(np.dot(ascending, np.diff(fraction**n)))


def mean_and_se(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and standard error (sd with n-1 over sqrt(n); 0 for one value) over seeds;
    (None, None) for no values."""
    if not len(values):
        return None, None
    array = np.asarray(values, dtype=float)
    se = float(np.std(array, ddof=1) / math.sqrt(len(array))) if len(array) > 1 else 0.0
    return float(array.mean()), se


def _number(source: str, code: str, field: str, value: Any, kind: type) -> Any:
    """`value` as a finite `kind` (float or int); a TableError naming the field otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TableError(f"{source}: field {field} of code {code} is not a number: {value!r}")
    if not math.isfinite(value) or (kind is int and value != int(value)):
        raise TableError(f"{source}: field {field} of code {code} is not a finite {kind.__name__}")
    return kind(value)


def _validated(source: str, data: Any) -> dict[str, Entry]:
    """The table's entries by code; a TableError with one line for the first kind of fault."""
    if not isinstance(data, Mapping) or not data:
        raise TableError(f"{source}: not a table (expected a non-empty object: code -> figures)")
    bad = [key for key in data if not is_code(key)]
    if bad:
        raise TableError(
            f"{source}: {len(bad)} bad code key(s), e.g. {bad[0]!r}: a code is "
            f"{CODE_LENGTH} characters of {', '.join(DIGITS)}"
        )
    entries = {}
    for code in sorted(data):
        record = data[code]
        if not isinstance(record, Mapping):
            raise TableError(f"{source}: the figures of code {code} are not a JSON object")
        missing = [f for f in FIELDS if f not in record]
        if missing:
            raise TableError(f"{source}: code {code} lacks field(s) {', '.join(missing)}")
        runs = record["test_acc"]
        if not isinstance(runs, list) or not runs:
            raise TableError(f"{source}: field test_acc of code {code} is not a list of numbers")
        for value in runs:
            _number(source, code, "test_acc", value, float)
        entries[code] = Entry(
            *(_number(source, code, field, record[field], kind) for field, kind in ENTRY_FIELDS)
        )
    return entries


class NBMacroTable:
    """NAS-Bench-Macro's figures (or a subset of them), indexed for budget queries.

    Codes are kept in lexicographic order; where two networks tie on accuracy, the first code
    in that order is "the best".
    """

    def __init__(self, data: Mapping[str, Mapping[str, Any]], source: str = "table") -> None:
        entries = _validated(source, data)
        self.source = source
        self.codes: list[str] = list(entries)
        self._index = {code: i for i, code in enumerate(self.codes)}
        self.mean = np.array([e.mean for e in entries.values()])
        self.std = np.array([e.std for e in entries.values()])
        self.params = np.array([e.params for e in entries.values()], dtype=np.int64)
        self.flops = np.array([e.flops for e in entries.values()], dtype=np.int64)
        self._ascending = np.sort(self.mean)

    @classmethod
    def load(cls, path: str | Path) -> NBMacroTable:
        """The table in a JSON file; a TableError (one line) when it is missing or unusable."""
        path = Path(path)
        if not path.is_file():
            raise TableError(f"{path}: no such file (the table is {SOURCE})")
        try:
            data = read_json(path)
        except ValueError as err:  # not JSON, or not UTF-8
            raise TableError(str(err)) from None
        return cls(data, source=str(path))

    def __len__(self) -> int:
        return len(self.codes)

    def __contains__(self, code: object) -> bool:
        return code in self._index

    def _position(self, code: str) -> int:
        """`code`'s row; a KeyError saying whether it is malformed or just absent."""
        if code in self._index:
            return self._index[code]
        if not is_code(code):
            raise KeyError(
                f"{code!r} is not a NAS-Bench-Macro code ({CODE_LENGTH} characters of "
                f"{', '.join(DIGITS)})"
            )
        raise KeyError(f"code {code} is not in the table {self.source} ({len(self)} codes)")

    def entry(self, code: str) -> Entry:
        """`code`'s mean and std accuracy (%), params and MACs; KeyError for an unknown code."""
        i = self._position(code)
        return Entry(
            float(self.mean[i]), float(self.std[i]), int(self.params[i]), int(self.flops[i])
        )

    def _within(self, budget_macs: float) -> np.ndarray:
        return self.flops <= budget_macs

    def within(self, budget_macs: float) -> list[str]:
        """The codes whose MACs are at most `budget_macs`, in code order."""
        return [self.codes[i] for i in np.flatnonzero(self._within(budget_macs))]

    def rank(self, code: str) -> int:
        """`code`'s rank by mean accuracy among all networks (1 = best; ties share the best
        rank, competition ranking)."""
        return self._rank_among(self._ascending, self.mean[self._position(code)])

    @staticmethod
    def _rank_among(ascending: np.ndarray, mean: float) -> int:
        """1 + how many of `ascending` are strictly better than `mean`."""
        return 1 + len(ascending) - int(np.searchsorted(ascending, mean, side="right"))

    def _best(self, mask: np.ndarray) -> int | None:
        """Row of the most accurate network under `mask` (first code on a tie), or None."""
        rows = np.flatnonzero(mask)
        return int(rows[np.argmax(self.mean[rows])]) if len(rows) else None

    def anchors(self, budget_macs: float) -> dict[str, Any]:
        """What a search under `budget_macs` MACs is measured against: the best network within
        it, the top-1 % threshold (accuracy of the floor(0.01 N)-th best of the N within), the
        median, the exact expected best of n uniform random draws, and the best uniform
        network (all eight layers alike). Accuracies in %; None where nothing fits."""
        mask = self._within(budget_macs)
        values = self.mean[mask]
        count = len(values)
        top_rank = max(1, math.floor(TOP_FRACTION * count))
        best = self._best(mask)
        uniform = self._best(mask & np.isin(self.codes, UNIFORM_CODES))
        descending = np.sort(values)[::-1]
        return {
            "budget_macs": budget_macs,
            "budget_mmacs": budget_macs / 1e6,
            "n_within": count,
            "best_code": None if best is None else self.codes[best],
            "best_acc": None if best is None else float(self.mean[best]),
            "best_mmacs": None if best is None else float(self.flops[best]) / 1e6,
            "top1pct_rank": top_rank if count else None,
            "top1pct_acc": float(descending[top_rank - 1]) if count else None,
            "median_acc": float(np.median(values)) if count else None,
            **{
                f"expected_best_of_{n}": expected_best_of(values, n) if count else None
                for n in EXPECTED_BEST_OF
            },
            "best_uniform_code": None if uniform is None else self.codes[uniform],
            "best_uniform_acc": None if uniform is None else float(self.mean[uniform]),
            "best_uniform_mmacs": None if uniform is None else float(self.flops[uniform]) / 1e6,
        }

    def score(self, code: str, budget_macs: float) -> dict[str, Any]:
        """How good a searched child `code` is under `budget_macs`: its figures, its rank among
        all networks and among those within the budget (None when outside it), and its regret
        (best accuracy within the budget minus its own, in points; None when nothing fits)."""
        entry = self.entry(code)
        mask = self._within(budget_macs)
        inside = entry.flops <= budget_macs
        best = self._best(mask)
        return {
            "code": code,
            "budget_macs": budget_macs,
            "mean_acc": entry.mean,
            "std": entry.std,
            "params": entry.params,
            "flops": entry.flops,
            "mmacs": entry.flops / 1e6,
            "within_budget": bool(inside),
            "rank": self.rank(code),
            "n_total": len(self),
            "rank_within": (
                self._rank_among(np.sort(self.mean[mask]), entry.mean) if inside else None
            ),
            "n_within": int(mask.sum()),
            "regret": None if best is None else float(self.mean[best]) - entry.mean,
        }

    def rank_correlation(
        self, codes: Sequence[str], supernet_scores: Sequence[float]
    ) -> dict[str, Any]:
        """How well `supernet_scores` rank the sampled `codes` by their true mean accuracy:
        Kendall tau-b, Spearman, and how many of the top 10 % by accuracy (k = ceil(0.1 n)
        codes; ties at the cut-off go to the earlier code in `codes`) are in the top 10 % by
        score."""
        if len(codes) != len(supernet_scores):
            raise ValueError(f"{len(codes)} codes but {len(supernet_scores)} scores")
        if len(set(codes)) != len(codes) or len(codes) < 2:
            raise ValueError("rank_correlation needs at least two codes, each once")
        truth = self.mean[[self._position(code) for code in codes]]
        scores = np.asarray(supernet_scores, dtype=float)
        tau = stats.kendalltau(truth, scores)  # tau-b: ties counted in both lists
        rho = stats.spearmanr(truth, scores)
        k = math.ceil(OVERLAP_FRACTION * len(codes))

        def top(values: np.ndarray) -> set[int]:
            return set(np.argsort(-values, kind="stable")[:k].tolist())

        return {
            "n": len(codes),
            "kendall_tau": float(tau.statistic),
            "kendall_p": float(tau.pvalue),
            "spearman": float(rho.statistic),
            "spearman_p": float(rho.pvalue),
            "top10pct_k": k,
            "top10pct_overlap": len(top(truth) & top(scores)),
        }


def per_budget_summary(runs: Iterable[Mapping[str, Any]], budget_macs: float) -> dict[str, Any]:
    """Mean and standard error over seeds of the `score` dicts in `runs` made under
    `budget_macs` (others are skipped): true accuracy and regret over every run, rank within the
    budget over the runs that fit it, and how many fit."""
    picked = [run for run in runs if run["budget_macs"] == budget_macs]
    if not picked:
        raise ValueError(f"no runs scored under a budget of {budget_macs:g} MACs")
    acc_mean, acc_se = mean_and_se([run["mean_acc"] for run in picked])
    regret_mean, regret_se = mean_and_se(
        [run["regret"] for run in picked if run["regret"] is not None]
    )
    ranks = [run["rank_within"] for run in picked if run["within_budget"]]
    rank_mean, rank_se = mean_and_se(ranks)
    return {
        "budget_macs": budget_macs,
        "budget_mmacs": budget_macs / 1e6,
        "n_runs": len(picked),
        "n_within": len(ranks),
        "acc_mean": acc_mean,
        "acc_se": acc_se,
        "regret_mean": regret_mean,
        "regret_se": regret_se,
        "rank_within_mean": rank_mean,
        "rank_within_se": rank_se,
    }


def synthetic_table(
    macs_of: Callable[[str], float], params_of: Callable[[str], int], seed: int = 0
) -> dict[str, dict[str, Any]]:
    """A complete 6,561-code table in NAS-Bench-Macro's JSON format, for tests and quick runs.

    The caller's `macs_of`/`params_of` (our model's counts) give the costs. Accuracy rises
    smoothly with log MACs (from about 87 % to 93 %, saturating at both ends), plus a seeded
    effect of each digit at each position and seeded noise, so a search has more than MACs to
    find and budgets have distinct best, top-1 % and median networks; test_acc is three seeded
    trainings around each mean.
    """
    rng = np.random.default_rng(seed)
    codes = all_codes()
    macs = np.array([float(macs_of(code)) for code in codes])
    if not np.all(np.isfinite(macs) & (macs > 0)):
        raise ValueError("synthetic_table: macs_of must give positive finite MACs for every code")
    log_macs = np.log(macs)
    spread = log_macs.std()
    z = (log_macs - log_macs.mean()) / spread if spread > 0 else np.zeros_like(log_macs)
    rising = 90.0 + 3.0 * np.tanh(0.8 * z)  # saturates at both ends, as the real table does
    effect = rng.normal(0.0, 0.5, size=(CODE_LENGTH, len(DIGITS)))
    digits = np.array([[DIGITS.index(c) for c in code] for code in codes])
    centre = (
        rising
        + effect[np.arange(CODE_LENGTH), digits].sum(axis=1)
        + rng.normal(0.0, 0.3, size=len(codes))
    )
    runs = centre[:, None] + rng.normal(0.0, 0.2, size=(len(codes), 3))
    return {
        code: {
            "test_acc": [float(v) for v in row],
            "mean_acc": float(row.mean()),
            "std": float(row.std()),  # NAS-Bench-Macro's std is the population one (ddof 0)
            "params": int(params_of(code)),
            "flops": int(round(m)),
        }
        for code, row, m in zip(codes, runs, macs)
    }


SEED_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
BUDGET_COLOURS = ("tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:brown")


def plot(
    table: NBMacroTable,
    budgets_macs: Sequence[float],
    children: Sequence[tuple[int, float, str]],
    path: str | Path,
) -> Path:
    """Every network's accuracy against MMACs (grey), each budget as a dashed line with the best
    network within it starred, and searched `children` as (seed, budget, code): colour by
    budget, marker by seed. Written atomically, so a reader never sees half a figure."""
    budgets = sorted({*budgets_macs, *(budget for _, budget, _ in children)})
    colour = {b: BUDGET_COLOURS[i % len(BUDGET_COLOURS)] for i, b in enumerate(budgets)}
    seeds = sorted({seed for seed, _, _ in children})
    marker = {s: SEED_MARKERS[i % len(SEED_MARKERS)] for i, s in enumerate(seeds)}

    figure = Figure(figsize=(9, 6))
    FigureCanvasAgg(figure)  # headless: Agg renders without a display or pyplot's state
    ax = figure.subplots()
    ax.scatter(table.flops / 1e6, table.mean, s=4, c="0.75", label=f"all {len(table)} networks")
    for budget in budgets:
        anchors = table.anchors(budget)
        ax.axvline(budget / 1e6, color=colour[budget], linestyle="--", linewidth=1)
        if anchors["best_code"] is not None:
            ax.scatter(
                anchors["best_mmacs"],
                anchors["best_acc"],
                marker="*",
                s=220,
                c=colour[budget],
                edgecolors="black",
                zorder=3,
                label=(
                    f"best <= {budget / 1e6:g} MMACs: {anchors['best_code']} "
                    f"{anchors['best_acc']:.2f} %"
                ),
            )
    child_acc = []
    for seed, budget, code in children:
        entry = table.entry(code)
        child_acc.append(entry.mean)
        ax.scatter(
            entry.flops / 1e6,
            entry.mean,
            marker=marker[seed],
            s=60,
            c=colour[budget],
            edgecolors="black",
            zorder=4,
        )
    handles, _ = ax.get_legend_handles_labels()
    handles += [  # one entry per seed; a child's colour is its budget's
        Line2D([], [], marker=marker[s], linestyle="", color="0.3", label=f"child, seed {s}")
        for s in seeds
    ]
    ax.legend(handles=handles, fontsize=8, loc="lower right")
    low = min([float(np.percentile(table.mean, 5)), *(a - 0.5 for a in child_acc)])
    ax.set_ylim(low, float(table.mean.max()) + 0.5)
    ax.set_xlabel("MMACs (millions of multiply-accumulates)")
    ax.set_ylabel("CIFAR-10 test accuracy (%, mean of 3 trainings)")
    ax.set_title("NAS-Bench-Macro: searched children against the whole space")
    ax.grid(alpha=0.3)
    buffer = io.BytesIO()
    path = Path(path)
    figure.savefig(buffer, format=path.suffix.lstrip(".") or "png", dpi=100, bbox_inches="tight")
    return atomic_write_bytes(path, buffer.getvalue())
