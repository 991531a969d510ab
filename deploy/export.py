"""Export a merged (or QAT) Keras model to the deploy formats, and check each against Keras.

* TFLite float / int8: what LiteRT runs on a host or phone (latency, parity); int8 is
  full-integer, so the graph has no float fallback (a QAT model keeps its learned ranges).
* ONNX: for TIDL's ONNX importer. The input is NCHW (`inputs_as_nchw`), the layout TIDL reads its
  planar frames in, so no Transpose is left at the input.
* TF frozen GraphDef (.pb): for TIDL's TF importer, which knows TF-1.x op names only. The graph is
  frozen at a static [1, H, W, C] input so grappler folds every Shape/StridedSlice/Pack into
  constants; `AddV2` (TF2) is renamed `Add` (TF1, same semantics); Identity nodes are bypassed;
  node names are `<keras layer>/<op>`.

Every writer is atomic (temp file + rename): an interrupted export never leaves a truncated
model that a later stage could load.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import tensorflow as tf

from ednas_tf.io_utils import atomic_write_bytes

INPUT_LAYOUT_KEY = "ednas_input_layout"  # ONNX metadata: "NCHW" or "NHWC"


def input_spec(model: tf.keras.Model) -> tf.TensorSpec:
    """The model's input at a static batch of 1: what TIDL and the frozen graph need."""
    shape = model.inputs[0].shape[1:]
    if not shape.is_fully_defined():
        raise ValueError(f"{model.name}: the input shape {shape} must be fully defined to export")
    return tf.TensorSpec([1, *shape], tf.float32, name=model.input_names[0])


def dataset_arrays(dataset: tf.data.Dataset, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `count` (image, label) pairs of an unbatched split, as float32 images and
    labels: calibration and test data for the exports and their checks. Give it a sample
    (`ednas_tf.data.sampling.sample_split`), not a whole split: the first images of an image
    folder are the first classes."""
    images, labels = [], []
    for image, label in dataset.take(count).as_numpy_iterator():
        images.append(image)
        labels.append(label)
    if not images:
        raise ValueError("no images in the split (raise --limit or check the dataset)")
    return np.stack(images).astype(np.float32), np.asarray(labels).reshape(-1)


# ---------------------------------------------------------------------------------------------
# TFLite


def _convert_tflite(model: tf.keras.Model, configure: Callable | None = None) -> bytes:
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if configure is not None:
        configure(converter)
    return converter.convert()


def export_tflite_float(model: tf.keras.Model, path: str | Path) -> Path:
    """Float32 TFLite model (BN already folded by the merge; activations fused by the converter)."""
    return atomic_write_bytes(path, _convert_tflite(model))


def _representative(images: np.ndarray) -> Callable[[], Iterator[list[np.ndarray]]]:
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(
            f"representative images must be a non-empty [N, H, W, C] array, got "
            f"shape {images.shape}"
        )
    return lambda: ([images[i : i + 1]] for i in range(len(images)))


def export_tflite_int8(
    model: tf.keras.Model, path: str | Path, representative_images: np.ndarray, int8_io: bool
) -> Path:
    """Full-integer int8 TFLite model.

    `model` may be a plain float model (post-training quantization: activation ranges calibrated
    on `representative_images`, training images in [0, 1]) or a TFMOT QAT model (the converter
    takes the fake-quant ranges learned in training; the representative data only covers tensors
    without one). Only int8 builtins are allowed, so conversion fails rather than leaving a float
    op. int8_io: int8 input/output tensors too (else float I/O with quantize/dequantize ops).
    """
    representative = _representative(representative_images)

    def configure(converter: tf.lite.TFLiteConverter) -> None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if int8_io:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8

    return atomic_write_bytes(path, _convert_tflite(model, configure))


# ---------------------------------------------------------------------------------------------
# ONNX


def _strip_scope(name: str, scope: str) -> str:
    """'child_merged/b01_depthwise/BiasAdd:0' -> 'b01_depthwise/BiasAdd'."""
    name = name.split(":")[0]
    return name[len(scope) + 1 :] if name.startswith(f"{scope}/") else name


def _onnx_layer(node, scope: str) -> str | None:
    """The Keras layer an ONNX node came from: the scope of its output, else of its weights
    (tf2onnx gives fused nodes such as a depthwise conv generated names like 'Conv__81'), else
    a graph output named after the layer ('logits')."""
    for tensor in (*node.output, *node.input[1:]):
        if tensor.startswith(f"{scope}/"):
            return tensor[len(scope) + 1 :].split("/")[0]
    output = node.output[0] if node.output else ""
    return output.split(":")[0].split("/")[0] if output and "__" not in output else None


def _name_onnx_nodes(graph, scope: str) -> None:
    """Names every node '<keras layer>/<op type>', so compatibility reports point at layers."""
    used: set[str] = set()
    for node in graph.node:
        layer = _onnx_layer(node, scope)
        name = f"{layer}/{node.op_type}" if layer else node.name
        base, count = name, 1
        while name in used:
            name, count = f"{base}_{count}", count + 1
        node.name = name
        used.add(name)


def export_onnx(
    model: tf.keras.Model, path: str | Path, opset: int = 13, nchw_input: bool = True
) -> Path:
    """ONNX model at a static batch of 1 (tf2onnx); NCHW input unless nchw_input=False."""
    import tf2onnx  # heavy third-party import, paid only by an ONNX export

    spec = input_spec(model)
    proto, _ = tf2onnx.convert.from_keras(
        model,
        input_signature=(spec,),
        opset=opset,
        inputs_as_nchw=[spec.name] if nchw_input else None,
    )
    _name_onnx_nodes(proto.graph, model.name)
    entry = proto.metadata_props.add()
    entry.key, entry.value = INPUT_LAYOUT_KEY, "NCHW" if nchw_input else "NHWC"
    return atomic_write_bytes(path, proto.SerializeToString())


# ---------------------------------------------------------------------------------------------
# TF frozen GraphDef


def _grappler_fold(graph_def, graph: tf.Graph, outputs: list[str]):
    """Constant folding + pruning of Identity/NoOp chains (no fusing or layout passes, which
    would emit ops TIDL does not know, such as _FusedConv2D)."""
    # TensorFlow's private modules, kept next to their one use (not public API)
    from tensorflow.core.protobuf import config_pb2, meta_graph_pb2
    from tensorflow.python.grappler import tf_optimizer

    meta = tf.compat.v1.train.export_meta_graph(graph_def=graph_def, graph=graph)
    fetch = meta_graph_pb2.CollectionDef()
    fetch.node_list.value.extend(outputs)
    meta.collection_def["train_op"].CopyFrom(fetch)
    config = config_pb2.ConfigProto()
    rewrites = config.graph_options.rewrite_options
    rewrites.optimizers.extend(["pruning", "constfold", "dependency"])
    rewrites.meta_optimizer_iterations = 2  # RewriterConfig.TWO
    return tf_optimizer.OptimizeGraph(config, meta)


def _tensor_node(name: str) -> str:
    return name.lstrip("^").split(":")[0]


def _bypass_identities(graph_def) -> None:
    """Rewires consumers of Identity nodes to the Identity's input and drops the Identities
    (and control edges, which a frozen inference graph does not need)."""
    source = {n.name: n.input[0] for n in graph_def.node if n.op == "Identity"}

    def resolve(name: str) -> str:
        while _tensor_node(name) in source:
            name = source[_tensor_node(name)]
        return name

    kept = [n for n in graph_def.node if n.op != "Identity"]
    for node in kept:
        inputs = [resolve(i) for i in node.input if not i.startswith("^")]
        del node.input[:]
        node.input.extend(inputs)
    del graph_def.node[:]
    graph_def.node.extend(kept)


_WEIGHT_ROLES = {"Conv2D": "kernel", "DepthwiseConv2dNative": "kernel", "BiasAdd": "bias"}


def _rename_for_tidl(graph_def, scope: str) -> None:
    """TF1 op names (AddV2 -> Add) and layer-scoped node names; a frozen kernel or bias is
    named '<layer>/kernel' or '<layer>/bias' after the op that reads it."""
    renames = {n.name: _strip_scope(n.name, scope) for n in graph_def.node}
    consts = {n.name for n in graph_def.node if n.op == "Const"}
    for node in graph_def.node:
        role = _WEIGHT_ROLES.get(node.op)
        weight = _tensor_node(node.input[1]) if role and len(node.input) > 1 else None
        if weight in consts:
            renames[weight] = f"{renames[node.name].rsplit('/', 1)[0]}/{role}"
        if node.op == "AddV2":
            node.op = "Add"
            if renames[node.name].endswith("/AddV2"):
                renames[node.name] = renames[node.name][: -len("V2")]
    if len(set(renames.values())) != len(renames):  # a shared weight: keep the plain names
        renames = {n.name: _strip_scope(n.name, scope) for n in graph_def.node}
    for node in graph_def.node:
        node.name = renames[node.name]
        inputs = []
        for i in node.input:
            base, _, port = i.partition(":")
            inputs.append(renames.get(base, base) + (f":{port}" if port not in ("", "0") else ""))
        del node.input[:]
        node.input.extend(inputs)


def frozen_graph_def(model: tf.keras.Model):
    """The model as a TIDL-style frozen GraphDef (see the module docstring)."""
    from tensorflow.python.framework.convert_to_constants import (  # private TF module
        convert_variables_to_constants_v2,
    )

    spec = input_spec(model)
    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    frozen = convert_variables_to_constants_v2(concrete)
    outputs = [_tensor_node(t.name) for t in frozen.outputs]
    graph_def = _grappler_fold(frozen.graph.as_graph_def(), frozen.graph, outputs)
    _bypass_identities(graph_def)
    _rename_for_tidl(graph_def, model.name)
    return graph_def


def export_frozen_graph(model: tf.keras.Model, path: str | Path) -> Path:
    """Writes `frozen_graph_def(model)` as a binary .pb."""
    return atomic_write_bytes(path, frozen_graph_def(model).SerializeToString())


def load_graph_def(path: str | Path):
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(Path(path).read_bytes())
    return graph_def


def graph_io(graph_def) -> tuple[list[str], list[str]]:
    """(Placeholder names, names of the nodes no other node consumes, Const/NoOp excepted)."""
    consumed = {_tensor_node(i) for n in graph_def.node for i in n.input}
    inputs = [n.name for n in graph_def.node if n.op == "Placeholder"]
    outputs = [
        n.name
        for n in graph_def.node
        if n.name not in consumed and n.op not in ("Const", "NoOp", "Placeholder")
    ]
    return inputs, outputs


# ---------------------------------------------------------------------------------------------
# Parity checks


@dataclasses.dataclass
class Parity:
    """How an exported model agrees with the Keras model it came from, on the same images."""

    num_images: int
    max_abs_diff: float
    top1_agreement: float
    accuracy: float | None = None
    keras_accuracy: float | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def compare_outputs(
    outputs: np.ndarray, reference: np.ndarray, labels: np.ndarray | None = None
) -> Parity:
    outputs, reference = np.asarray(outputs, np.float32), np.asarray(reference, np.float32)
    if outputs.shape != reference.shape:
        raise ValueError(f"output shape {outputs.shape} != Keras output shape {reference.shape}")
    top1, ref_top1 = outputs.argmax(-1), reference.argmax(-1)
    parity = Parity(
        num_images=len(outputs),
        max_abs_diff=float(np.max(np.abs(outputs - reference))),
        top1_agreement=float(np.mean(top1 == ref_top1)),
    )
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        parity.accuracy = float(np.mean(top1 == labels))
        parity.keras_accuracy = float(np.mean(ref_top1 == labels))
    return parity


def keras_outputs(model: tf.keras.Model, images: np.ndarray) -> np.ndarray:
    return model.predict(np.asarray(images, np.float32), batch_size=64, verbose=0)


def tflite_outputs(path: str | Path, images: np.ndarray) -> np.ndarray:
    """Runs a .tflite model frame by frame; int8 I/O is quantized/dequantized with the model's
    own scale and zero point, so outputs compare with float logits."""
    from ai_edge_litert.interpreter import Interpreter  # the runtime, loaded only to run a model

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    results = []
    for image in np.asarray(images, np.float32):
        x = image[None]
        if np.issubdtype(inp["dtype"], np.integer):
            scale, zero = inp["quantization"]
            info = np.iinfo(inp["dtype"])
            x = np.clip(np.round(x / scale + zero), info.min, info.max).astype(inp["dtype"])
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        y = interpreter.get_tensor(out["index"])
        if np.issubdtype(out["dtype"], np.integer):
            scale, zero = out["quantization"]
            y = (y.astype(np.float32) - zero) * scale
        results.append(y[0])
    return np.stack(results)


def onnx_input_layout(model) -> str:
    """'NCHW' or 'NHWC': from export_onnx's metadata, else guessed from the input shape."""
    for entry in model.metadata_props:
        if entry.key == INPUT_LAYOUT_KEY:
            return entry.value
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    return "NCHW" if len(dims) == 4 and dims[1] < min(dims[2], dims[3]) else "NHWC"


def onnx_outputs(path: str | Path, images: np.ndarray) -> np.ndarray:
    # heavy third-party imports, paid only when an ONNX model is run
    import onnx
    import onnxruntime as ort

    layout = onnx_input_layout(onnx.load(str(path), load_external_data=False))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    images = np.asarray(images, np.float32)
    if layout == "NCHW":
        images = images.transpose(0, 3, 1, 2)
    return np.concatenate([session.run(None, {name: image[None]})[0] for image in images])


def frozen_graph_outputs(path: str | Path, images: np.ndarray) -> np.ndarray:
    """Runs the frozen GraphDef (static batch 1) through TF by importing it into a wrapped
    function: the same graph TIDL would import."""
    graph_def = load_graph_def(path)
    (input_name,), (output_name,) = graph_io(graph_def)
    wrapped = tf.compat.v1.wrap_function(
        lambda: tf.compat.v1.import_graph_def(graph_def, name=""), []
    )
    run = wrapped.prune(
        wrapped.graph.get_tensor_by_name(f"{input_name}:0"),
        wrapped.graph.get_tensor_by_name(f"{output_name}:0"),
    )
    images = np.asarray(images, np.float32)
    return np.concatenate([run(tf.constant(image[None])).numpy() for image in images])


def check_tflite(path, keras_model, images, labels=None) -> Parity:
    """Parity of a .tflite model with `keras_model` (int8 outputs dequantized)."""
    return compare_outputs(tflite_outputs(path, images), keras_outputs(keras_model, images), labels)


def check_onnx(path, keras_model, images, labels=None) -> Parity:
    """Parity of an ONNX model (onnxruntime, CPU) with `keras_model`."""
    return compare_outputs(onnx_outputs(path, images), keras_outputs(keras_model, images), labels)


def check_frozen_graph(path, keras_model, images, labels=None) -> Parity:
    """Parity of a frozen .pb with `keras_model`."""
    return compare_outputs(
        frozen_graph_outputs(path, images), keras_outputs(keras_model, images), labels
    )
