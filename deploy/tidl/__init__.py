"""Check an exported graph against what TIDL on a TDA2x imports, and write its import inputs.

Why a static check: TIDL's import tool ships inside TI's (registration-gated) SDK and runs on
TI's host tools, so a graph that will not import should be caught where it is exported, layer by
layer, with the reason. The rules (op tables per import format, layer constraints) are the
Processor SDK Linux TIDL chapter's and TI E2E threads' (docs/TIDL.md), with the device limits
taken from the device profile (`ednas_tf.profiles`, `tda2x`).

Modules, one job each:
* `report`: the per-layer verdicts (`Row`, `TidlReport`) and tidl_report.json;
* `rules`: the layer rules and limits both formats share;
* `tf_rules`: the frozen GraphDef (.pb) checker; `onnx_rules`: the ONNX checker;
* `check`: `check_file`, picking the checker by file type;
* `import_config`: tidl_import.txt and the calibration frames (sample_in.raw).

Format matters: ReLU6 is `Relu6` in a TF graph (TIDL's TF import maps it) but `Clip` in ONNX,
and TDA2x's ONNX import has no Clip, so a ReLU6 network passes as a frozen .pb and fails as ONNX.
tf2onnx folds an explicit zero Pad into the following Conv's pads, so an ONNX graph can pass
where the TF graph of the same model fails on Pad.
"""

from deploy.tidl.check import check_file
from deploy.tidl.import_config import (
    IMPORT_KEYS,
    MODEL_TYPES,
    images_to_uint8,
    read_import_config,
    write_import_config,
    write_sample_raw,
)
from deploy.tidl.onnx_rules import check_onnx
from deploy.tidl.report import FAIL, PASS, WARN, Row, TidlReport, save_reports
from deploy.tidl.rules import (
    CONV_DILATIONS,
    CONV_STRIDES,
    GLOBAL_POOL_MAX,
    INNER_PRODUCT_ALIGN,
    INNER_PRODUCT_MAX,
    POOL_STRIDES,
    add_verdict,
    concat_verdict,
    conv_verdict,
    depthwise_verdict,
    global_pool_verdict,
    inner_product_verdict,
    input_verdict,
    pool_verdict,
    reshape_verdict,
)
from deploy.tidl.tf_rules import check_tf

__all__ = [
    "CONV_DILATIONS",
    "CONV_STRIDES",
    "FAIL",
    "GLOBAL_POOL_MAX",
    "IMPORT_KEYS",
    "INNER_PRODUCT_ALIGN",
    "INNER_PRODUCT_MAX",
    "MODEL_TYPES",
    "PASS",
    "POOL_STRIDES",
    "WARN",
    "Row",
    "TidlReport",
    "add_verdict",
    "check_file",
    "check_onnx",
    "check_tf",
    "concat_verdict",
    "conv_verdict",
    "depthwise_verdict",
    "global_pool_verdict",
    "images_to_uint8",
    "inner_product_verdict",
    "input_verdict",
    "pool_verdict",
    "read_import_config",
    "reshape_verdict",
    "save_reports",
    "write_import_config",
    "write_sample_raw",
]
