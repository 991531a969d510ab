"""ednas_tf: E-DNAS, differentiable architecture search for embedded SoCs, in TensorFlow/Keras.

TFMOT (quantization-aware training) only supports Keras 2, so the legacy Keras must be selected
before TensorFlow is imported anywhere; importing this package first guarantees that.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
