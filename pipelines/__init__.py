"""absl entry points of ednas_tf (thin: flags -> library -> files).

Importing `ednas_tf` first selects Keras 2 for TensorFlow (the one place that is decided).
"""

import ednas_tf  # noqa: F401
