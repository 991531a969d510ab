"""Probe models: one block (or stem/head/classifier) as its own network, timed with LiteRT.

A lookup table is only as good as its probes, so each probe is the deployed form of one
configuration: the same layers `ednas_tf.model.build` uses, converted to a float TFLite model, and
timed with the real runtime (`time_tflite`: warm-up invokes, medians of repeats, pinned CPUs). A
parallel kernel set such as (3, 7) deploys as ONE depthwise convolution of the merged kernel; the
TFLite converter (TF 2.21) does not constant-fold the padded-and-summed branches (it keeps
PAD/ADD/RESHAPE ops computing the kernel at run time and an unfused BN multiply), so the probe is
built with a single kernel of the largest size holding the merged kernel. (A child with parallel
sets converted straight from `model.build` has those extra ops too: deployment must merge first.)

Every timed probe also pays the fixed cost of running a network once. `network_fixed_cost` measures
it as the intercept of latency against length for chains of 1, 2, 4 and 8 copies of the yardstick
block: what a probe costs beyond its marginal cost inside a network (see `ednas_tf.measure.tables`).
Measured here: 2-4 us, where the smallest network (one ReLU, `overhead_probe`, kept for board
manifests) takes 1.6 us. Small blocks behave differently: chains of a 4x4 or 8x8 block have
intercepts of 9-21 us, i.e. such a block costs that much less inside a network than alone, which
is what still inflates LUT predictions of the smallest networks (bench/latency_fidelity.py).
"""

from __future__ import annotations

import contextlib
import functools
import os
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tensorflow as tf

from ednas_tf.cost.lut import OVERHEAD_KEY
from ednas_tf.geometry import BlockConfig, ConvConfig
from ednas_tf.layers.blocks import ConvBnAct, InvertedResidual, SqueezeSpatial
from ednas_tf.layers.meta_kernel import MetaKernelDepthwiseConv2D

DEFAULT_REPEATS = 100
DEFAULT_WARMUP = 10
DEFAULT_ROUNDS = 10
ROUND_PAUSE_S = 0.1

Config = BlockConfig | ConvConfig
REFERENCE_CONFIG = BlockConfig(16, 16, 32, 32, 1, (3,), 4.0, True)
CHAIN_LENGTHS = (1, 2, 4, 8)


def config_kind(config: Config) -> str:
    """'block', 'conv' or 'classifier' (the manifest's `kind` column)."""
    return "block" if isinstance(config, BlockConfig) else config.kind


def _merged_kernel(kernel: tuple[int, ...], channels: int) -> tf.Tensor:
    """The deploy kernel of a parallel kernel set: the sum of its centred, padded branches."""
    layer = MetaKernelDepthwiseConv2D(kernel)
    layer.build(tf.TensorShape([None, None, None, channels]))
    return layer.merged_kernel()


def block_probe(
    config: BlockConfig, activation: str = "relu6", copies: int = 1
) -> tf.keras.Model:
    """Input → one child inverted-residual block, with a parallel kernel set already merged.

    copies > 1 chains that many copies (shape-keeping configs only): `network_fixed_cost`."""
    if copies > 1 and not (config.stride == 1 and config.c_in == config.c_out):
        raise ValueError(f"only a shape-keeping block can be chained, not {config.key}")
    inputs = tf.keras.Input((config.in_h, config.in_w, config.c_in), batch_size=1, name="x")
    outputs = inputs
    for i in range(copies):
        block = InvertedResidual(
            config.c_out,
            config.stride,
            kernel_sizes=(max(config.kernel),),
            expansions=(config.expansion,),
            residual=config.residual,
            activation=activation,
            name="block" if i == 0 else f"block_{i}",
        )
        outputs = block(outputs)
        if len(config.kernel) > 1:
            block.depthwise.kernels[0].assign(_merged_kernel(config.kernel, block.hidden))
    return tf.keras.Model(inputs, outputs, name="probe")


def conv_probe(config: ConvConfig, activation: str = "relu6") -> tf.keras.Model:
    """Stem/head conv (ConvBnAct) or classifier (pool + 1x1 conv + squeeze), as in model.build."""
    inputs = tf.keras.Input((config.in_h, config.in_w, config.c_in), batch_size=1, name="x")
    if config.kind == "classifier":
        x = tf.keras.layers.GlobalAveragePooling2D(keepdims=True, name="pool")(inputs)
        x = tf.keras.layers.Conv2D(config.c_out, 1, name="classifier")(x)
        outputs = SqueezeSpatial(name="logits")(x)
    elif config.kind == "conv":
        outputs = ConvBnAct(config.c_out, config.kernel, config.stride, activation, name="conv")(
            inputs
        )
    else:
        raise ValueError(f"unknown ConvConfig kind {config.kind!r} (conv, classifier)")
    return tf.keras.Model(inputs, outputs, name="probe")


def overhead_probe() -> tf.keras.Model:
    """The smallest network (one ReLU on one number): its time is the per-invoke overhead."""
    inputs = tf.keras.Input((1,), batch_size=1, name="x")
    return tf.keras.Model(inputs, tf.keras.layers.ReLU()(inputs), name="probe")


def probe_model(config: Config | str, activation: str = "relu6") -> tf.keras.Model:
    """The probe of a block/conv config, or of `OVERHEAD_KEY`."""
    if config == OVERHEAD_KEY:
        return overhead_probe()
    if isinstance(config, BlockConfig):
        return block_probe(config, activation)
    if isinstance(config, ConvConfig):
        return conv_probe(config, activation)
    raise TypeError(f"no probe for {config!r}")


def to_tflite(model: tf.keras.Model) -> bytes:
    """Float TFLite flatbuffer of a Keras model (BN folded, activations fused by the converter)."""
    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def _interpreter(model: str | Path | bytes, num_threads: int):
    # Third-party runtime imported where timing starts: every device profile imports this module
    # (through the host table), and a run that never times on this machine need not load LiteRT.
    from ai_edge_litert.interpreter import Interpreter

    if isinstance(model, (bytes, bytearray)):
        return Interpreter(model_content=bytes(model), num_threads=num_threads)
    return Interpreter(model_path=str(model), num_threads=num_threads)


def timing_cpus(count: int) -> list[int]:
    """The CPUs timings run on: the first `count` this process may use ([] where unknown)."""
    if not hasattr(os, "sched_getaffinity"):
        return []
    return sorted(os.sched_getaffinity(0))[:count]


@contextlib.contextmanager
def pinned_cpus(count: int) -> Iterator[list[int]]:
    """Pins the calling thread, and the threads it starts, to the first `count` allowed CPUs.

    The cores of a shared or virtual machine can differ in speed: on the 2-vCPU machine this was
    developed on, one ran a probe 1.6x slower than the other, consistently. Left to the scheduler,
    a timing lands on either and comes out bimodal; pinning every timing to the same CPUs makes a
    table and the networks it predicts comparable. Restores the previous affinity afterwards.
    """
    if not hasattr(os, "sched_getaffinity"):  # not Linux: nothing to pin
        yield []
        return
    allowed = os.sched_getaffinity(0)
    chosen = timing_cpus(count)
    os.sched_setaffinity(0, chosen)
    try:
        yield chosen
    finally:
        os.sched_setaffinity(0, allowed)


def _ready_interpreter(model: str | Path | bytes, num_threads: int):
    """An allocated interpreter whose inputs hold fixed random data."""
    interpreter = _interpreter(model, num_threads)
    interpreter.allocate_tensors()
    rng = np.random.default_rng(0)
    for detail in interpreter.get_input_details():
        shape, dtype = detail["shape"], detail["dtype"]
        if np.issubdtype(dtype, np.floating):
            value = rng.standard_normal(shape).astype(dtype)
        else:
            value = rng.integers(0, 8, shape).astype(dtype)
        interpreter.set_tensor(detail["index"], value)
    return interpreter


def _round_median(model, invokes: int, warmup: int, num_threads: int, clock) -> int:
    """Median invoke time (clock units) on a fresh interpreter after `warmup` invokes."""
    interpreter = _ready_interpreter(model, num_threads)
    for _ in range(warmup):
        interpreter.invoke()
    times = []
    for _ in range(invokes):
        start = clock()
        interpreter.invoke()
        times.append(clock() - start)
    del interpreter  # its worker threads end while the caller still pins them
    return statistics.median(times)


def time_tflite(
    model: str | Path | bytes,
    repeats: int = DEFAULT_REPEATS,
    warmup: int = DEFAULT_WARMUP,
    num_threads: int = 1,
    rounds: int = DEFAULT_ROUNDS,
    reference: tuple[bytes, float] | None = None,
) -> float:
    """Latency (ms) of one `invoke()` of a .tflite model (path or bytes) under LiteRT.

    The `repeats` timed invokes run in `rounds` rounds, each on a fresh interpreter after
    `warmup` untimed invokes, a short pause apart; the result is the lowest round median
    (rounds=1: the plain median of repeats). Why: on the machine this was developed on, the same
    model timed 33-50 us from one interpreter instance to the next (where its buffers land in
    memory), and a shared machine has slow episodes; the best of several is reproducible.

    reference: (reference model, its nominal ms). Each round also times the reference, and the
    result is the median over rounds of (model / reference) x nominal ms: the latency at the
    speed the machine had when the nominal ms was measured. A shared virtual machine slows down
    by up to 1.9x for minutes at a time (neighbours on the physical core); a table and the
    networks it predicts, timed hours apart, only stay comparable through such a yardstick.

    Inputs hold fixed random data; only `invoke()` is timed, so the figure is the runtime's
    (default XNNPACK delegate included), not Python's data handling. The interpreter and its
    threads run pinned to `num_threads` fixed CPUs (`pinned_cpus`). Single-threaded, the clock is
    the calling thread's CPU time (time slices other processes take from the core are not the
    model's latency); with worker threads it is wall time.
    """
    rounds = min(rounds, repeats)  # few repeats (quick checks): fewer rounds, not an error
    if repeats < 1 or warmup < 0 or num_threads < 1 or not 1 <= rounds <= repeats:
        raise ValueError(
            f"need repeats >= 1, warmup >= 0, num_threads >= 1, 1 <= rounds <= repeats; got "
            f"{repeats}, {warmup}, {num_threads}, {rounds}"
        )
    clock = time.thread_time_ns if num_threads == 1 else time.perf_counter_ns
    invokes = max(1, repeats // rounds)
    medians, ratios = [], []
    with pinned_cpus(num_threads):
        for r in range(rounds):
            if r:
                time.sleep(ROUND_PAUSE_S)
            medians.append(_round_median(model, invokes, warmup, num_threads, clock))
            if reference is not None:
                ref = _round_median(reference[0], invokes, warmup, num_threads, clock)
                ratios.append(medians[-1] / ref)
    if reference is not None:
        return statistics.median(ratios) * reference[1]
    return min(medians) / 1e6


def network_fixed_cost(
    repeats: int = DEFAULT_REPEATS,
    warmup: int = DEFAULT_WARMUP,
    num_threads: int = 1,
    rounds: int = DEFAULT_ROUNDS,
    reference: tuple[bytes, float] | None = None,
) -> float:
    """What running a network costs beyond the sum of its layers' marginal costs (ms).

    Each probe is timed as a whole network, so each row holds this cost once; a network built
    from N probes pays it once, not N times. Least-squares intercept of latency vs length over
    chains of the yardstick block (`CHAIN_LENGTHS` copies), timed like any probe."""
    times = [
        time_tflite(
            to_tflite(block_probe(REFERENCE_CONFIG, copies=n)),
            repeats,
            warmup,
            num_threads,
            rounds,
            reference,
        )
        for n in CHAIN_LENGTHS
    ]
    _, intercept = np.polyfit(CHAIN_LENGTHS, times, 1)
    return max(float(intercept), 0.0)


@functools.lru_cache(maxsize=1)
def reference_tflite() -> bytes:
    """The speed yardstick: a mid-size block (conv 1x1, depthwise 3x3, conv 1x1, add), ~60 us."""
    return to_tflite(block_probe(REFERENCE_CONFIG))


def tflite_op_names(model: str | Path | bytes) -> list[str]:
    """Builtin op names of a .tflite model in execution order (before delegation).

    Public on purpose: it is how a user (and the tests) see which kernels a converted probe or
    model runs, e.g. that a merged block is one DEPTHWISE_CONV_2D."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType  # lazy: see _interpreter

    kwargs = {"experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
    if isinstance(model, (bytes, bytearray)):
        interpreter = Interpreter(model_content=bytes(model), **kwargs)
    else:
        interpreter = Interpreter(model_path=str(model), **kwargs)
    interpreter.allocate_tensors()
    return [op["op_name"] for op in interpreter._get_ops_details()]


def export_onnx(model: tf.keras.Model, path: str | Path, opset: int = 13) -> Path:
    """ONNX file of a Keras model via tf2onnx (fixed input shapes, batch 1 if unknown)."""
    import tf2onnx  # heavy (ONNX, its op tables): loaded only when probes are exported

    signature = [
        tf.TensorSpec([1 if d is None else d for d in t.shape], t.dtype, name=t.name.split(":")[0])
        for t in model.inputs
    ]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tf2onnx.convert.from_keras(model, input_signature=signature, opset=opset, output_path=str(path))
    return path


def measure_config(
    config: Config | str,
    repeats: int = DEFAULT_REPEATS,
    warmup: int = DEFAULT_WARMUP,
    num_threads: int = 1,
    rounds: int = DEFAULT_ROUNDS,
    reference: tuple[bytes, float] | None = None,
) -> float:
    """Builds, converts and times the probe of one configuration (ms, overhead included)."""
    model = to_tflite(probe_model(config))
    return time_tflite(model, repeats, warmup, num_threads, rounds, reference)
