"""The paper's setting: the `imagenet_paper` space at 224 px with 1000 classes, its range, its
step 1, its flagfiles, and a smoke run of two search steps and two training steps."""

import json
import textwrap

import numpy as np
import pytest

import bench.common
from bench import space_children, supernet_cost
from ednas_tf.cost.size import arch_macs, arch_params
from ednas_tf.data import batched, load_splits
from ednas_tf.model import build
from ednas_tf.presets import preset_space
from ednas_tf.profiles import get_profile
from ednas_tf.search.expected import ExpectedLatency
from ednas_tf.search.loop import SearchConfig, SearchLoop
from ednas_tf.search.objectives import make_objective
from ednas_tf.search.schedules import make_schedule
from ednas_tf.training import TrainConfig, train_model
from tests.cli import ROOT, run_cli

PAPER = {"input_shape": (224, 224, 3), "num_classes": 1000}


@pytest.fixture(scope="module")
def space():
    return preset_space("imagenet_paper", **PAPER)


def test_the_range_holds_the_papers_network_size(space):
    smallest, largest = space.smallest_child(), space.largest_child()
    assert arch_params(smallest) < space_children.PAPER_PARAMS < arch_params(largest)
    assert arch_macs(smallest) < space_children.PAPER_MACS < arch_macs(largest)
    paper = space_children.nearest_child(space, space_children.PAPER_PARAMS, 535e6, starts=1)
    assert arch_params(paper) == pytest.approx(5.9e6, rel=0.02)
    assert arch_macs(paper) == pytest.approx(535e6, rel=0.02)


def test_step1_searches_big_kernels_in_several_high_resolution_blocks(space):
    step1 = space.step_space(1)
    searched = [b for b in step1.blocks if b.searches_kernel]
    sides = dict(zip((b.name for b in space.blocks), space.input_resolutions()))
    assert len(searched) >= 2
    for block in searched:
        assert block.kernel_options == [(3,), (5,), (7,)]  # tda2x keeps 7x7 at stride 1
        assert sides[block.name][0] >= 56
    assert space.head.channels <= get_profile("tda2x").max_channels


def test_size_counts_agree_with_keras():
    """arch_params counts what Keras counts, parallel kernel sets' branches included."""
    tiny = preset_space("tiny", input_shape=(16, 16, 3), num_classes=7)
    rng = np.random.default_rng(1)
    children = [tiny.largest_child(), tiny.smallest_child(), tiny.random_child(rng)]
    parallel = tiny.child({b.name: {"kernel": (3, 7), "expansion": 6.0} for b in tiny.blocks})
    for arch in [*children, parallel]:
        assert arch_params(arch) == build(arch).count_params()


def test_two_search_steps_and_two_training_steps_at_224px(space):
    """The supernet of the paper's space at 224 px with 1000 classes on synthetic data: two
    weight and two architecture steps on the TDA2x latency, then the largest child two steps
    of the training recipe. The images carry 4 of the 1000 labels (the data checks want two
    images of every class)."""
    splits = load_splits("synthetic", image_size=224, num_classes=4, num_examples=24, channels=3)
    supernet = build(space, seed=0)
    loop = SearchLoop(
        supernet,
        ExpectedLatency(supernet, space, get_profile("tda2x").latency()),
        make_objective(),
        make_schedule("exponential"),
        SearchConfig(epochs=1, warmup_epochs=0, steps_per_epoch=2, bn_recalibration_steps=0),
    )
    train = batched(splits.train, 2, training=True, drop_remainder=True)
    arch = batched(splits.arch, 2, training=True, drop_remainder=True)
    before = [v.numpy().copy() for v in loop.arch_vars]
    logs = loop.fit(train, arch, None, progress=False)
    assert np.isfinite(logs[-1]["loss"]) and logs[-1]["latency_ms"] > 0
    assert any(not np.allclose(a, v.numpy()) for a, v in zip(before, loop.arch_vars))

    child = build(space.largest_child())
    task = train_model(
        child,
        splits.train,
        TrainConfig(epochs=1, batch_size=2, steps_per_epoch=2, warmup_epochs=0),
        steps_per_epoch=2,
        num_classes=1000,
        verbose=0,
    )
    assert np.isfinite(task.history["loss"][-1])


def test_supernet_cost_reports_the_spaces_children(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench.common, "RESULTS_DIR", tmp_path)
    argv = ["supernet_cost", "--preset=tiny", "--image_size=16", "--num_classes=7"]
    argv += ["--models=supernet,largest_child", "--batch_size=2", "--repeats=1"]
    supernet_cost.main(argv)
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(printed["ms_per_step"]) == {"supernet", "largest_child"}
    assert printed["supernet_over_child"] > 0 and "multipath_over_supernet" not in printed
    for which in ("smallest_child", "largest_child", "paper_size_child"):
        assert printed[f"{which}_params_m"] > 0 and printed[f"{which}_tda2x_ms"] > 0
    assert printed["smallest_child_mmacs"] < printed["largest_child_mmacs"]
    with pytest.raises(SystemExit) as exit_info:
        supernet_cost.main(["supernet_cost", "--models=supernet,bogus"])
    assert exit_info.value.code == 2


# Parses a flagfile with a pipeline's flags in a fresh interpreter (the search and training
# define flags of the same name, so one process cannot hold both).
_PARSE = textwrap.dedent(
    """
    from absl import flags
    import {module}
    fv = flags.FLAGS
    fv(["{module}", "--flagfile={cfg}"])
    print("augment", fv.augment, "epochs", fv.epochs)
    """
)


@pytest.mark.parametrize(
    "module, cfg",
    [
        ("pipelines.search", "configs/imagenet_tda2x.cfg"),
        ("pipelines.train", "configs/imagenet_tda2x_train.cfg"),
    ],
)
def test_every_flag_of_the_paper_configs_exists(module, cfg):
    result = run_cli(["-c", _PARSE.format(module=module, cfg=ROOT / cfg)], timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "augment inception" in result.stdout


def test_space_children_prints_and_writes_the_three_children(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench.common, "RESULTS_DIR", tmp_path)
    space_children.main(["space_children", "--preset=tiny", "--image_size=16", "--num_classes=7"])
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed == json.loads((tmp_path / "space_children.json").read_text())
    tiny = preset_space("tiny", input_shape=(16, 16, 3), num_classes=7)
    assert printed["largest_child_params_m"] == round(arch_params(tiny.largest_child()) / 1e6, 3)
    assert printed["smallest_child_mmacs"] == round(arch_macs(tiny.smallest_child()) / 1e6, 1)
    assert printed["smallest_child_tda2x_ms"] < printed["largest_child_tda2x_ms"]
    with pytest.raises(SystemExit) as exit_info:
        space_children.main(["space_children", "--preset=huge"])
    assert exit_info.value.code == 2
