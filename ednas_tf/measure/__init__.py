"""Measuring on this machine: probe networks and LiteRT timing (`probes`), the per-probe overhead
fitted on whole networks (`calibration`), and tables built from both or imported from a board
(`tables`)."""
