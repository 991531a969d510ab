r"""How well a search's target fit ranked the children it chose between (issue 5).

With `--probe_candidates`, derive() fits several children to the latency target and keeps the
one the supernet scores best (`ednas_tf/search/probe.py`). This trains every one of them with
the Pareto recipe (`ednas_tf.training.train_child`, as bench/seed_spread.py) and compares their
test accuracies with the two rankings the search had: the probe scores and the gates'
log-probabilities. It answers whether a better ranking could find a better child among the
fitted ones (the best trained one against the chosen one), or whether the fitted children are
all alike and the space or the fit is the limit.

  python bench/probe_ranking.py --arch=runs/pareto_rank/ednas_w_t0.5/arch.json
  python bench/probe_ranking.py --arch=bench/archs/pareto_rank_ednas_w_t0.5.json \
      --compare_arch=bench/archs/pareto_finetune_ednas_w_t0.5.json --resume

`--compare_arch` adds the scores another search gave the same children (the same search with
another `--probe_mode`), so two ways of scoring are ranked against one set of trainings.

`--arch` is an arch.json a probed search wrote (its `search.target_fit.probed` list records each
child's blocks). The data split is bench/pareto.py's (`--split_seed`). Writes
bench/results/probe_ranking.json (another name with --results_name).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from absl import flags

from bench import cli
from bench.common import emit, seeded_training_splits, train_under_seeds
from ednas_tf.arch import ArchSpec
from ednas_tf.data import DataSplits
from ednas_tf.search.derive import probed_child

NAME = "probe_ranking"

FV = cli.new_flags()
flags.DEFINE_string("arch", None, "arch.json of a search run with probes.", flag_values=FV)
flags.mark_flag_as_required("arch", flag_values=FV)
cli.define_seeded_training_flags(
    FV, seeds="0", output_dir="runs/probe_ranking", layout="child<N>/seed<S>"
)
flags.DEFINE_string(
    "compare_arch",
    None,
    "arch.json of another search that probed the same children (e.g. the same search with "
    "--probe_mode=finetune): its scores are ranked against the trainings too.",
    flag_values=FV,
)
cli.define_results_name(FV, NAME)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The flags' values and `seed_list`; argv as absl's (argv[0] the program; default
    sys.argv). A missing arch file is one `error:` line before any training."""
    args = cli.parse_args(FV, argv, __doc__)
    args.seed_list = cli.seed_list(args)
    for path in (args.arch, args.compare_arch):
        if path is not None and not Path(path).is_file():
            cli.error(f"no arch file {path}")
    return args


def _ranks(values: list[float]) -> np.ndarray:
    """Ranks from 1, ties sharing their mean rank."""
    values_array = np.asarray(values, dtype=float)
    order = np.argsort(values_array, kind="stable")
    ranks = np.empty(len(values_array))
    ranks[order] = np.arange(1, len(values_array) + 1)
    for value in np.unique(values_array):
        tied = values_array == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def spearman(a: list[float], b: list[float]) -> float | None:
    """Spearman's rank correlation; None when either list is constant or shorter than 3."""
    if len(a) != len(b):
        raise ValueError(f"{len(a)} values against {len(b)}")
    if len(a) < 3:
        return None
    ra, rb = _ranks(a), _ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return None
    return round(float(np.corrcoef(ra, rb)[0, 1]), 3)


RANKINGS = ("probe_score", "log_prob", "compare_score")


def summarise(children: list[dict]) -> dict:
    """The rankings' agreement with the trained accuracies, and the chosen child's regret.

    `rankings[name]`: Spearman of each ranking the search had (its probe scores, the gates'
    log-probabilities, and with --compare_arch another search's scores of the same children)
    against the children's test accuracy and against their final validation accuracy — the
    number a probe stands in for. `spearman_val_acc_by_epoch[e]`: how the validation accuracy
    after epoch e+1 of their own training ranks them against test accuracy, i.e. what a short
    stand-alone training (as keras-tuner's trials) would have known, within the long schedule.
    """
    accuracy = [c["mean_test_acc"] for c in children]
    final_val = [c["mean_val_acc_by_epoch"][-1] for c in children]
    epochs = min(len(c["mean_val_acc_by_epoch"]) for c in children)
    chosen = next(c for c in children if c["chosen"])
    best = max(children, key=lambda c: c["mean_test_acc"])
    rankings = {
        name: {
            "vs_test": spearman([c[name] for c in children], accuracy),
            "vs_final_val": spearman([c[name] for c in children], final_val),
        }
        for name in RANKINGS
        if all(name in c for c in children)
    }
    compare_chosen = next((c for c in children if c.get("compare_chosen")), None)
    return {
        "rankings": rankings,
        **(
            {
                "compare_chosen_index": compare_chosen["index"],
                "compare_chosen_test_acc": compare_chosen["mean_test_acc"],
            }
            if compare_chosen
            else {}
        ),
        "spearman_final_val_vs_test": spearman(final_val, accuracy),
        "spearman_val_acc_by_epoch": [
            spearman([c["mean_val_acc_by_epoch"][e] for c in children], accuracy)
            for e in range(epochs)
        ],
        "chosen_index": chosen["index"],
        "chosen_test_acc": chosen["mean_test_acc"],
        "best_index": best["index"],
        "best_test_acc": best["mean_test_acc"],
        "regret_pt": round(100 * (best["mean_test_acc"] - chosen["mean_test_acc"]), 3),
        "range_pt": round(100 * (max(accuracy) - min(accuracy)), 3),
    }


def compare_scores(path: str, probed: list[dict]) -> tuple[list[float], int]:
    """Another search's probe scores of the same children, in `probed`'s order, and the index
    of the child it chose (e.g. the same search with another --probe_mode)."""
    other = ArchSpec.load(path).search.get("target_fit", {}).get("probed", [])
    by_blocks = {tuple(entry.get("blocks", ())): entry for entry in other}
    missing = [i for i, entry in enumerate(probed) if tuple(entry["blocks"]) not in by_blocks]
    if missing or len(other) != len(probed):
        raise SystemExit(
            f"error: {path} did not probe the same children (children {missing} not among its "
            f"{len(other)})"
        )
    entries = [by_blocks[tuple(entry["blocks"])] for entry in probed]
    return [e["score"] for e in entries], next(i for i, e in enumerate(entries) if e["chosen"])


def _train_child(
    index: int,
    entry: dict,
    arch: ArchSpec,
    splits: DataSplits,
    args: argparse.Namespace,
    compared: tuple[list[float], int] | None,
) -> dict:
    """One probed child trained under every seed, with the scores the search(es) gave it."""
    out = Path(args.output_dir) / f"child{index}"
    runs = train_under_seeds(arch, splits, args, out, reuse=args.resume)
    mean = round(float(np.mean([r["test_acc"] for r in runs])), 4)
    val_by_epoch = np.mean([r["val_acc_by_epoch"] for r in runs], axis=0)
    child = {
        "index": index,
        "chosen": entry["chosen"],
        "probe_score": entry["score"],
        "log_prob": entry["log_prob"],
        "predicted_latency_ms": entry["latency_ms"],
        "widths": entry["widths"],
        "blocks": entry["blocks"],
        "runs": runs,
        "mean_test_acc": mean,
        "mean_val_acc_by_epoch": [round(float(v), 4) for v in val_by_epoch],
    }
    if compared:
        child["compare_score"] = compared[0][index]
        child["compare_chosen"] = index == compared[1]
    mark = " (chosen)" if entry["chosen"] else ""
    print(
        f"child {index}{mark}: probe {entry['score']:.4f}, log p {entry['log_prob']:.2f}, "
        f"test {mean:.4f}",
        flush=True,
    )
    return child


def main(argv: Sequence[str] | None = None) -> int:
    """argv as absl's (argv[0] the program; default sys.argv)."""
    argv = list(sys.argv if argv is None else argv)
    args = parse_args(argv)
    searched = ArchSpec.load(args.arch)
    probed = searched.search.get("target_fit", {}).get("probed", [])
    try:  # with nothing probed, probed_child(…, 0) says why
        archs = [probed_child(searched, i) for i in range(len(probed) or 1)]
    except ValueError as err:
        raise SystemExit(f"error: {args.arch}: {err}") from None
    compared = compare_scores(args.compare_arch, probed) if args.compare_arch else None
    splits = seeded_training_splits(args)
    children = [
        _train_child(index, entry, arch, splits, args, compared)
        for index, (entry, arch) in enumerate(zip(probed, archs))
    ]
    figures = {
        "arch": args.arch,
        "children": children,
        **summarise(children),
        "config": {k: v for k, v in vars(args).items() if k != "seed_list"},
        "splits": splits.sizes,
        "command": " ".join([".venv/bin/python", "bench/probe_ranking.py", *argv[1:]]),
    }
    emit(args.results_name, figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
