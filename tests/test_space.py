import pytest

from ednas_tf.arch import ConvSpec
from ednas_tf.model import build, searchable_blocks
from ednas_tf.presets import preset_space
from ednas_tf.profiles import get_profile
from ednas_tf.space import BlockSpace, Choice, SearchSpace


@pytest.mark.parametrize(
    "preset,shape",
    [
        ("small", (28, 28, 1)),
        ("small", (64, 64, 3)),
        ("small_hires", (32, 32, 1)),
        ("imagenet", (224, 224, 3)),
        ("imagenet_paper", (224, 224, 3)),
        ("tiny", (32, 32, 1)),
    ],
)
def test_tda2x_space_has_only_allowed_depthwise_pairs(preset, shape):
    space = preset_space(preset, input_shape=shape, profile="tda2x")
    profile = get_profile("tda2x")
    for block in space.blocks:
        for option in block.kernel_options:
            for k in option:
                assert profile.allows_depthwise(k, block.stride), (block.name, k, block.stride)
    strided = [b for b in space.blocks if b.stride == 2]
    assert strided and all(b.kernel_options == [(3,)] for b in strided)


def test_host_profile_keeps_strided_large_kernels():
    space = preset_space("small", input_shape=(32, 32, 3), profile="host")
    assert any(b.stride == 2 and b.searches_kernel for b in space.blocks)


def test_host_profile_offers_only_kernels_xnnpack_runs():
    space = preset_space("small", input_shape=(32, 32, 3), profile="host")
    kernels = {k for b in space.blocks for option in b.kernel_options for k in option}
    assert kernels == {3, 5}


def test_profile_refuses_block_with_nothing_allowed():
    block = BlockSpace("b", 16, 2, Choice((5, 7)), 6.0)
    with pytest.raises(ValueError, match="no kernel option"):
        SearchSpace((32, 32, 3), 10, ConvSpec(3, 16), [block], None, get_profile("tda2x"))


def test_profile_refuses_activation():
    with pytest.raises(ValueError, match="activation"):
        preset_space("tiny", activation="hswish")


def test_step_spaces():
    space = preset_space("small", input_shape=(28, 28, 1))
    early = space.early_block_names()
    assert early and early[0] == "s1b1"
    step1 = space.step_space(1)
    for b in step1.blocks:
        assert not b.searches_expansion and not b.searches_skip
        assert b.searches_kernel == (b.name in early and len(b.kernel_options) > 1)
    step2 = space.step_space(2, {"s1b1": (3, 7)})
    s1b1 = step2.blocks[0]
    assert s1b1.kernel_options == [(3, 7)] and not s1b1.searches_kernel
    assert all(b.joint for b in step2.blocks if b.name not in early)
    # step 2 searches every skip the space offers, the high-resolution blocks' included
    assert [b.name for b in step2.blocks if b.searches_skip] == [
        b.name for b in space.blocks if b.searches_skip
    ]
    assert any(b.searches_skip for b in step2.blocks if b.name in early)


def test_one_builder_for_supernet_and_child():
    space = preset_space("tiny", input_shape=(16, 16, 1), num_classes=3)
    supernet = build(space)
    child = build(space.largest_child())
    assert supernet.output_shape == child.output_shape == (None, 3)
    assert any(b.gates() for b in searchable_blocks(supernet))
    assert not any(b.gates() for b in searchable_blocks(child))
    # the largest child has exactly the supernet's weights shapes except gates and extra kernels
    assert child.count_params() < supernet.count_params()


def test_unknown_preset():
    with pytest.raises(ValueError, match="available"):
        preset_space("huge")


def test_one_kernel_size_means_no_kernel_search_and_no_step_1():
    space = preset_space("small", input_shape=(32, 32, 1), profile="host", kernels=(3,))
    assert not any(b.searches_kernel for b in space.blocks)
    assert not space.searches_early_kernels()
    assert preset_space("small", input_shape=(32, 32, 1), profile="host").searches_early_kernels()
    # the blocks still search expansions and skips
    assert any(b.searches_expansion for b in space.blocks)


def test_step_spaces_hold_a_block_at_a_kernel_it_offers():
    # a space of 5x5 only: the reference kernel (3) is not among its options
    space = preset_space("small", input_shape=(32, 32, 1), profile="host", kernels=(5,))
    for step in (1, 2):
        kernels = {o for b in space.step_space(step).blocks for o in b.kernel_options}
        assert kernels == {(5,)}, step


def test_kernels_are_checked():
    with pytest.raises(ValueError, match="no kernel size"):
        preset_space("tiny", kernels=())
    with pytest.raises(ValueError, match="odd"):
        preset_space("tiny", kernels=(3, 4))
    with pytest.raises(ValueError, match="no kernel option"):
        preset_space("small", input_shape=(32, 32, 1), profile="host", kernels=(7,))


def test_small_hires_is_small_with_its_first_stride_moved_to_the_last_stage():
    """The preset is the layout bench/variant_cost.py measured as `stride_late`."""
    from bench.variant_cost import resolution_variants
    from ednas_tf.baselines.fixed import fixed_kernel_arch

    def all_3x3(preset):
        space = preset_space(preset, input_shape=(32, 32, 1), profile="host", width=0.5)
        return fixed_kernel_arch(space, 3)

    moved = resolution_variants(all_3x3("small"), expansion=3, narrow=0.75)["stride_late"]
    hires = all_3x3("small_hires")
    assert [b.encode() for b in hires.blocks] == [b.encode() for b in moved.blocks]
    space = preset_space("small_hires", input_shape=(32, 32, 1), profile="host", width=0.5)
    assert [h for h, _ in space.input_resolutions()][:3] == [32, 32, 32]
