"""What a supernet training step costs, measured in one process.

Compares the weight-training step (forward, backward, SGD update) of
  * our single-path supernet (meta-kernels, channel masks, gated identities),
  * the largest child of the same space (every block at its largest kernel and expansion),
  * an FBNet-style multi-path reference supernet of the same space: every (kernel, expansion)
    candidate of a block is its own block, all are computed and their outputs mixed by the gate.

Targets (issue 2): supernet / largest child <= 1.15, multi-path / supernet >= 3.
`--models` times a subset (at 224 px the multi-path reference takes minutes to build and step);
the JSON also holds the parameters, MACs and predicted TDA2x latency of the space's smallest,
largest and paper-size children (`bench/space_children.py`).
`checkpoint_overhead` (issue 29, target <= 3 %): what the search's checkpoints at the default
frequency (`--checkpoint_every_steps`, every 200 steps) add to its steps: the median time of one
checkpoint of the supernet's search state (weights, SGD momentum, the gates' Adam slots, written
atomically by `CheckpointKeeper`) over `checkpoint_every_steps` supernet steps.
`--jit_compile` times every step compiled by XLA as well, against the same step without it
(on CPU, XLA's depthwise convolutions make training steps slower: docs/RESULTS.md).

  python -m bench.supernet_cost [--image_size=32 --batch_size=64 --repeats=30]
  python -m bench.supernet_cost --preset=imagenet_paper --image_size=224 --num_classes=1000 \
    --models=supernet,largest_child --batch_size=8 --repeats=10
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf
from absl import flags

from bench import cli
from bench.common import emit
from bench.space_children import space_children
from ednas_tf.checkpointing import DEFAULT_EVERY_STEPS, CheckpointKeeper
from ednas_tf.layers.blocks import ConvBnAct, InvertedResidual, SqueezeSpatial
from ednas_tf.layers.gumbel import GumbelSoftmaxGate, arch_variables, weight_variables
from ednas_tf.model import build
from ednas_tf.presets import preset_space
from ednas_tf.profiles import get_profile
from ednas_tf.space import BlockSpace, SearchSpace

FV = cli.new_flags()
flags.DEFINE_string("preset", "small", "Search-space preset.", flag_values=FV)
flags.DEFINE_integer("image_size", 32, "Input side in pixels.", flag_values=FV)
flags.DEFINE_integer("channels", 3, "Input channels.", flag_values=FV)
flags.DEFINE_integer("num_classes", 10, "Classes of the classifier.", lower_bound=2, flag_values=FV)
flags.DEFINE_integer("batch_size", 64, "Images per training step.", flag_values=FV)
flags.DEFINE_float("width", 1.0, "Width multiplier of the space.", flag_values=FV)
flags.DEFINE_integer("repeats", 30, "Timed steps per model.", flag_values=FV)
flags.DEFINE_string("device", "tda2x", "Device profile of the space.", flag_values=FV)
flags.DEFINE_string(
    "stage_widths",
    "",
    "Comma-separated stage-width multipliers the space searches (default: none).",
    flag_values=FV,
)
flags.DEFINE_bool(
    "jit_compile",
    False,
    "Also time each model's step compiled by XLA (ratio xla_over_graph per model).",
    flag_values=FV,
)
flags.DEFINE_integer(
    "checkpoint_every_steps",
    DEFAULT_EVERY_STEPS,
    "The search's checkpoint frequency the overhead is figured for.",
    lower_bound=1,
    flag_values=FV,
)
MODELS = ("supernet", "supernet_joint", "largest_child", "multipath")
flags.DEFINE_list(
    "models",
    list(MODELS),
    f"Networks to time, of {', '.join(MODELS)}; a ratio needs both of its networks, the "
    "checkpoint overhead the supernet.",
    flag_values=FV,
)
cli.define_results_name(FV, "supernet_cost")


class MultiPathBlock(tf.keras.layers.Layer):
    """FBNet-style reference: one full block per candidate, outputs mixed by a Gumbel gate."""

    def __init__(self, block: BlockSpace, activation: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.candidates = [
            InvertedResidual(
                block.channels,
                block.stride,
                kernel_sizes=kernel,
                expansions=(e,),
                residual=block.residual,
                activation=activation,
                name=f"k{'+'.join(map(str, kernel))}_e{e:g}",
            )
            for kernel in block.kernel_options
            for e in block.expansion_options
        ]
        self.with_skip = block.searches_skip
        self.gate = GumbelSoftmaxGate(len(self.candidates) + int(self.with_skip), seed=0)

    def call(self, inputs: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        """Every candidate computed, their outputs weighted by the gate (and the skip)."""
        g = self.gate.value(training)
        out = tf.add_n([g[i] * c(inputs, training=training) for i, c in enumerate(self.candidates)])
        if self.with_skip:
            out += g[-1] * inputs
        return out


def build_multipath(space: SearchSpace) -> tf.keras.Model:
    """The multi-path reference supernet of `space`: stem and head as ours, one
    `MultiPathBlock` per searched block."""
    inputs = tf.keras.Input(space.input_shape)
    x = ConvBnAct(space.stem.channels, space.stem.kernel, space.stem.stride, space.activation)(
        inputs
    )
    for block in space.blocks:
        x = MultiPathBlock(block, space.activation, name=block.name)(x)
    if space.head is not None:
        x = ConvBnAct(space.head.channels, space.head.kernel, 1, space.activation)(x)
    x = tf.keras.layers.GlobalAveragePooling2D(keepdims=True)(x)
    x = tf.keras.layers.Conv2D(space.num_classes, 1)(x)
    return tf.keras.Model(inputs, SqueezeSpatial()(x), name="multipath")


def make_train_step(
    model: tf.keras.Model, jit_compile: bool = False
) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """The weight step of the search loop (without the distribution wrapper)."""
    variables = weight_variables(model)
    optimizer = tf.keras.optimizers.SGD(0.01, momentum=0.9)
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function(jit_compile=jit_compile)
    def step(images: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(images, training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    return step


def time_steps(steps: dict, images: tf.Tensor, labels: tf.Tensor, repeats: int) -> dict[str, float]:
    """Median seconds per step, runs interleaved so background load hits all models alike."""
    for step in steps.values():
        for _ in range(3):  # trace + warm-up
            step(images, labels).numpy()
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step(images, labels).numpy()
            samples[name].append(time.perf_counter() - start)
    return {name: float(np.median(s)) for name, s in samples.items()}


def checkpoint_seconds(model: tf.keras.Model, repeats: int = 5) -> float:
    """Median seconds of one atomic checkpoint of a supernet's search state: weights, the
    weights' SGD momentum and the gates' Adam slots (as SearchLoop.checkpoint holds them)."""
    weight_opt = tf.keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True)
    arch_opt = tf.keras.optimizers.Adam(0.01)
    weight_opt.build(weight_variables(model))
    arch_opt.build(arch_variables(model))
    state = tf.train.Checkpoint(model=model, weight_opt=weight_opt, arch_opt=arch_opt)
    with tempfile.TemporaryDirectory(prefix="ckpt-cost-") as folder:
        keeper = CheckpointKeeper(state, folder)
        keeper.save({})  # warm-up
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            keeper.save({})
            samples.append(time.perf_counter() - start)
    return float(np.median(samples))


def _space(args: argparse.Namespace) -> SearchSpace:
    """The preset space the flags name; a preset or width it refuses is one `error:` line."""
    stage_widths = cli.comma_separated(FV, "stage_widths", float)
    try:
        return preset_space(
            args.preset,
            input_shape=(args.image_size, args.image_size, args.channels),
            num_classes=args.num_classes,
            profile=args.device,
            width=args.width,
            stage_widths=stage_widths,
        )
    except ValueError as err:  # e.g. an unknown preset or a width <= 0
        cli.error(str(err))


def _models(space: SearchSpace, names: Sequence[str]) -> dict[str, tf.keras.Model]:
    """The networks compared (those of `names`): our supernet (also with joint
    kernel/expansion gates), its largest child, and the FBNet-style multi-path reference."""
    builders = {
        "supernet": lambda: build(space, seed=0),
        "supernet_joint": lambda: build(
            space.replace_blocks(
                [dataclasses.replace(b, joint=b.is_searchable) for b in space.blocks]
            ),
            seed=0,
        ),
        "largest_child": lambda: build(space.largest_child()),
        "multipath": lambda: build_multipath(space),
    }
    return {name: builders[name]() for name in MODELS if name in names}


# ratio name: (numerator, denominator)
RATIOS = {
    "supernet_over_child": ("supernet", "largest_child"),
    "supernet_joint_over_child": ("supernet_joint", "largest_child"),
    "multipath_over_supernet": ("multipath", "supernet"),
}


def _figures(
    seconds: dict[str, float], models: dict, space: SearchSpace, args: argparse.Namespace
) -> dict:
    """The ratios the targets are about, the raw ms per step, and the settings."""
    figures = {
        name: round(seconds[a] / seconds[b], 3)
        for name, (a, b) in RATIOS.items()
        if a in seconds and b in seconds
    }
    if "checkpoint" in seconds:  # one checkpoint per `every` steps, against those steps alone
        every = args.checkpoint_every_steps
        figures["checkpoint_overhead"] = round(
            seconds["checkpoint"] / (every * seconds["supernet"]), 4
        )
        figures["checkpoint_ms"] = round(seconds["checkpoint"] * 1000, 1)
    figures.update(
        {
            "ms_per_step": {n: round(s * 1000, 2) for n, s in seconds.items() if n != "checkpoint"},
            "config": vars(args),
            "candidates_per_block": max(
                len(b.kernel_options) * len(b.expansion_options) for b in space.blocks
            ),
            # the space's range, priced by the TDA2x model whatever --device restricts it
            **space_children(space, get_profile("tda2x").latency()),
        }
    )
    if args.jit_compile:
        figures["xla_over_graph"] = {
            n: round(seconds[f"{n}_xla"] / seconds[n], 3) for n in models if f"{n}_xla" in seconds
        }
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    """argv as absl's (argv[0] the program; default sys.argv)."""
    args = cli.parse_args(FV, argv, __doc__)
    tf.keras.utils.set_random_seed(0)
    unknown = sorted(set(args.models) - set(MODELS))
    if unknown or not args.models:
        cli.error(f"--models must name some of {', '.join(MODELS)}, got {args.models}")
    space = _space(args)
    models = _models(space, args.models)
    shape = (args.batch_size, args.image_size, args.image_size, args.channels)
    images = tf.random.uniform(shape)
    labels = tf.random.uniform((args.batch_size,), 0, space.num_classes, dtype=tf.int32)
    steps = {n: make_train_step(m) for n, m in models.items()}
    if args.jit_compile:  # the multi-path reference is left out: XLA takes minutes to compile it
        steps.update(
            {
                f"{n}_xla": make_train_step(m, jit_compile=True)
                for n, m in models.items()
                if n != "multipath"
            }
        )
    seconds = time_steps(steps, images, labels, args.repeats)
    for name, s in seconds.items():
        params = models[name.removesuffix("_xla")].count_params()
        print(f"{name:>18}: {s * 1000:8.1f} ms/step  ({params:,} params)")
    if "supernet" in models:
        seconds["checkpoint"] = checkpoint_seconds(models["supernet"])
        print(f"{'checkpoint':>18}: {seconds['checkpoint'] * 1000:8.1f} ms (supernet search state)")
    emit(args.results_name, _figures(seconds, models, space, args))


if __name__ == "__main__":
    main()
