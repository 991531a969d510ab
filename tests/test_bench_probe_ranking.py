"""bench/probe_ranking.py: train each probed child of a search, compare with its rankings."""

import dataclasses
import json

import pytest

import bench.common
from bench import probe_ranking
from bench.common import host_space, load_bench_splits
from ednas_tf.arch import ArchSpec
from ednas_tf.baselines.fixed import baseline_list, selected_baselines


def test_spearman():
    assert probe_ranking.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert probe_ranking.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    assert probe_ranking.spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.949, abs=1e-3)
    assert probe_ranking.spearman([1, 1, 1], [1, 2, 3]) is None  # a constant ranks nothing
    assert probe_ranking.spearman([1, 2], [2, 1]) is None
    with pytest.raises(ValueError):
        probe_ranking.spearman([1, 2, 3], [1, 2])


def test_summary_reads_the_regret_of_the_choice():
    def child(index, chosen, probe, log_prob, acc, val_by_epoch):
        return {
            "index": index,
            "chosen": chosen,
            "probe_score": probe,
            "log_prob": log_prob,
            "mean_test_acc": acc,
            "mean_val_acc_by_epoch": val_by_epoch,
        }

    children = [
        child(0, False, 0.7, -1.0, 0.91, [0.5, 0.90]),
        child(1, True, 0.8, -2.0, 0.90, [0.7, 0.89]),
        child(2, False, 0.6, -3.0, 0.92, [0.6, 0.91]),
    ]
    summary = probe_ranking.summarise(children)
    assert summary["chosen_index"] == 1 and summary["best_index"] == 2
    assert summary["regret_pt"] == pytest.approx(2.0)
    assert summary["range_pt"] == pytest.approx(2.0)
    assert summary["rankings"]["probe_score"] == {"vs_test": -1.0, "vs_final_val": -1.0}
    assert summary["rankings"]["log_prob"]["vs_test"] == -0.5
    assert "compare_score" not in summary["rankings"] and "compare_chosen_index" not in summary
    assert summary["spearman_val_acc_by_epoch"] == [-0.5, 1.0]
    assert summary["spearman_final_val_vs_test"] == 1.0
    for c, score in zip(children, (0.2, 0.1, 0.3)):
        c.update(compare_score=score, compare_chosen=score == 0.3)
    summary = probe_ranking.summarise(children)
    assert summary["rankings"]["compare_score"]["vs_test"] == 1.0
    assert summary["compare_chosen_index"] == 2 and summary["compare_chosen_test_acc"] == 0.92


def _probed_arch(splits):
    """all_3x3 as if a search had chosen it from three probed children: itself, the largest
    kernels everywhere and MobileNetV2's CIFAR layout."""
    space = host_space(splits, 0.5)
    names = [name for name, spec in baseline_list(space) if isinstance(spec, ArchSpec)][:3]
    archs = [spec for _, spec in selected_baselines(space, ",".join(names))]
    probed = [
        {
            "widths": {},
            "changed": {},
            "log_prob": -1.0 - i,
            "latency_ms": 0.1 + i / 100,
            "score": 0.5 + i / 10,
            "chosen": i == 0,
            "blocks": [b.encode() for b in arch.blocks],
        }
        for i, arch in enumerate(archs)
    ]
    return dataclasses.replace(archs[0], search={"target_fit": {"probed": probed}})


def test_every_probed_child_trained_on_synthetic(tmp_path, monkeypatch):
    data = ["--dataset=synthetic", "--image_size=16", "--limit=200", "--num_test=64"]
    splits = load_bench_splits("synthetic", data_dir=None, image_size=16, limit=200, seed=0)
    arch_path = tmp_path / "arch.json"
    _probed_arch(splits).save(arch_path)
    written = {}
    monkeypatch.setattr(probe_ranking, "emit", lambda name, figures: written.update(figures))
    args = [
        "probe_ranking",  # argv[0], as absl's
        f"--arch={arch_path}",
        *data,
        "--epochs=1",
        "--steps_per_epoch=2",
        f"--output_dir={tmp_path / 'out'}",
    ]
    rc = probe_ranking.main(args)
    assert rc == 0
    children = written["children"]
    assert [c["index"] for c in children] == [0, 1, 2] and children[0]["chosen"]
    assert children[1]["blocks"] != children[0]["blocks"]  # each child trained is its own
    assert all(0.0 <= c["mean_test_acc"] <= 1.0 for c in children)
    assert written["chosen_index"] == 0 and written["regret_pt"] >= 0
    assert (tmp_path / "out" / "child2" / "seed0" / "child.weights.h5").is_file()
    assert all(len(c["mean_val_acc_by_epoch"]) == 1 for c in children)
    json.dumps(written)  # what emit writes must be JSON
    # --resume reads the trainings back instead of training again; another recipe trains anew
    first = {c["index"]: c["mean_test_acc"] for c in children}
    monkeypatch.setattr(bench.common, "train_child", lambda *a, **k: pytest.fail("trained again"))
    # and --compare_arch ranks another search's scores of the same children (in its own order)
    searched = ArchSpec.load(arch_path)
    other = [dict(e, score=1 - e["score"], chosen=i == 2) for i, e in enumerate(
        searched.search["target_fit"]["probed"])]
    other_path = tmp_path / "other.json"
    dataclasses.replace(searched, search={"target_fit": {"probed": other[::-1]}}).save(other_path)
    probe_ranking.main([*args, "--resume", f"--compare_arch={other_path}"])
    assert {c["index"]: c["mean_test_acc"] for c in written["children"]} == first
    assert [c["compare_score"] for c in written["children"]] == [0.5, 0.4, pytest.approx(0.3)]
    assert written["compare_chosen_index"] == 2
    short = dataclasses.replace(searched, search={"target_fit": {"probed": other[:2]}})
    short.save(other_path)
    with pytest.raises(SystemExit, match="same children"):
        probe_ranking.main([*args, "--resume", f"--compare_arch={other_path}"])
    with pytest.raises(pytest.fail.Exception, match="trained again"):
        probe_ranking.main([*args, "--resume", "--epochs=2"])


def test_an_unprobed_arch_is_a_clear_error(tmp_path):
    splits = load_bench_splits("synthetic", data_dir=None, image_size=16, limit=200, seed=0)
    arch_path = tmp_path / "arch.json"
    dataclasses.replace(_probed_arch(splits), search={}).save(arch_path)
    with pytest.raises(SystemExit, match="no probed children"):
        probe_ranking.main(
            ["probe_ranking", f"--arch={arch_path}", "--dataset=synthetic", "--image_size=16"]
        )
    with pytest.raises(SystemExit):
        probe_ranking.parse_args(["probe_ranking", f"--arch={tmp_path / 'missing.json'}"])
