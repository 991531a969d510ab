"""bench/nb_macro.py end to end on a synthetic table and a generated image folder (`--quick`):
searches run, children are looked up, the supernet's ranking is compared with the table's."""

from bench import nb_macro
from ednas_tf.nb_macro import arch_of


def test_quick_run_scores_every_search_and_the_ranking(tmp_path):
    first = tmp_path / "first"
    figures = nb_macro.main(
        ["nb_macro", "--quick", "--seeds=0", "--budgets_mmac=30,60", "--rank=4",
         f"--runs_dir={first}", "--", "--rank_images=6"]
    )
    runs = figures["runs"]
    assert [r["budget_mmac"] for r in runs] == [30.0, 60.0]
    for run in runs:
        assert len(run["code"]) == 8 and set(run["code"]) <= set("012")
        # the budget objective derives a child at or below its budget
        assert run["within_budget"] and run["mmacs"] <= run["budget_mmac"]
        assert run["rank_within"] >= 1 and run["regret"] >= 0
    for entry in figures["per_budget"].values():
        anchors = entry["anchors"]
        assert anchors["best_acc"] >= anchors["expected_best_of_10"] >= anchors[
            "expected_best_of_1"
        ]
        assert entry["summary"]["n_runs"] == 1
    (ranking,) = figures["ranking"]
    assert ranking["n"] == 4
    assert nb_macro.read_json(first / "seed0_30mmac" / "ranking.json")["images"] == 6
    assert -1 <= ranking["supernet"]["kendall_tau"] <= 1
    assert -1 <= ranking["gates"]["kendall_tau"] <= 1
    assert set(figures["verdict"]["30"]) == {
        "all_within_budget",
        "above_best_of_10_random",
        "above_best_uniform",
        "regret_at_most_0.3",
    }

    # the same supernet derived again with the budget filled: never above the budget, never
    # below the child derived without filling; the search's minutes are the original's and more
    again = nb_macro.main(
        ["nb_macro", "--quick", "--seeds=0", "--budgets_mmac=30", f"--reuse_supernets={first}",
         f"--runs_dir={tmp_path / 'again'}", "--", "--derive_fill_budget"]
    )
    (run,) = again["runs"]
    assert runs[0]["mmacs"] <= run["mmacs"] <= 30
    assert run["search_minutes"] >= runs[0]["search_minutes"]
    assert len(again["ranking"]) == 1  # the reused supernet's ranking


def test_quick_run_with_a_shared_warmup(tmp_path):
    """Each seed's searches start from one warm-up run once; each counts a share of its time.
    With the evolutionary derive, each run also scores the gates' own child (the before) and
    looks its finalists up."""
    runs_dir = tmp_path / "shared"
    figures = nb_macro.main(
        ["nb_macro", "--quick", "--seeds=0", "--budgets_mmac=30,60", "--share_warmup",
         f"--runs_dir={runs_dir}", "--", "--evolve_candidates=4", "--evolve_band=0.5",
         "--evolve_images=6"]
    )
    warmup = runs_dir / "seed0_warmup"
    assert (warmup / "warmup.json").exists() and not (warmup / "arch.json").exists()
    share = nb_macro.read_json(warmup / nb_macro.SEARCH_RECORD)["wall_seconds"] / 2 / 60
    for run in figures["runs"]:
        assert run["within_budget"]
        assert run["search_minutes"] >= share
        arch = nb_macro.read_json(runs_dir / f"seed0_{run['budget_mmac']:g}mmac" / "arch.json")
        assert arch["search"]["warmup_from"] == str(warmup)
        gates = run["gates_child"]
        assert len(gates["code"]) == 8 and gates["within_budget"] and gates["regret"] >= 0
        evolution = arch["search"]["target_fit"]["evolution"]
        assert evolution["scored"] >= 2
        finalists = run["finalists"]
        assert [f["screen"] for f in finalists] == [e["screen"] for e in evolution["finalists"]]
        assert run["code"] in {f["code"] for f in finalists} | {gates["code"]}
    assert figures["shared_warmup"] is True
    for entry in figures["per_budget"].values():
        assert entry["gates_child_summary"]["n_runs"] == 1


def test_the_ranking_counts_each_code_once(tmp_path):
    """Uniform draws repeat, and children that differ only in where a stage's identities sit
    share a canonical code: the ranking keeps the first entry of each code."""
    table_path = tmp_path / "table.json"
    nb_macro._codes_table(table_path)
    table = nb_macro.NBMacroTable.load(table_path)
    run = tmp_path / "run"
    run.mkdir()
    arch_of("11111111").save(run / "arch.json")
    codes = ["12121212", "21212121", "12121212", "11102111", "11120111", "22222222"]
    children = [
        {"blocks": [b.encode() for b in arch_of(c).blocks], "val_acc": 0.1 * i, "log_prob": -i}
        for i, c in enumerate(codes)
    ]
    nb_macro.atomic_write_json(run / "ranking.json", {"children": children})
    ranking = nb_macro._ranking(run, table)
    assert ranking["drawn"] == 6 and ranking["n"] == 4  # one repeat, one canonical twin
    assert ranking["supernet"]["n"] == 4
