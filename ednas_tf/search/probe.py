"""Score a candidate child from the supernet's own weights.

derive()'s latency fit can end with several children that meet the target, and after a short
search the gates rank them poorly: they favour the widest option of every stage whatever it
costs, so "most probable" keeps an expensive full-resolution stage and narrows a cheap late one.
Two scorers give evidence from the data rather than from the gates alone:

- `path_scorer` (probe mode "supernet"): pins every gate of the supernet to one candidate's
  choices (its `ChildPath`), re-estimates batch norm on that path and measures validation
  accuracy, without training (single-path one-shot evaluation, as in SPOS/FairNAS);
- `finetune_scorer` (probe mode "finetune"): builds the candidate as a child network, copies
  the supernet's weights into it (`inherit.py`), trains it for a few hundred steps on its own
  and measures validation accuracy — the supernet's weights were trained on mixtures of
  paths, and a child standing on its own may rank differently.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator

import numpy as np
import tensorflow as tf

from ednas_tf.arch import ArchSpec
from ednas_tf.inherit import inherit_model, source_blocks
from ednas_tf.layers.blocks import InvertedResidual
from ednas_tf.model import build, searchable_blocks, width_gates
from ednas_tf.precision import precision_policy
from ednas_tf.training import TrainConfig, compile_for_training

# Logit gap that pins a gate: only its argmax matters in "fixed"/"argmax" modes.
_PIN = 1e4


@dataclasses.dataclass(frozen=True)
class ChildPath:
    """One child as gate choices of its supernet.

    blocks: per block name, its (kernel option, expansion option) indices into `joint_probs()`,
    or None when the block is skipped; widths: per width group, the channel option index.
    A parallel kernel set (derive_mode "parallel") is probed as its pair's kernel: the supernet
    has no single path for the merged set.
    """

    blocks: dict[str, tuple[int, int] | None]
    widths: dict[str, int]
    arch: ArchSpec | None = dataclasses.field(default=None, compare=False)  # the child itself


def decisions_path(supernet: tf.keras.Model, decisions: dict[str, dict]) -> ChildPath:
    """The `ChildPath` of a child given as `SearchSpace.child` decisions (per block "kernel",
    "expansion", "skip"; widths are not searched), to score any child on the supernet."""
    blocks: dict[str, tuple[int, int] | None] = {}
    for block in searchable_blocks(supernet):
        decision = decisions.get(block.name, {})
        if decision.get("skip"):
            blocks[block.name] = None
            continue
        kernel = tuple(decision.get("kernel", block.kernel_options[0]))
        expansion = float(decision.get("expansion", block.expansions[0]))
        if kernel not in block.kernel_options or expansion not in block.expansions:
            raise ValueError(f"{block.name} has no option (kernel {kernel}, expansion {expansion})")
        pair = (block.kernel_options.index(kernel), block.expansions.index(expansion))
        if not block.offers_cell(*pair):
            raise ValueError(f"{block.name} does not offer (kernel {kernel}, e{expansion:g})")
        blocks[block.name] = pair
    if width_gates(supernet):
        raise ValueError("decisions_path does not resolve searched widths")
    return ChildPath(blocks, {})


def path_log_prob(supernet: tf.keras.Model, path: ChildPath) -> float:
    """log P(path) under the gates' softmax probabilities: how the gates themselves (and so
    derive's argmax) rank children."""
    total = 0.0
    for block in searchable_blocks(supernet):
        pair = path.blocks.get(block.name)
        p_skip = float(block.skip_prob().numpy())
        if pair is None:
            total += np.log(max(p_skip, 1e-12))
        else:
            joint = float(block.joint_probs().numpy()[pair])
            total += np.log(max((1.0 - p_skip) * joint, 1e-12))
    return float(total)


def _block_gate_choices(block: InvertedResidual, pair: tuple[int, int] | None) -> list[tuple]:
    """(gate, option index) pairs that make `pair` (or the skip) the block's argmax path."""
    choices = []
    if block.skip_gate is not None:
        choices.append((block.skip_gate, 1 if pair is None else 0))
    elif pair is None:
        raise ValueError(f"{block.name} cannot be skipped")
    if pair is None:
        return choices  # the block's own gates do not matter on a skipped path
    k_index, e_index = pair
    if block.pair_gate is not None:
        choices.append((block.pair_gate, block.pair_option(k_index, e_index)))
    if block.kernel_gate is not None:
        choices.append((block.kernel_gate, k_index))
    if block.expansion_gate is not None:
        choices.append((block.expansion_gate, e_index))
    return choices


@contextlib.contextmanager
def pinned_path(supernet: tf.keras.Model, path: ChildPath) -> Iterator[None]:
    """Gate logits set so that every gate's argmax is `path`; the logits come back after."""
    by_name = {block.name: block for block in searchable_blocks(supernet)}
    unknown = sorted(set(path.blocks) - set(by_name))
    if unknown:
        raise ValueError(f"the supernet has no block(s) {unknown}")
    gates = width_gates(supernet)
    choices = [(gates[group], index) for group, index in path.widths.items()]
    for name, pair in path.blocks.items():
        choices += _block_gate_choices(by_name[name], pair)
    saved = [(gate, gate.logits.numpy()) for gate, _ in choices]
    try:
        for gate, index in choices:
            gate.logits.assign(np.where(np.arange(gate.num_options) == index, _PIN, -_PIN))
        yield
    finally:
        for gate, logits in saved:
            gate.logits.assign(logits)


def score_description(mode: str, steps: int) -> str:
    """What a probed child's score measured, for arch.json's `target_fit.scored_by`."""
    if mode == "finetune":
        return f"val acc after {steps} steps of training from the supernet's weights"
    return "supernet val acc of the pinned path"


def accuracy_standard_error(samples: int) -> float:
    """The largest binomial standard error of an accuracy measured on `samples` images (at 50 %):
    probe scores closer than this are not told apart."""
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    return 0.5 / samples**0.5


def path_scorer(
    supernet: tf.keras.Model,
    evaluate: Callable[[], float],
) -> Callable[[ChildPath], float]:
    """`evaluate` (accuracy of the path the gates point to, e.g. `SearchLoop.evaluate` bound to
    validation data) turned into a score of any `ChildPath`."""

    def score(path: ChildPath) -> float:
        with pinned_path(supernet, path):
            return evaluate()

    return score


# Batch-norm momentum while a probed child fine-tunes: its moving statistics start as the
# supernet's (of mixtures) and must be the child's own within a few hundred steps.
_FINETUNE_BN_MOMENTUM = 0.9


def finetune_scorer(
    supernet: tf.keras.Model,
    train: tf.data.Dataset,
    val: tf.data.Dataset,
    steps: int,
    config: TrainConfig,
) -> Callable[[ChildPath], float]:
    """Validation accuracy of a candidate child after `steps` steps of its own training from
    the supernet's weights. `train` yields batches without end; `config` is the training
    recipe (its learning rate decays over the `steps` by the same warm-up cosine)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    recipe = dataclasses.replace(config, epochs=1, warmup_epochs=0, steps_per_epoch=steps)

    def score(path: ChildPath) -> float:
        if path.arch is None:
            raise ValueError("a fine-tune probe needs the child's ArchSpec (ChildPath.arch)")
        with precision_policy(recipe.precision):
            child = build(path.arch)
        skipped = {name: pair is None for name, pair in path.blocks.items()}
        inherit_model(supernet, child, source_blocks(supernet, skipped))
        for layer in child.submodules:
            if isinstance(layer, tf.keras.layers.BatchNormalization):
                layer.momentum = _FINETUNE_BN_MOMENTUM
        compile_for_training(child, recipe, steps, path.arch.num_classes)
        child.fit(train, epochs=1, steps_per_epoch=steps, verbose=0)
        return float(child.evaluate(val, verbose=0)[1])

    return score
