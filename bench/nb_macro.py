"""Does the search choose well? E-DNAS on NAS-Bench-Macro's space, scored by its table.

For each seed and MACs budget this runs the search a user runs (`python -m pipelines.search`,
the library behind `ednas-search`) on `--space=nb_macro --device=macs` (a child's "latency" is
its millions of multiply-accumulates) with the budget objective at the budget, looks the derived
child's code up in the table, and compares it with the table's anchors under the same budget
(best network, top 1 %, expected best of 1/10/100 random draws, best uniform network). With
`--rank=N`, each seed's first search also scores N random children on its trained supernet
(`--rank_children`) and the supernet's ranking is compared with the table's (Kendall tau,
Spearman, top-10 % overlap), as is the ranking by the gates' own probabilities. With the
evolutionary derive (`-- --evolve_candidates=N`), each run also scores the gates' own child of the
same search (`gates_child`, and `gates_child_summary` per budget): the change's before and after
on one supernet; and its finalists with their true accuracy (`finalists`).

Search flags go after `--` and reach every search (e.g. `-- --limit=10000 --epochs=20`); the
CIFAR-10 folder holds only `train/` (the 50,000 training images: the table's 10,000 test images
stay unseen). Each search is a run directory under `--runs_dir`: an interrupted benchmark re-run
with the same command resumes every search from its checkpoints and skips finished ones.

  python -m bench.nb_macro --table=PATH/nas-bench-macro_cifar10.json \
      --data_dir=PATH/cifar10_train_only --budgets_mmac=40,55,70 --seeds=0,1,2 --rank=100 \
      -- --limit=10000 --epochs=12 --warmup_epochs=6 --steps_per_epoch=100

`--quick` runs the whole chain on a synthetic table and a generated image folder in a minute
(what `make test` checks). Prints one JSON object on its last line and writes it to
bench/results/<results_name>.json, with a plot beside it (.png).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from absl import flags
from PIL import Image

from bench import cli
from bench.common import RESULTS_DIR, emit
from bench.nb_macro_table import (
    NBMacroTable,
    all_codes,
    mean_and_se,
    per_budget_summary,
    plot,
    synthetic_table,
)
from ednas_tf.arch import ArchSpec
from ednas_tf.cost.size import arch_macs, arch_params
from ednas_tf.io_utils import atomic_write_json, read_json
from ednas_tf.nb_macro import arch_of, code_of
from ednas_tf.rundir import ARCH_FILE, FACTS_FILE, RANKING_FILE
from ednas_tf.search.warmup import WARMUP_FILE

FV = cli.new_flags()
flags.DEFINE_string("table", None, "NAS-Bench-Macro's table (nas-bench-macro_cifar10.json).",
                    flag_values=FV)
flags.DEFINE_string("data_dir", None, "CIFAR-10 as an image folder holding train/ only.",
                    flag_values=FV)
flags.DEFINE_string("budgets_mmac", "40,55,70", "MACs budgets in millions.", flag_values=FV)
flags.DEFINE_string("seeds", "0,1,2", "Search seeds.", flag_values=FV)
flags.DEFINE_integer("rank", 0, "Score this many random children on each seed's first "
                     "supernet and compare its ranking with the table's.", lower_bound=0,
                     flag_values=FV)
flags.DEFINE_string("runs_dir", "runs/nb_macro", "Where each search's run directory goes.",
                    flag_values=FV)
flags.DEFINE_bool("quick", False, "Synthetic table, generated images, tiny searches.",
                  flag_values=FV)
flags.DEFINE_string("reuse_supernets", None, "A previous --runs_dir: each search resumes from a "
                    "copy of that run's finished checkpoints and only derives again (to measure a "
                    "change to derivation on the same supernets); search minutes are the "
                    "original search's plus the new derivation's.", flag_values=FV)
flags.DEFINE_bool("share_warmup", False, "Each seed's searches start from one weights-only "
                  "warm-up (--warmup_only, then --warmup_from): each counts its share of its "
                  "wall time.", flag_values=FV)
cli.define_results_name(FV, "nb_macro")

SEARCH_RECORD = "nb_macro_search.json"  # the benchmark's record of a finished search
# A tiny search for --quick: every stage of the chain, seconds each.
QUICK_SEARCH = ("--epochs=2", "--warmup_epochs=1", "--steps_per_epoch=3", "--batch_size=8",
                "--bn_recalibration_steps=2", "--val_fraction=0.2")
TARGETS = {"regret_pt": 0.3, "kendall_tau": 0.5}


def _codes_table(path: Path) -> None:
    """A synthetic table whose parameters and MACs are the children's own."""
    macs = {code: arch_macs(arch_of(code)) for code in all_codes()}
    params = {code: arch_params(arch_of(code)) for code in all_codes()}
    atomic_write_json(path, synthetic_table(macs.__getitem__, params.__getitem__, seed=0))


def _image_folder(root: Path, classes: int = 4, per_class: int = 24, size: int = 16) -> Path:
    """A small learnable image folder (train/ only): class-coloured noise."""
    rng = np.random.default_rng(0)
    for c in range(classes):
        folder = root / "train" / f"class{c}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            base = np.full((size, size, 3), 40 + 50 * c, np.float64)
            pixels = np.clip(base + rng.normal(0, 30, base.shape), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


def _copy_finished(source: Path, run_dir: Path) -> float:
    """`source`'s run (checkpoints, ranking) copied to `run_dir` without its derived child, so a
    resumed search derives again; the source search's wall seconds."""
    if not (source / SEARCH_RECORD).exists():
        cli.error(f"{source} holds no finished search to reuse")
    if not run_dir.exists():
        ignore = shutil.ignore_patterns(ARCH_FILE, SEARCH_RECORD, ".lock", "logs")
        shutil.copytree(source, run_dir, ignore=ignore)
    return float(read_json(source / SEARCH_RECORD)["wall_seconds"])


def _search(run_dir: Path, data_dir: str, budget: float, seed: int, rank: int,
            passthrough: list[str], earlier_seconds: float = 0.0,
            extra: tuple[str, ...] = (), done_file: str = ARCH_FILE) -> float:
    """Runs (or resumes) one search (`extra`: flags after the rest); its wall seconds, summed
    over attempts (plus `earlier_seconds`: a reused supernet's search or its share of a shared
    warm-up). It counts as done once `done_file` and the wall record exist."""
    record = run_dir / SEARCH_RECORD
    if record.exists() and (run_dir / done_file).exists():
        return float(read_json(record)["wall_seconds"])
    if (run_dir / RANKING_FILE).exists():
        rank = 0  # a reused supernet's ranking stands
    command = [
        sys.executable, "-m", "pipelines.search", "--dataset=image_folder",
        f"--data_dir={data_dir}", "--noprogress", *passthrough,
        "--space=nb_macro", "--device=macs", "--activation=relu", "--objective=budget",
        f"--target_latency_ms={budget:g}", f"--seed={seed}", f"--rank_children={rank}",
        f"--output_dir={run_dir}", *extra,
    ]
    print(f"search seed {seed}, budget {budget:g} M MACs: {' '.join(command[2:])}", flush=True)
    start = time.time()
    done = subprocess.run(command, check=False)
    if done.returncode != 0:
        cli.error(f"the search in {run_dir} failed (exit {done.returncode})")
    seconds = time.time() - start + earlier_seconds
    atomic_write_json(record, {"wall_seconds": round(seconds, 1), "command": command[2:]})
    return seconds


def _code_of_blocks(template: dict[str, Any], blocks: list[str]) -> str:
    """The table's code of a child given as block strings (ranked, evolved), in the run whose
    arch.json `template` is (its stem, head and input)."""
    return code_of(ArchSpec.from_dict({**template, "blocks": blocks}))


def _evolved(run_dir: Path, table: NBMacroTable, budget: float) -> dict[str, Any]:
    """With the evolutionary derive: the gates' own child of the same search, scored as the
    searched one is (the change's before, on the same supernet), and the finalists with their
    true accuracy beside their screen and final scores (did the final scores pick the best of
    them?); {} without an evolution."""
    arch = ArchSpec.load(run_dir / ARCH_FILE)
    evolution = arch.search.get("target_fit", {}).get("evolution") or {}
    if not evolution.get("gates_child"):
        return {}
    template = arch.to_dict()
    keys = ("code", "mean_acc", "mmacs", "within_budget", "rank_within", "regret")

    def scored(entry: dict[str, Any]) -> dict[str, Any]:
        score = table.score(_code_of_blocks(template, entry["blocks"]), budget * 1e6)
        return {k: score[k] for k in keys}

    finalists = [
        {**scored(e), **{k: e[k] for k in ("screen", "final") if k in e}}
        for e in evolution["finalists"]
    ]
    return {"gates_child": scored(evolution["gates_child"]), "finalists": finalists}


def _ranking(run_dir: Path, table: NBMacroTable) -> dict[str, Any]:
    """The supernet's and the gates' rankings of the scored children against the table."""
    ranking = read_json(run_dir / RANKING_FILE)
    template = ArchSpec.load(run_dir / ARCH_FILE).to_dict()
    # one entry per code: uniform draws repeat, and children that differ only in where a stage's
    # identities sit share the table's canonical code (the first draw of each is kept)
    firsts: dict[str, dict[str, Any]] = {}
    for child in ranking["children"]:
        firsts.setdefault(_code_of_blocks(template, child["blocks"]), child)
    codes, children = list(firsts), list(firsts.values())
    return {
        "n": len(codes),
        "drawn": len(ranking["children"]),
        "supernet": table.rank_correlation(codes, [c["val_acc"] for c in children]),
        "gates": table.rank_correlation(codes, [c["log_prob"] for c in children]),
        "rank_seconds": ranking.get("rank_seconds"),
    }


def _verdict(per_budget: dict[str, Any], ranking: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's targets, met or not, with the figures they turn on."""
    verdict = {}
    for budget, entry in per_budget.items():
        s, a = entry["summary"], entry["anchors"]
        uniform = a["best_uniform_acc"]
        verdict[budget] = {
            "all_within_budget": s["n_within"] == s["n_runs"],
            "above_best_of_10_random": s["acc_mean"] > a["expected_best_of_10"],
            "above_best_uniform": uniform is None or s["acc_mean"] > uniform,
            "regret_at_most_0.3": s["regret_mean"] <= TARGETS["regret_pt"],
        }
    if ranking:
        taus = [r["supernet"]["kendall_tau"] for r in ranking]
        verdict["kendall_tau_mean"] = round(float(np.mean(taus)), 4)
        verdict["kendall_tau_at_least_0.5"] = bool(np.mean(taus) >= TARGETS["kendall_tau"])
    return verdict


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = list(sys.argv if argv is None else argv)
    passthrough = argv[argv.index("--") + 1:] if "--" in argv else []
    cli.parse(FV, argv[: argv.index("--")] if "--" in argv else argv, __doc__)
    budgets = cli.comma_separated(FV, "budgets_mmac", float)
    seeds = cli.comma_separated(FV, "seeds", int)
    if not budgets or not seeds:
        cli.error("--budgets_mmac and --seeds need at least one value each")
    if FV.share_warmup and FV.reuse_supernets:
        cli.error("--share_warmup and --reuse_supernets exclude each other")
    runs_dir = Path(FV.runs_dir)
    scratch = tempfile.TemporaryDirectory(prefix="nb_macro_quick_")
    table_path, data_dir = FV.table, FV.data_dir
    if FV.quick:
        root = Path(scratch.name)
        table_path = str(root / "table.json")
        _codes_table(Path(table_path))
        data_dir = str(_image_folder(root / "images"))
        passthrough = [*QUICK_SEARCH, *passthrough]
        runs_dir = runs_dir if FV["runs_dir"].present else root / "runs"
    if not table_path or not data_dir:
        cli.error("--table and --data_dir are required (or --quick)")
    table = NBMacroTable.load(table_path)
    runs, ranking = [], []
    for seed in seeds:
        shared, share = (), 0.0
        if FV.share_warmup:
            warmup_dir = runs_dir / f"seed{seed}_warmup"
            share = _search(warmup_dir, data_dir, budgets[0], seed, 0, passthrough,
                            extra=("--warmup_only",), done_file=WARMUP_FILE) / len(budgets)
            shared = (f"--warmup_from={warmup_dir}",)
        for i, budget in enumerate(budgets):
            run_dir = runs_dir / f"seed{seed}_{budget:g}mmac"
            rank = FV.rank if i == 0 else 0
            earlier = share
            if FV.reuse_supernets:
                earlier = _copy_finished(Path(FV.reuse_supernets) / run_dir.name, run_dir)
            seconds = _search(run_dir, data_dir, budget, seed, rank, passthrough, earlier, shared)
            code = code_of(ArchSpec.load(run_dir / ARCH_FILE))
            score = table.score(code, budget * 1e6)
            runs.append({**score, "seed": seed, "budget_mmac": budget,
                         "search_minutes": round(seconds / 60, 2), "run_dir": str(run_dir)})
            runs[-1].update(_evolved(run_dir, table, budget))
            print(f"seed {seed} budget {budget:g}: {code} {score['mean_acc']:.2f} % at "
                  f"{score['mmacs']:.1f} M MACs, regret {score['regret']:.2f} pt", flush=True)
            if (run_dir / RANKING_FILE).exists():
                ranking.append({"seed": seed, **_ranking(run_dir, table)})
    per_budget = {}
    for budget in budgets:
        mine = [r for r in runs if r["budget_mmac"] == budget]
        per_budget[f"{budget:g}"] = {
            "anchors": table.anchors(budget * 1e6),
            "summary": per_budget_summary(mine, budget * 1e6),
        }
        if all("gates_child" in r for r in mine):  # the same searches' children before the change
            gates = [{**r["gates_child"], "budget_macs": budget * 1e6} for r in mine]
            per_budget[f"{budget:g}"]["gates_child_summary"] = per_budget_summary(
                gates, budget * 1e6)
    tau_mean, tau_se = mean_and_se([r["supernet"]["kendall_tau"] for r in ranking])
    search = read_json(Path(runs[0]["run_dir"]) / FACTS_FILE)["stages"]["search"]
    figures = {
        "command": " ".join(["python -m bench.nb_macro", *argv[1:]]),
        "table": Path(table.source).name if not FV.quick else "synthetic",
        "search_facts": {k: search.get(k) for k in ("limit", "width", "image_size", "space")},
        "search_flags": passthrough,
        "runs": runs,
        "per_budget": per_budget,
        "ranking": ranking,
        "kendall_tau": {"mean": tau_mean, "se": tau_se},
        "verdict": _verdict(per_budget, ranking),
        "search_minutes_max": max(r["search_minutes"] for r in runs),
        "shared_warmup": FV.share_warmup,
    }
    name = FV.results_name
    children = [(r["seed"], r["budget_mmac"] * 1e6, r["code"]) for r in runs]
    out_dir = Path(scratch.name) if FV.quick else RESULTS_DIR
    plot(table, [b * 1e6 for b in budgets], children, out_dir / f"{name}.png")
    if FV.quick:
        print(figures, flush=True)
        scratch.cleanup()
        return figures
    return emit(name, figures)


if __name__ == "__main__":
    main()
