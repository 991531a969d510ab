"""Probing fitted children from the supernet: pinning gates to a path, fine-tuning a child from
the supernet's weights, and derive() choosing by score among the children that meet a latency
target."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from ednas_tf.arch import ArchSpec
from ednas_tf.cost.macs import MacsProxy
from ednas_tf.cost.network import space_latency_bounds
from ednas_tf.data import batched, load_splits
from ednas_tf.inherit import inherit_model
from ednas_tf.layers.gumbel import gates_of, set_gate_mode
from ednas_tf.model import build, searchable_blocks, width_gates
from ednas_tf.nb_macro import decisions_of, nb_macro_space
from ednas_tf.presets import preset_space
from ednas_tf.search.derive import DeriveOptions, derive, probed_child
from ednas_tf.search.loop import SearchConfig
from ednas_tf.search.objectives import Objective, make_objective, target_from_fraction
from ednas_tf.search.probe import (
    ChildPath,
    accuracy_standard_error,
    decisions_path,
    finetune_scorer,
    path_scorer,
    pinned_path,
)
from ednas_tf.search.runner import RunOptions, run_search, summary_table
from ednas_tf.search.schedules import make_schedule
from ednas_tf.training import TrainConfig


@pytest.fixture(scope="module")
def space():
    return preset_space("tiny", input_shape=(12, 12, 1), profile="tda2x", stage_widths=(0.5, 1.5))


def _random_path(supernet, rng) -> ChildPath:
    blocks = {}
    for block in searchable_blocks(supernet):
        if block.search_skip and rng.random() < 0.5:
            blocks[block.name] = None
        else:
            shape = block.joint_probs().shape
            blocks[block.name] = (int(rng.integers(shape[0])), int(rng.integers(shape[1])))
    widths = {g: int(rng.integers(gate.num_options)) for g, gate in width_gates(supernet).items()}
    return ChildPath(blocks, widths)


@pytest.mark.parametrize("seed", [0, 1])
def test_pinned_path_is_the_child_and_restores_the_logits(space, seed):
    rng = np.random.default_rng(seed)
    supernet = build(space, seed=seed)
    x = tf.random.normal((2, *space.input_shape))
    supernet(x)
    for gate in gates_of(supernet):
        gate.logits.assign(tf.random.normal((gate.num_options,)))
    before = [g.logits.numpy().copy() for g in gates_of(supernet)]
    path = _random_path(supernet, rng)
    set_gate_mode(supernet, inference="argmax")
    with pinned_path(supernet, path):
        arch = derive(supernet, space, MacsProxy())
        got = supernet(x, training=False).numpy()
    kept = [name for name, pair in path.blocks.items() if pair is not None]
    assert arch.search["source_blocks"] == kept
    for group, index in path.widths.items():
        if any(name.startswith(group + "b") for name in kept):
            assert arch.search["widths"][group] == space.width_groups()[group][index]
    child = build(arch)
    child(x)
    inherit_model(supernet, child, kept)
    assert np.max(np.abs(got - child(x, training=False).numpy())) <= 1e-4
    for gate, logits in zip(gates_of(supernet), before):
        np.testing.assert_array_equal(gate.logits.numpy(), logits)


def test_pinning_an_unknown_block_or_an_unskippable_skip_is_refused(space):
    supernet = build(space, seed=0)
    supernet(tf.zeros((1, *space.input_shape)))
    with pytest.raises(ValueError, match="no block"):
        with pinned_path(supernet, ChildPath({"nope": None}, {})):
            pass
    fixed = next(b for b in searchable_blocks(supernet) if b.skip_gate is None)
    with pytest.raises(ValueError, match="cannot be skipped"):
        with pinned_path(supernet, ChildPath({fixed.name: None}, {})):
            pass


def test_derive_keeps_the_best_scored_child_that_meets_the_target(space):
    supernet = build(space, seed=0)
    supernet(tf.zeros((1, *space.input_shape)))
    latency = MacsProxy()
    target = target_from_fraction(space_latency_bounds(space, latency), 0.5)
    at_target = Objective("target", target_ms=target)
    seen: list[ChildPath] = []

    def narrow_first_stage(path: ChildPath) -> float:
        """Prefers the narrowest first stage: not what the (uniform) gates would pick first."""
        seen.append(path)
        return -float(path.widths["s1"]) + 0.01 * len(seen)

    plain = derive(supernet, space, latency, at_target, DeriveOptions(tolerance=0.05))
    probed = derive(
        supernet,
        space,
        latency,
        at_target,
        DeriveOptions(tolerance=0.05, probe_candidates=4),
        score=narrow_first_stage,
    )
    record = probed.search["target_fit"]["probed"]
    assert 1 < len(record) == len(seen) <= 4
    assert all(abs(r["latency_ms"] / target - 1) <= 0.05 for r in record)
    assert [r["log_prob"] for r in record] == sorted((r["log_prob"] for r in record), reverse=True)
    best = max(range(len(seen)), key=lambda i: record[i]["score"])
    assert [r["chosen"] for r in record] == [i == best for i in range(len(record))]
    assert probed.search["widths"] == record[best]["widths"]
    table = summary_table(probed)
    assert "probed children" in table and table.count("\n") > len(record)
    assert abs(probed.predicted_latency_ms / target - 1) <= 0.05
    # without a scorer (or with one candidate) the most probable child, unprobed
    assert "probed" not in plain.search["target_fit"]
    assert plain.search["widths"] == record[0]["widths"]
    with pytest.raises(ValueError, match="probe_candidates"):
        derive(supernet, space, latency, at_target, DeriveOptions(probe_candidates=-1))
    # scores within score_tie of the best are tied, and the most probable of them wins
    scores = iter([0.50, 0.58, 0.60, 0.10])
    tied = derive(
        supernet,
        space,
        latency,
        at_target,
        DeriveOptions(tolerance=0.05, probe_candidates=4, score_tie=0.025),
        score=lambda path: next(scores),
    )
    assert [r["chosen"] for r in tied.search["target_fit"]["probed"]] == [False, True, False, False]
    assert tied.search["target_fit"]["score_tie"] == 0.025


def test_every_probed_child_can_be_rebuilt_for_training(space):
    supernet = build(space, seed=0)
    supernet(tf.zeros((1, *space.input_shape)))
    latency = MacsProxy()
    target = target_from_fraction(space_latency_bounds(space, latency), 0.5)
    scores = iter([0.1, 0.9, 0.2, 0.3])
    args = (
        Objective("target", target_ms=target),
        DeriveOptions(tolerance=0.05, probe_candidates=4),
    )
    plain = derive(supernet, space, latency, *args)
    arch = derive(supernet, space, latency, *args, score=lambda path: next(scores))
    record = arch.search["target_fit"]["probed"]
    chosen = next(i for i, entry in enumerate(record) if entry["chosen"])
    assert probed_child(arch, chosen).blocks == arch.blocks
    first = probed_child(arch, 0)
    assert first.blocks == plain.blocks and first.blocks != arch.blocks
    assert first.predicted_latency_ms == record[0]["latency_ms"]
    assert first.search == {"probed_index": 0, "probe_score": 0.1, "chosen": False}
    assert ArchSpec.from_json(first.to_json()).blocks == first.blocks  # a valid arch.json
    with pytest.raises(ValueError, match="out of range"):
        probed_child(arch, len(record))
    with pytest.raises(ValueError, match="no probed children"):
        probed_child(plain, 0)


def test_derive_without_widths_probes_children_one_decision_away():
    plain = preset_space("tiny", input_shape=(12, 12, 1), profile="tda2x")
    supernet = build(plain, seed=0)
    supernet(tf.zeros((1, *plain.input_shape)))
    rng = np.random.default_rng(0)
    for gate in gates_of(supernet):
        gate.logits.assign(rng.normal(size=gate.num_options))
    latency = MacsProxy()
    target = target_from_fraction(space_latency_bounds(plain, latency), 0.5)
    at_target = Objective("target", target_ms=target)
    plain_child = derive(supernet, plain, latency, at_target, DeriveOptions(tolerance=0.05))
    paths: list[ChildPath] = []

    def last_listed(path: ChildPath) -> float:
        paths.append(path)
        return float(len(paths))

    probed_child = derive(
        supernet,
        plain,
        latency,
        at_target,
        DeriveOptions(tolerance=0.05, probe_candidates=5),
        score=last_listed,
    )
    fit = probed_child.search["target_fit"]
    record = fit["probed"]
    assert len(record) == len(paths) == 5 and record[-1]["chosen"]
    assert [r["log_prob"] for r in record] == sorted((r["log_prob"] for r in record), reverse=True)
    assert all(abs(r["latency_ms"] / target - 1) <= 0.05 for r in record)
    # the first is the fitted child; every other differs from it, and no two are alike
    assert record[0]["changed"] == {} and all(r["changed"] for r in record[1:])
    assert len({repr(sorted(p.blocks.items())) for p in paths}) == 5
    kept = [name for name, pair in paths[0].blocks.items() if pair is not None]
    assert kept == plain_child.search["source_blocks"]  # the first is the unprobed child
    specs = dict(zip(probed_child.search["source_blocks"], probed_child.blocks))
    for name, code in record[-1]["changed"].items():
        spec = specs.get(name)
        kernel = "+".join(str(k) for k in spec.kernel) if spec else None
        assert code == (f"k{kernel} e{spec.expansion:g}" if spec else "skip")
    assert fit["moves"] >= 1


def test_accuracy_standard_error():
    assert accuracy_standard_error(1600) == pytest.approx(0.0125)
    with pytest.raises(ValueError):
        accuracy_standard_error(0)


def _probed_search(space, output_dir, objective="target", **options):
    splits = load_splits("synthetic", image_size=12, limit=240, seed=0)
    latency = MacsProxy()
    target = target_from_fraction(space_latency_bounds(space, latency), 0.5)
    config = SearchConfig(epochs=2, warmup_epochs=1, steps_per_epoch=4, bn_recalibration_steps=2)
    arch = run_search(
        space,
        splits,
        config,
        make_objective(objective, target_ms=target if objective == "target" else None),
        make_schedule("exponential"),
        latency,
        RunOptions(
            output_dir=str(output_dir),
            steps="2",
            batch_size=16,
            progress=False,
            resume=False,
            probe_candidates=3,
            **options,
        ),
    )
    return arch, target


def test_search_with_probes_records_them(tmp_path, space):
    arch, target = _probed_search(space, tmp_path)
    fit = arch.search["target_fit"]
    assert "probed" in fit and 1 < len(fit["probed"]) <= 3
    assert fit["probe_mode"] == "supernet" and "probe_steps" not in fit
    assert all(0.0 <= r["score"] <= 1.0 for r in fit["probed"])
    assert arch.search["derive_seconds"] >= 0
    assert abs(arch.predicted_latency_ms / target - 1) <= 0.02


def test_probes_without_searched_widths_try_one_block_changes(tmp_path):
    plain = preset_space("tiny", input_shape=(12, 12, 1), profile="tda2x")
    arch, target = _probed_search(plain, tmp_path)
    probed = arch.search["target_fit"]["probed"]
    assert 1 < len(probed) <= 3 and sum(entry["chosen"] for entry in probed) == 1
    assert probed[0]["changed"] == {} and all(entry["changed"] for entry in probed[1:])
    assert all(entry["widths"] == {} for entry in probed)
    assert abs(arch.predicted_latency_ms / target - 1) <= 0.02


def test_probes_without_a_target_say_why_nothing_was_probed(tmp_path, capsys):
    plain = preset_space("tiny", input_shape=(12, 12, 1), profile="tda2x")
    arch, _ = _probed_search(plain, tmp_path, objective="fbnet")
    assert "target_fit" not in arch.search
    assert "nothing to probe, there is no latency target" in capsys.readouterr().err


def test_path_scorer_pins_for_the_call_only(space):
    supernet = build(space, seed=0)
    supernet(tf.zeros((1, *space.input_shape)))
    path = _random_path(supernet, np.random.default_rng(3))
    gate = next(iter(width_gates(supernet).values()))
    group = next(iter(width_gates(supernet)))
    score = path_scorer(supernet, lambda: float(np.argmax(gate.logits.numpy())))
    assert score(path) == path.widths[group]
    np.testing.assert_array_equal(gate.logits.numpy(), np.zeros(gate.num_options))


def test_finetune_scorer_trains_a_copy_and_leaves_the_supernet(space):
    splits = load_splits("synthetic", image_size=12, limit=240, seed=0)
    supernet = build(space, seed=0)
    supernet(tf.zeros((1, *space.input_shape)))
    before = [w.copy() for w in supernet.get_weights()]
    path = _random_path(supernet, np.random.default_rng(5))
    with pinned_path(supernet, path):
        arch = derive(supernet, space, MacsProxy())
    train = batched(splits.train, 16, training=True, seed=0, drop_remainder=True).repeat()
    val = batched(splits.val, 32, training=False)
    score = finetune_scorer(supernet, train, val, steps=3, config=TrainConfig())
    value = score(dataclasses.replace(path, arch=arch))
    assert 0.0 <= value <= 1.0
    for w, b in zip(supernet.get_weights(), before):
        np.testing.assert_array_equal(w, b)
    with pytest.raises(ValueError, match="ArchSpec"):
        score(path)
    with pytest.raises(ValueError, match="steps"):
        finetune_scorer(supernet, train, val, steps=0, config=TrainConfig())


def test_finetune_scorer_inherits_a_projected_skip():
    """A child whose skip is a 1x1 projection (NAS-Bench-Macro's `0` where the stride or width
    changes) takes that projection's weights from the supernet: its layers and the supernet's
    sources line up, and the scorer trains it."""
    space = nb_macro_space(input_shape=(8, 8, 3), width=0.25)
    supernet = build(space, seed=0)
    supernet(tf.zeros((1, *space.input_shape)))
    decisions = decisions_of(space, "01020010")  # projections at two of the three downsamplings
    path = dataclasses.replace(decisions_path(supernet, decisions), arch=space.child(decisions))
    rng = np.random.default_rng(0)
    images = rng.random((64, 8, 8, 3)).astype("float32")
    labels = rng.integers(0, 10, 64)
    data = tf.data.Dataset.from_tensor_slices((images, labels))
    score = finetune_scorer(
        supernet, data.batch(16, drop_remainder=True).repeat(), data.batch(32), 2, TrainConfig()
    )
    assert 0.0 <= score(path) <= 1.0


def test_search_with_finetune_probes(tmp_path, space):
    arch, target = _probed_search(space, tmp_path, probe_mode="finetune", probe_steps=2)
    probed = arch.search["target_fit"]["probed"]
    assert 1 < len(probed) <= 3 and sum(entry["chosen"] for entry in probed) == 1
    assert all(0.0 <= entry["score"] <= 1.0 for entry in probed)
    fit = arch.search["target_fit"]
    assert fit["probe_mode"] == "finetune" and fit["probe_steps"] == 2
    assert "after 2 steps of training" in fit["scored_by"] in summary_table(arch)
    with pytest.raises(ValueError, match="probe_mode"):
        RunOptions(output_dir=str(tmp_path), probe_mode="sometimes")
    with pytest.raises(ValueError, match="probe_steps"):
        RunOptions(output_dir=str(tmp_path), probe_steps=0)
