"""Benchmarks that print their figures (JSON on the last line, also under bench/results/).

Importing `ednas_tf` first selects Keras 2 for TensorFlow (the one place that is decided).
"""

import ednas_tf  # noqa: F401
