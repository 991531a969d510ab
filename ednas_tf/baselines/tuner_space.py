"""What keras-tuner searches: one hyperparameter per searched decision of the E-DNAS space.

The tuner must sample children of the SAME `SearchSpace` the supernet is built from, or the
baseline would search another space than the one it is compared with.
"""

from __future__ import annotations

import contextlib
from typing import Any

import keras_tuner as kt

from ednas_tf.arch import ArchSpec
from ednas_tf.space import SearchSpace


def hp_name(block: str, choice: str) -> str:
    """The hyperparameter of one decision of one block (or width group): `block/choice`."""
    return f"{block}/{choice}"


def sample_child(hp: kt.HyperParameters, space: SearchSpace) -> ArchSpec:
    """Declares (or reads) one hyperparameter per searched decision (one width per width group)
    and resolves the child.

    A skippable block's kernel and expansion are only active when it is kept (conditional scope),
    so two trials that skip the same block are the same trial to the oracle.
    """
    widths = {
        group: int(hp.Choice(hp_name(group, "width"), list(options)))
        for group, options in space.width_groups().items()
    }
    decisions: dict[str, dict[str, Any]] = {}
    for block in space.blocks:
        decision: dict[str, Any] = {}
        if block.searches_channels:
            decision["channels"] = widths[block.width_group]
        if block.searches_skip:
            decision["skip"] = bool(hp.Boolean(hp_name(block.name, "skip"), default=False))
            scope = hp.conditional_scope(hp_name(block.name, "skip"), [False])
        else:
            scope = contextlib.nullcontext()
        with scope:  # inside an inactive scope hp.Choice declares the choice and returns None
            if block.searches_kernel:
                sizes = [option[0] for option in block.kernel_options]
                kernel = hp.Choice(hp_name(block.name, "kernel"), sizes)
                if kernel is not None:
                    decision["kernel"] = (int(kernel),)
            if block.searches_expansion:
                expansion = hp.Choice(hp_name(block.name, "expansion"), block.expansion_options)
                if expansion is not None:
                    decision["expansion"] = float(expansion)
        decisions[block.name] = decision
    kept = [b.name for b in space.blocks if not decisions[b.name].get("skip")]
    return space.child(decisions, search={"source_blocks": kept})


class ChildHyperModel(kt.HyperModel):
    """The space as a keras-tuner hypermodel; `build` returns an `ArchSpec`, not a Keras model."""

    def __init__(self, space: SearchSpace):
        super().__init__(name="ednas_child")
        self.space = space

    def build(self, hp: kt.HyperParameters) -> ArchSpec:
        return sample_child(hp, self.space)
