"""derive(): turn a searched supernet into an `ArchSpec`.

argmax:   each block takes its most likely (kernel, expansion) pair; a skippable block is dropped
          when the skip option is more likely than the block.
parallel: as argmax, but the kernel set keeps every size whose probability (given the chosen
          expansion) reaches `threshold` — E-DNAS' parallel kernel-wise blocks, merged at deploy
          into one kernel of the largest size.
"""

from __future__ import annotations

import dataclasses
import math
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


@dataclasses.dataclass(frozen=True)
class _Option:
    decision: dict[str, Any]
    log_prob: float
    latency_ms: float


def _options(
    block: InvertedResidual, mode: str, threshold: float, latency_model: LatencyModel
) -> tuple[list[_Option], int]:
    """Every decision a block can take, and the index of the one its gates point to."""
    joint = block.joint_probs().numpy().astype(np.float64)
    p_skip = float(block.skip_prob().numpy()) if block.search_skip else 0.0
    configs = block.option_configs()
    options = []
    for k_index, e_index in np.ndindex(*joint.shape):
        kernel = block.kernel_options[k_index]
        if mode == "parallel" and block.search_kernel:
            column = joint[:, e_index] / max(float(joint[:, e_index].sum()), 1e-12)
            kept = {block.kernel_sizes[i] for i, p in enumerate(column) if p >= threshold}
            kernel = tuple(sorted(kept | set(kernel)))
        config = dataclasses.replace(configs[k_index][e_index], kernel=kernel)
        options.append(
            _Option(
                {"kernel": kernel, "expansion": block.expansions[e_index], "skip": False},
                math.log(max((1.0 - p_skip) * joint[k_index, e_index], 1e-12)),
                latency_model.block_latency(config),
            )
        )
    chosen = int(np.argmax(joint))
    if block.search_skip:
        # The skip gate alone decides keep vs skip (argmax derivation reads it so): a skipped
        # block keeps its most likely pair, else near-uniform pair gates — every single pair
        # improbable — would make dropping a block the fit's cheapest move, whatever the skip
        # gate learned.
        skip_log_prob = math.log(max(p_skip, 1e-12)) + math.log(max(float(joint.max()), 1e-12))
        options.append(_Option({"skip": True}, skip_log_prob, 0.0))
        if p_skip > 0.5:
            chosen = len(options) - 1
    return options, chosen


def _fit_to_target(
    options: dict[str, list[_Option]],
    chosen: dict[str, int],
    fixed_ms: float,
    target_ms: float,
    tolerance: float,
) -> int:
    """Moves decisions (in place) until the child is within `tolerance` of the target.

    Greedy on the probability given up per ms of distance removed: the result is (close to) the
    most probable child that meets the latency target. Returns the number of moves.
    """
    latency = fixed_ms + sum(options[n][i].latency_ms for n, i in chosen.items())
    moves = 0
    while abs(latency - target_ms) > tolerance * target_ms:
        best = None
        for name, index in chosen.items():
            current = options[name][index]
            for j, option in enumerate(options[name]):
                new = latency - current.latency_ms + option.latency_ms
                gain = abs(latency - target_ms) - abs(new - target_ms)
                if j == index or gain <= 1e-12:
                    continue
                cost = (current.log_prob - option.log_prob) / gain
                if best is None or cost < best[0]:
                    best = (cost, name, j, new)
        if best is None:
            break
        _, name, j, latency = best
        chosen[name] = j
        moves += 1
    return moves


def derive(
    supernet: tf.keras.Model,
    space: SearchSpace,
    latency_model: LatencyModel,
    mode: str = "argmax",
    threshold: float = 0.3,
    provenance: dict[str, Any] | None = None,
    target_ms: float | None = None,
    tolerance: float = 0.02,
) -> ArchSpec:
    """The child architecture the supernet's gates point to, with its predicted latency.

    With `target_ms`, decisions are then moved, cheapest in probability first, until the child's
    latency is within `tolerance` of the target: the soft expected latency the search optimised
    can sit on the target while the argmax child does not.
    """
    if mode not in ("argmax", "parallel"):
        raise ValueError(f"mode must be 'argmax' or 'parallel', got {mode!r}")
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    blocks = {layer.name: layer for layer in supernet.layers if isinstance(layer, InvertedResidual)}
    missing = [b.name for b in space.blocks if b.name not in blocks]
    if missing:
        raise ValueError(f"supernet has no block(s) {missing}: was it built from this space?")
    options, chosen = {}, {}
    for b in space.blocks:
        options[b.name], chosen[b.name] = _options(blocks[b.name], mode, threshold, latency_model)
    fit: dict[str, Any] = {}
    if target_ms is not None:
        gated = space.child({n: options[n][i].decision for n, i in chosen.items()})
        gated_ms = child_latency(gated, latency_model)
        fixed_ms = gated_ms - sum(options[n][i].latency_ms for n, i in chosen.items())
        moves = _fit_to_target(options, chosen, fixed_ms, target_ms, tolerance)
        fit = {
            "target_fit": {
                "target_ms": target_ms,
                "tolerance": tolerance,
                "argmax_latency_ms": round(gated_ms, 6),
                "moves": moves,
            }
        }
    decisions = {n: options[n][i].decision for n, i in chosen.items()}
    gate_probs = {
        b.name: block_probabilities(blocks[b.name]) for b in space.blocks if blocks[b.name].gates()
    }
    kept = [b.name for b in space.blocks if not decisions[b.name].get("skip")]
    arch = space.child(
        decisions,
        gate_probs=gate_probs,
        search=dict(
            provenance or {},
            derive_mode=mode,
            derive_threshold=threshold,
            source_blocks=kept,
            **fit,
        ),
    )
    arch.predicted_latency_ms = round(child_latency(arch, latency_model), 6)
    return arch
