"""Deploy stage: merge kernels and fold BN, quantization-aware training, export, TIDL checks."""

import ednas_tf  # noqa: F401  (selects Keras 2 before TensorFlow loads)
