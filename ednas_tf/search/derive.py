"""derive(): turn a searched supernet into an `ArchSpec`.

argmax:   each block takes its most likely (kernel, expansion) pair; a skippable block is dropped
          when the skip option is more likely than the block.
parallel: as argmax, but the kernel set keeps every size whose probability (given the chosen
          expansion) reaches `threshold` — E-DNAS' parallel kernel-wise blocks, merged at deploy
          into one kernel of the largest size.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from ednas_tf.arch import ArchSpec
from ednas_tf.latency.base import LatencyModel
from ednas_tf.latency.expected import child_latency
from ednas_tf.layers.blocks import InvertedResidual
from ednas_tf.space import SearchSpace


def block_probabilities(block: InvertedResidual) -> dict[str, Any]:
    """Marginal probabilities of one block's choices, for arch.json and gates.csv."""
    joint = block.joint_probs().numpy()
    probs: dict[str, Any] = {}
    if block.search_kernel:
        probs["kernel"] = {
            str(k): round(float(p), 4) for k, p in zip(block.kernel_sizes, joint.sum(axis=1))
        }
    if block.search_expansion:
        probs["expansion"] = {
            f"{e:g}": round(float(p), 4) for e, p in zip(block.expansions, joint.sum(axis=0))
        }
    if block.search_skip:
        probs["skip"] = round(float(block.skip_prob().numpy()), 4)
    return probs


def _decide(block: InvertedResidual, mode: str, threshold: float) -> dict[str, Any]:
    joint = block.joint_probs().numpy()
    if block.search_skip and float(block.skip_prob().numpy()) > 0.5:
        return {"skip": True}
    k_index, e_index = np.unravel_index(int(np.argmax(joint)), joint.shape)
    kernel = block.kernel_options[k_index]
    if mode == "parallel" and block.search_kernel:
        column = joint[:, e_index] / max(float(joint[:, e_index].sum()), 1e-12)
        kept = {block.kernel_sizes[i] for i, p in enumerate(column) if p >= threshold}
        kernel = tuple(sorted(kept | set(kernel)))
    return {"kernel": kernel, "expansion": block.expansions[e_index], "skip": False}


def derive(
    supernet: tf.keras.Model,
    space: SearchSpace,
    latency_model: LatencyModel,
    mode: str = "argmax",
    threshold: float = 0.3,
    provenance: dict[str, Any] | None = None,
) -> ArchSpec:
    """The child architecture the supernet's gates point to, with its predicted latency."""
    if mode not in ("argmax", "parallel"):
        raise ValueError(f"mode must be 'argmax' or 'parallel', got {mode!r}")
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    blocks = {layer.name: layer for layer in supernet.layers if isinstance(layer, InvertedResidual)}
    missing = [b.name for b in space.blocks if b.name not in blocks]
    if missing:
        raise ValueError(f"supernet has no block(s) {missing}: was it built from this space?")
    decisions = {b.name: _decide(blocks[b.name], mode, threshold) for b in space.blocks}
    gate_probs = {
        b.name: block_probabilities(blocks[b.name]) for b in space.blocks if blocks[b.name].gates()
    }
    kept = [b.name for b in space.blocks if not decisions[b.name].get("skip")]
    arch = space.child(
        decisions,
        gate_probs=gate_probs,
        search=dict(
            provenance or {}, derive_mode=mode, derive_threshold=threshold, source_blocks=kept
        ),
    )
    arch.predicted_latency_ms = round(child_latency(arch, latency_model), 6)
    return arch
