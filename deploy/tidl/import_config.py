"""The inputs of TIDL's import tool: its config (tidl_import.txt) and the calibration frames.

Why written here: `tidl_model_import.out` ships in TI's registration-gated SDK, so the export
writes everything it reads next to the model, ready to run on a host with the SDK. The keys and
their meaning are the Processor SDK Linux TIDL chapter's (docs/TIDL.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ednas_tf.io_utils import atomic_write_bytes, atomic_write_text

MODEL_TYPES = {1: "TensorFlow", 2: "ONNX"}  # 0 is Caffe, which this project does not export
IMPORT_KEYS = (
    "randParams", "modelType", "quantizationStyle", "quantRoundAdd", "numParamBits",
    "inElementType", "inWidth", "inHeight", "inNumChannels", "rawSampleInData",
    "numSampleInData", "foldBnInConv2D", "inputNetFile", "outputNetFile", "outputParamsFile",
    "sampleInData", "tidlStatsTool", "inMean", "inScale", "conv2dKernelType",
)  # fmt: skip
_U8_TO_UNIT = 1.0 / 255.0
_HEADER = (
    "# TIDL import config ({model} model), written by deploy/tidl/import_config.py.",
    "# Input: uint8 planar frames (C planes of H x W per frame, numSampleInData frames in",
    "# sampleInData); the network expects float = (u8 - inMean) * inScale, i.e. [0, 1].",
    "# inputParamsFile is Caffe-only and omitted: the model file holds its weights.",
    "# conv2dKernelType: 0 sparse / 1 dense (per TIDL layer after import; one value here).",
)


def _numbers(values: Sequence[float]) -> str:
    return " ".join(f"{float(v):.10g}" for v in values)


def _check_import_args(
    model_type: int, num_param_bits: int, in_element_type: int, num_sample_in_data: int
) -> None:
    """Refuses values the import tool would reject (or misread) only on TI's host."""
    if model_type not in MODEL_TYPES:
        raise ValueError(f"model_type must be 1 (TensorFlow) or 2 (ONNX), got {model_type}")
    if not 4 <= num_param_bits <= 12:
        raise ValueError(f"numParamBits must be in [4, 12], got {num_param_bits}")
    if in_element_type not in (0, 1):
        raise ValueError(f"inElementType must be 0 (u8) or 1 (s8), got {in_element_type}")
    if num_sample_in_data < 1:
        raise ValueError("numSampleInData must be >= 1")


def _input_transform(
    channels: int, in_mean: Sequence[float] | None, in_scale: Sequence[float] | None
) -> tuple[list[float], list[float]]:
    """inMean / inScale per channel; by default u8 frames map onto the [0, 1] the network takes."""
    in_mean = [0.0] * channels if in_mean is None else list(in_mean)
    in_scale = [_U8_TO_UNIT] * channels if in_scale is None else list(in_scale)
    if len(in_mean) != channels or len(in_scale) != channels:
        raise ValueError(f"inMean/inScale need {channels} values (one per channel)")
    return in_mean, in_scale


def write_import_config(
    path: str | Path,
    *,
    model_path: str,
    model_type: int,
    input_shape: Sequence[int],
    num_sample_in_data: int,
    sample_in_data: str = "sample_in.raw",
    num_param_bits: int = 8,
    in_element_type: int = 0,
    in_mean: Sequence[float] | None = None,
    in_scale: Sequence[float] | None = None,
    quant_round_add: int = 50,
    conv2d_kernel_type: int = 1,
    output_net_file: str = "tidl_net.bin",
    output_params_file: str = "tidl_param.bin",
    tidl_stats_tool: str = "eve_test_dl_algo_ref.out",
) -> Path:
    """Writes the config of TIDL's `tidl_model_import.out` (tidl_import.txt).

    input_shape: (H, W, C) of the network input. The network takes float images in [0, 1] and
    TIDL is fed uint8 planar frames (inElementType 0), so the default input transform is
    float = (u8 - inMean) * inScale with inMean = 0 and inScale = 1/255 per channel (TIDL's
    mean-then-scale order). inputParamsFile names a Caffe .caffemodel; TF and ONNX files hold their
    weights, so the key is omitted. Paths are written as given (the import tool resolves them
    from its working directory). quantizationStyle is 1 (dynamic): the only style TDA2x runs.
    """
    _check_import_args(model_type, num_param_bits, in_element_type, num_sample_in_data)
    height, width, channels = (int(d) for d in input_shape)
    in_mean, in_scale = _input_transform(channels, in_mean, in_scale)
    values = {
        "randParams": 0,
        "modelType": model_type,
        "quantizationStyle": 1,
        "quantRoundAdd": quant_round_add,
        "numParamBits": num_param_bits,
        "inElementType": in_element_type,
        "inWidth": width,
        "inHeight": height,
        "inNumChannels": channels,
        "rawSampleInData": 1,
        "numSampleInData": num_sample_in_data,
        "foldBnInConv2D": 1,
        "inputNetFile": f'"{model_path}"',
        "outputNetFile": f'"{output_net_file}"',
        "outputParamsFile": f'"{output_params_file}"',
        "sampleInData": f'"{sample_in_data}"',
        "tidlStatsTool": f'"{tidl_stats_tool}"',
        "inMean": _numbers(in_mean),
        "inScale": _numbers(in_scale),
        "conv2dKernelType": conv2d_kernel_type,
    }
    header = [line.format(model=MODEL_TYPES[model_type]) for line in _HEADER]
    body = [f"{key} = {values[key]}" for key in IMPORT_KEYS]
    return atomic_write_text(path, "\n".join(header + body) + "\n")


def read_import_config(path: str | Path) -> dict[str, str]:
    """key -> raw value of a TIDL import config (comments skipped, quotes stripped)."""
    config = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            config[key.strip()] = value.strip().strip('"')
    return config


def images_to_uint8(images: np.ndarray) -> np.ndarray:
    """[0, 1] float images -> uint8 (the frames TIDL is fed)."""
    return np.round(np.clip(np.asarray(images, np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)


def write_sample_raw(path: str | Path, images_uint8: np.ndarray) -> Path:
    """TIDL calibration data: uint8 frames, planar (C x H x W per frame), back to back."""
    images = np.asarray(images_uint8)
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"need uint8 [N, H, W, C] frames, got {images.dtype} {images.shape}")
    return atomic_write_bytes(path, np.ascontiguousarray(images.transpose(0, 3, 1, 2)).tobytes())
