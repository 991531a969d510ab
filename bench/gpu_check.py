"""The GPU check of the paper's setting: supernet and largest-child train steps at 224 px under
mixed precision, in images per second.

On a machine with a GPU it builds the `imagenet_paper` supernet and its largest child (1000
classes) under the mixed-precision policy (`ednas_tf.precision.precision_policy`), times
their weight-training steps (forward, backward, SGD update; float16 with loss scaling) and prints
images/s of each and the supernet / largest-child ratio (target <= 1.15) as one JSON line. With
no GPU visible it says so in one `error:` line and exits 1, unless `--allow_cpu` (for a quick
check at a small image size). A network that fails to build or step under the policy is reported
as an `error` entry in the JSON (exit 1), not a traceback.

  python -m bench.gpu_check                                   # on a GPU machine
  python -m bench.gpu_check --allow_cpu --image_size=32 --batch_size=4 --steps=2
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

import tensorflow as tf
from absl import flags

from bench import cli
from bench.common import emit
from ednas_tf.layers.gumbel import weight_variables
from ednas_tf.model import build
from ednas_tf.precision import (
    PRECISIONS,
    for_precision,
    precision_policy,
    scaled_loss,
    unscaled_gradients,
)
from ednas_tf.presets import PRESET_STAGES, preset_space

MODELS = ("supernet", "largest_child")

FV = cli.new_flags()
cli.define_network_input_flags(FV, PRESET_STAGES)
flags.DEFINE_integer("batch_size", 64, "Images per step.", lower_bound=1, flag_values=FV)
flags.DEFINE_integer("steps", 20, "Timed steps per network.", lower_bound=1, flag_values=FV)
flags.DEFINE_integer(
    "warmup_steps", 3, "Untimed steps first (tracing, autotuning).", lower_bound=1, flag_values=FV
)
flags.DEFINE_enum(
    "precision",
    "mixed_float16",
    list(PRECISIONS),
    "Keras mixed-precision policy the networks are built and stepped under.",
    flag_values=FV,
)
flags.DEFINE_string("device", "tda2x", "Device profile that restricts the space.", flag_values=FV)
flags.DEFINE_bool(
    "allow_cpu",
    False,
    "Run on the CPU when no GPU is visible (a quick check, not the figure).",
    flag_values=FV,
)
cli.define_results_name(FV, "gpu_check")


def visible_gpus() -> list[str]:
    """Names of the GPUs TensorFlow sees."""
    return [d.name for d in tf.config.list_physical_devices("GPU")]


def make_train_step(model: tf.keras.Model, precision: str):
    """The search's weight step (SGD with momentum), with dynamic loss scaling under float16;
    the loss is computed in float32 whatever the compute dtype."""
    variables = weight_variables(model)
    optimizer = for_precision(tf.keras.optimizers.SGD(0.01, momentum=0.9), precision)
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def step(images: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            logits = tf.cast(model(images, training=True), tf.float32)
            loss = loss_fn(labels, logits)
            target = scaled_loss(optimizer, loss)
        grads = unscaled_gradients(optimizer, tape.gradient(target, variables))
        optimizer.apply_gradients(zip(grads, variables))
        return loss

    return step


def _one_line(err: BaseException) -> str:
    """The error's type and its first two lines (Keras' first line only names the layer)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return f"{type(err).__name__}: {' '.join(lines[:2])}"[:400]


def time_network(name: str, space, args, images, labels) -> dict:
    """Build `name` under the current policy, step it: images/s, or the error that stopped it."""
    try:
        model = build(space, seed=0) if name == "supernet" else build(space.largest_child())
        step = make_train_step(model, args.precision)
        for _ in range(args.warmup_steps):
            step(images, labels).numpy()
        start = time.perf_counter()
        for _ in range(args.steps):
            loss = step(images, labels)
        loss.numpy()
        seconds = (time.perf_counter() - start) / args.steps
    except Exception as err:  # noqa: BLE001 - any failure under the policy is the check's answer
        return {"error": _one_line(err)}
    return {
        "ms_per_step": round(seconds * 1000, 2),
        "images_per_s": round(args.batch_size / seconds, 1),
        "params": int(model.count_params()),
        "compute_dtype": model.get_layer("stem").compute_dtype,
    }


def _memory_peak_mb() -> float | None:
    try:
        return round(tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20, 1)
    except (ValueError, RuntimeError):
        return None


def main(argv: Sequence[str] | None = None) -> None:
    """argv as absl's (argv[0] the program; default sys.argv)."""
    args = cli.parse_args(FV, argv, __doc__)
    gpus = visible_gpus()
    if not gpus and not args.allow_cpu:
        print(
            "error: no GPU visible to TensorFlow (tf.config.list_physical_devices('GPU') is "
            "empty); run on a GPU machine, or pass --allow_cpu for a CPU check",
            file=sys.stderr,
        )
        raise SystemExit(1)
    try:
        space = preset_space(
            args.preset,
            input_shape=(args.image_size, args.image_size, 3),
            num_classes=args.num_classes,
            profile=args.device,
        )
    except ValueError as err:
        cli.error(str(err))
    tf.keras.utils.set_random_seed(0)
    images = tf.random.uniform((args.batch_size, args.image_size, args.image_size, 3))
    labels = tf.random.uniform((args.batch_size,), 0, args.num_classes, dtype=tf.int32)
    with precision_policy(args.precision):
        networks = {name: time_network(name, space, args, images, labels) for name in MODELS}
    figures = {
        "gpus": gpus,
        "device_kind": "gpu" if gpus else "cpu",
        "precision": args.precision,
        "networks": networks,
        "gpu_peak_memory_mb": _memory_peak_mb() if gpus else None,
        "tensorflow": tf.__version__,
        "config": vars(args),
    }
    errors = {n: r["error"] for n, r in networks.items() if "error" in r}
    if errors:
        figures["error"] = "; ".join(f"{n}: {e}" for n, e in errors.items())
    else:
        supernet, child = networks["supernet"], networks["largest_child"]
        figures["supernet_over_child"] = round(supernet["ms_per_step"] / child["ms_per_step"], 3)
        for name, result in networks.items():
            print(
                f"{name:>14}: {result['images_per_s']:9.1f} images/s ({result['ms_per_step']} ms)"
            )
    emit(args.results_name, figures)
    if errors:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
