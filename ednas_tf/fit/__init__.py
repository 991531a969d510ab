"""Fitting cost models to published figures: the TDA2x model to TI's AM5729 timings (`tda2x`),
on the networks TI timed (`reference_nets`)."""
