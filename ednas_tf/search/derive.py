"""derive(): turn a searched supernet into an `ArchSpec`.

argmax:   each block takes its most likely (kernel, expansion) pair; a skippable block is dropped
          when the skip option is more likely than the block.
parallel: as argmax, but the kernel set keeps every size whose probability (given the chosen
          expansion) reaches `threshold` — E-DNAS' parallel kernel-wise blocks, merged at deploy
          into one kernel of the largest size.
With a latency target, the child is then fitted to it (`ednas_tf.search.target_fit`).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from ednas_tf.arch import ArchSpec, decode_block
from ednas_tf.cost.base import LatencyModel
from ednas_tf.cost.network import child_latency, fixed_latency
from ednas_tf.inherit import source_blocks
from ednas_tf.layers.blocks import InvertedResidual
from ednas_tf.model import searchable_blocks, width_gates
from ednas_tf.search.objectives import Objective
from ednas_tf.search.probe import ChildPath
from ednas_tf.search.target_fit import (
    BlockOption,
    Candidate,
    LatencyGoal,
    distinct_shortlist,
    fit_to_target,
    refitted_neighbours,
)
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


def _options(
    block: InvertedResidual,
    mode: str,
    threshold: float,
    latency_model: LatencyModel,
    widths: tuple[int, int] = (0, 0),
) -> tuple[list[BlockOption], int]:
    """Every decision a block can take at the given (input, output) width indices, and the index
    of the one its gates point to."""
    joint = block.joint_probs().numpy().astype(np.float64)
    p_skip = float(block.skip_prob().numpy()) if block.search_skip else 0.0
    configs = block.option_configs()[widths[0]][widths[1]]
    channels = block.channel_options[widths[1]]
    options, index_of = [], {}
    for k_index, e_index in np.ndindex(*joint.shape):
        if not block.offers_cell(k_index, e_index):
            continue  # a coupled (kernel, expansion) pair the block does not offer
        index_of[(k_index, e_index)] = len(options)
        kernel = block.kernel_options[k_index]
        if mode == "parallel" and block.search_kernel:
            column = joint[:, e_index] / max(float(joint[:, e_index].sum()), 1e-12)
            kept = {block.kernel_sizes[i] for i, p in enumerate(column) if p >= threshold}
            kernel = tuple(sorted(kept | set(kernel)))
        config = dataclasses.replace(configs[k_index][e_index], kernel=kernel)
        options.append(
            BlockOption(
                {
                    "kernel": kernel,
                    "expansion": block.expansions[e_index],
                    "skip": False,
                    "channels": channels,
                },
                math.log(max((1.0 - p_skip) * joint[k_index, e_index], 1e-12)),
                latency_model.block_latency(config),
                (int(k_index), int(e_index)),
            )
        )
    chosen = index_of[tuple(int(i) for i in np.unravel_index(int(np.argmax(joint)), joint.shape))]
    if block.search_skip:
        # The skip gate alone decides keep vs skip (argmax derivation reads it so): a skipped
        # block keeps its most likely pair, else near-uniform pair gates — every single pair
        # improbable — would make dropping a block the fit's cheapest move, whatever the skip
        # gate learned.
        skip_log_prob = math.log(max(p_skip, 1e-12)) + math.log(max(float(joint.max()), 1e-12))
        shortcut = block.shortcut_config()  # the projection a shape-changing block skips to
        skip_ms = 0.0 if shortcut is None else latency_model.conv_latency(shortcut)
        options.append(BlockOption({"skip": True}, skip_log_prob, skip_ms, None))
        if p_skip > 0.5:
            chosen = len(options) - 1
    return options, chosen


# Width assignments tried by a latency-target fit, most probable first.
MAX_WIDTH_ASSIGNMENTS = 729


def width_probabilities(supernet: tf.keras.Model) -> dict[str, dict[str, float]]:
    """Each width group's probability per channel count, for arch.json and gates.csv."""
    return {
        group: {
            name[1:]: round(float(p), 4) for name, p in zip(gate.option_names, gate.probs().numpy())
        }
        for group, gate in width_gates(supernet).items()
    }


def _width_assignments(supernet: tf.keras.Model, every: bool) -> list[tuple[float, dict[str, int]]]:
    """(log probability, {group: option index}) of the argmax assignment, or (every) of the
    `MAX_WIDTH_ASSIGNMENTS` most probable, best first."""
    gates = width_gates(supernet)
    logs = {
        g: np.log(np.maximum(gate.probs().numpy().astype(np.float64), 1e-12))
        for g, gate in gates.items()
    }
    if not every:
        pick = {g: int(np.argmax(v)) for g, v in logs.items()}
        return [(float(sum(logs[g][i] for g, i in pick.items())), pick)]
    groups = list(logs)
    assignments = [
        (float(sum(logs[g][i] for g, i in zip(groups, indices))), dict(zip(groups, indices)))
        for indices in itertools.product(*(range(len(logs[g])) for g in groups))
    ]
    assignments.sort(key=lambda item: -item[0])
    return assignments[:MAX_WIDTH_ASSIGNMENTS]


def _candidate(
    blocks: list[InvertedResidual],
    space: SearchSpace,
    width_log_prob: float,
    width_index: dict[str, int],
    mode: str,
    threshold: float,
    latency_model: LatencyModel,
) -> Candidate:
    options, chosen = {}, {}
    for block in blocks:
        indices = (width_index.get(block.in_width_group, 0), width_index.get(block.width_group, 0))
        options[block.name], chosen[block.name] = _options(
            block, mode, threshold, latency_model, indices
        )
    last = blocks[-1]
    last_channels = last.channel_options[width_index.get(last.width_group, 0)]
    return Candidate(
        width_log_prob,
        options,
        chosen,
        fixed_latency(space, last_channels, latency_model),
        dict(width_index),
    )


def _widths(candidate: Candidate, blocks: list[InvertedResidual]) -> dict[str, int]:
    """Channels of each searched width group that keeps a block."""
    widths = {}
    for block in blocks:
        option = candidate.options[block.name][candidate.chosen[block.name]]
        if block.width_group and option.pair is not None:
            widths[block.width_group] = option.decision["channels"]
    return widths


def _decisions(candidate: Candidate) -> dict[str, dict[str, Any]]:
    """Per block, the decision `SearchSpace.child` resolves it with."""
    return {n: candidate.options[n][i].decision for n, i in candidate.chosen.items()}


def probed_child(arch: ArchSpec, index: int) -> ArchSpec:
    """The `index`-th child `arch`'s target fit probed (its `target_fit.probed` list, most
    probable first), as an architecture to train: it differs from `arch` only in its blocks
    and predicted latency; its search record says which probe it was (the gate probabilities
    and the rest of the record were `arch`'s)."""
    probed = (arch.search or {}).get("target_fit", {}).get("probed", [])
    if not probed:
        raise ValueError("this architecture records no probed children (search without probes)")
    if not 0 <= index < len(probed):
        raise ValueError(f"probed child {index} out of range: {len(probed)} were probed")
    entry = probed[index]
    if "blocks" not in entry:
        raise ValueError("this search predates recording the probed children's blocks")
    blocks = [decode_block(text, f"probed[{index}]") for text in entry["blocks"]]
    return dataclasses.replace(
        arch,
        blocks=blocks,
        gate_probs={},
        predicted_latency_ms=entry["latency_ms"],
        search={"probed_index": index, "probe_score": entry["score"], "chosen": entry["chosen"]},
    )


def _decision_code(decision: dict[str, Any]) -> str:
    """'skip', or 'k5 e3' ('k3+5' for a parallel kernel set): a block's choice in one word."""
    if decision.get("skip"):
        return "skip"
    kernel = decision["kernel"]
    sizes = "+".join(str(k) for k in kernel) if isinstance(kernel, tuple) else str(kernel)
    return f"k{sizes} e{decision['expansion']:g}"


def _changed_blocks(candidate: Candidate, reference: Candidate) -> dict[str, str]:
    """The blocks whose kernel/expansion/skip differ from `reference`'s, as decision codes
    (channels are the width assignment's, recorded apart)."""
    changed = {}
    for name, index in candidate.chosen.items():
        code = _decision_code(candidate.options[name][index].decision)
        if code != _decision_code(reference.options[name][reference.chosen[name]].decision):
            changed[name] = code
    return changed


@dataclasses.dataclass(frozen=True)
class DeriveOptions:
    """How a child is read off the gates (the objective says what latency it must meet).

    mode/threshold: argmax or parallel kernel sets (module docstring); tolerance: the latency
    fit's band, a fraction of the target; probe_candidates: how many fitted children a `score`
    ranks; score_tie: scores within this of the best count as tied (the most probable wins);
    fill_budget: under a budget objective, grow a child below the band [budget·(1 − tolerance),
    budget] into it (`target_fit.LatencyGoal.fill`)."""

    mode: str = "argmax"
    threshold: float = 0.3
    tolerance: float = 0.02
    probe_candidates: int = 0
    score_tie: float = 0.0
    fill_budget: bool = False

    def __post_init__(self):
        if self.probe_candidates < 0:
            raise ValueError(f"probe_candidates must be >= 0, got {self.probe_candidates}")
        if self.score_tie < 0:
            raise ValueError(f"score_tie must be >= 0, got {self.score_tie}")
        if self.mode not in ("argmax", "parallel"):
            raise ValueError(f"mode must be 'argmax' or 'parallel', got {self.mode!r}")
        if not 0 < self.threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")


def derive(
    supernet: tf.keras.Model,
    space: SearchSpace,
    latency_model: LatencyModel,
    objective: Objective | None = None,
    options: DeriveOptions = DeriveOptions(),
    score: Callable[[ChildPath], float] | None = None,
    provenance: dict[str, Any] | None = None,
    select: Callable[[dict, ChildPath], tuple[dict, dict[str, Any]]] | None = None,
) -> ArchSpec:
    """The child architecture the supernet's gates point to, with its predicted latency.

    With an objective that has a latency target, decisions are then moved, cheapest in
    probability first, until the child's latency is within `options.tolerance` of the target:
    the soft expected latency the search optimised can sit on the target while the argmax child
    does not; a budget objective (`Objective.at_most`) makes the target a ceiling: only a child
    above it is moved. With searched widths, this fit runs for each width assignment (most
    probable first) and the most probable fitted child wins — or, given `score` (e.g.
    `probe.path_scorer`) and `options.probe_candidates` > 1, the best-scoring of the
    `probe_candidates` most probable distinct fitted children that meet it: after a short search
    the gates favour every stage's widest option alike, and probability alone then keeps
    expensive full-resolution width over cheap late width. When the width assignments give fewer
    than `probe_candidates` (none searched: one fitted child), the most probable children one
    block decision away from the first fill the list (`target_fit.refitted_neighbours`). Scores
    within `options.score_tie` of the best count as tied and the most probable of those wins: a
    probe's noise (one binomial standard error of the validation accuracy) is no reason to leave
    the gates' choice.

    With a latency target and `select` (an `evolve.Evolution`), the fitted child's decisions and
    path go to it and the child it returns replaces them; its record goes to
    `target_fit.evolution`.
    """
    by_name = {layer.name: layer for layer in searchable_blocks(supernet)}
    missing = [b.name for b in space.blocks if b.name not in by_name]
    if missing:
        raise ValueError(f"supernet has no block(s) {missing}: was it built from this space?")
    blocks = [by_name[b.name] for b in space.blocks]
    target_ms = objective.target_ms if objective is not None else None
    assignments = _width_assignments(supernet, every=target_ms is not None)
    candidates = [
        _candidate(blocks, space, log_prob, index, options.mode, options.threshold, latency_model)
        for log_prob, index in assignments
    ]
    best, fit = candidates[0], {}
    if target_ms is not None:
        fill = options.fill_budget and objective.at_most
        goal = LatencyGoal(target_ms, options.tolerance, objective.at_most, fill)
        best, fit = _fit_and_probe(candidates, goal, space, blocks, options, score)
    decisions = _decisions(best)
    if select is not None and target_ms is not None:
        start = dataclasses.replace(best.path, arch=space.child(decisions))
        decisions, fit["target_fit"]["evolution"] = select(decisions, start)
    gate_probs = {
        b.name: block_probabilities(by_name[b.name])
        for b in space.blocks
        if by_name[b.name].gates()
    }
    gate_probs.update({g: {"width": p} for g, p in width_probabilities(supernet).items()})
    # the supernet blocks the child's layers come from (a projected skip is one of them)
    skipped = {b.name: bool(decisions[b.name].get("skip")) for b in space.blocks}
    kept = source_blocks(supernet, skipped)
    widths = _widths(best, blocks)
    arch = space.child(
        decisions,
        gate_probs=gate_probs,
        search=dict(
            provenance or {},
            derive_mode=options.mode,
            derive_threshold=options.threshold,
            source_blocks=kept,
            **({"widths": widths} if widths else {}),
            **fit,
        ),
    )
    arch.predicted_latency_ms = round(child_latency(arch, latency_model), 6)
    return arch


def _fit_and_probe(
    candidates: list[Candidate],
    goal: LatencyGoal,
    space: SearchSpace,
    blocks: list[InvertedResidual],
    options: DeriveOptions,
    score: Callable[[ChildPath], float] | None,
) -> tuple[Candidate, dict[str, Any]]:
    """Fit every candidate to the latency goal, pick the winner (by probability, or by `score`
    among the shortlist), and the `target_fit` record arch.json keeps of how it was chosen."""
    gated_ms = candidates[0].latency_ms
    for candidate in candidates:
        candidate.moves = fit_to_target(
            candidate.options, candidate.chosen, candidate.fixed_ms, goal
        )

    def rank(candidate: Candidate) -> tuple[bool, float]:
        met = goal.met(candidate.latency_ms)
        return (met, candidate.log_prob if met else -goal.distance(candidate.latency_ms))

    best = max(candidates, key=rank)
    wanted = options.probe_candidates
    shortlist = distinct_shortlist(candidates, goal, wanted)
    if score is not None and 0 < len(shortlist) < wanted:
        neighbours = refitted_neighbours(shortlist[0], goal)
        shortlist = distinct_shortlist(neighbours, goal, wanted, tuple(shortlist))
        shortlist.sort(key=lambda c: -c.log_prob)  # the tie rule reads it in this order
    probed = []
    if score is not None and len(shortlist) > 1:
        best, probed = _probe(shortlist, space, blocks, score, options.score_tie)
    fit = {
        "target_fit": {
            "target_ms": goal.target_ms,
            "tolerance": goal.tolerance,
            "at_most": goal.at_most,
            "fill": goal.fill,
            "argmax_latency_ms": round(gated_ms, 6),
            "moves": best.moves,
            **({"probed": probed, "score_tie": round(options.score_tie, 4)} if probed else {}),
        }
    }
    return best, fit


def _probe(
    shortlist: list[Candidate],
    space: SearchSpace,
    blocks: list[InvertedResidual],
    score: Callable[[ChildPath], float],
    score_tie: float,
) -> tuple[Candidate, list[dict[str, Any]]]:
    """Score each shortlisted child; the first within `score_tie` of the best wins."""
    children = [space.child(_decisions(c)) for c in shortlist]
    scores = [
        float(score(dataclasses.replace(c.path, arch=child)))
        for c, child in zip(shortlist, children)
    ]
    winner = next(i for i, v in enumerate(scores) if v >= max(scores) - score_tie)
    probed = [
        {
            "widths": _widths(candidate, blocks),
            "changed": _changed_blocks(candidate, shortlist[0]),
            "log_prob": round(candidate.log_prob, 4),
            "latency_ms": round(candidate.latency_ms, 6),
            "score": round(value, 4),
            "chosen": i == winner,
            # the whole child, so any probed one can be trained (`probed_child`)
            "blocks": child.block_strings(),
        }
        for i, (candidate, child, value) in enumerate(zip(shortlist, children, scores))
    ]
    return shortlist[winner], probed
