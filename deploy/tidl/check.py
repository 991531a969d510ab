"""Pick the TIDL checker by file type: the export writes both a .pb and an .onnx."""

from __future__ import annotations

from pathlib import Path

from deploy.tidl.onnx_rules import check_onnx
from deploy.tidl.report import TidlReport
from deploy.tidl.tf_rules import check_tf
from ednas_tf.profiles import DeviceProfile


def check_file(path: str | Path, profile: str | DeviceProfile = "tda2x") -> TidlReport:
    """check_tf for a .pb, check_onnx for a .onnx."""
    suffix = Path(path).suffix.lower()
    if suffix == ".pb":
        return check_tf(path, profile)
    if suffix == ".onnx":
        return check_onnx(path, profile)
    raise ValueError(
        f"{path}: TIDL on TDA2x imports a frozen .pb or .onnx (and Caffe), not "
        f"{suffix or 'this file'}"
    )
