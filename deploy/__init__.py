"""Deploy stage: merge kernels and fold BN, quantization-aware training, export, TIDL checks.

Importing `ednas_tf` first selects Keras 2 for TensorFlow (the one place that is decided).
"""

import ednas_tf  # noqa: F401
