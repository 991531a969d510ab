"""absl entry points of ednas_tf (thin: flags -> library -> files)."""
