"""Choosing the child by the supernet's own scores: an evolutionary search within the budget.

Why: on NAS-Bench-Macro the trained supernet ranks children well (Kendall tau 0.72-0.78 over
100 random codes, 0.55-0.74 within a MACs band), while the gates' probabilities carry no
accuracy information within a band (tau about 0): the latency penalty decides them
(docs/results/35). So after the gates' child is derived and fitted, `Evolution` searches the
children whose latency lies in the band [target x (1 - band), target] (a budget) or within
+-band of a target, scoring each on the supernet's pinned path with batch norm re-estimated
(`probe.path_scorer` on a subset of the validation split), as one-shot methods such as SPOS do.
The gates' child is the first member of the first population, so the gates' choice is kept
unless a child scores higher; the few best are scored again on the whole validation split and
the best of those wins (a screen on 1,000 images has a standard error near 1.6 pt).

The search: a population of random children in the band (plus the gates' child), then rounds in
which the better half breeds (one- or two-block mutations and per-block crossover) until
`candidates` distinct children are scored; where the parents' neighbourhood is spent (every
offspring seen before or outside the band) a random child of the band joins instead.
Widths (`--stage_widths`) are not searched here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
from tqdm import tqdm

from ednas_tf.arch import ArchSpec
from ednas_tf.cost.base import LatencyModel
from ednas_tf.cost.network import child_latency
from ednas_tf.search.probe import ChildPath
from ednas_tf.search.target_fit import LatencyGoal
from ednas_tf.space import SearchSpace

Decisions = dict[str, dict[str, Any]]
# random draws per wanted child before the band counts as (nearly) exhausted
_ATTEMPTS_PER_CHILD = 200
# offspring tried for a new child of the band before a random one replaces it
_OFFSPRING_TRIES = 20


@dataclasses.dataclass(frozen=True)
class EvolveOptions:
    """candidates: distinct children scored (0: no evolution); band: the latency band, a fraction
    of the target; population: children kept per round (the better half breeds); finalists:
    the best few scored again by the final scorer; seed: the draws' seed."""

    candidates: int = 0
    band: float = 0.1
    population: int = 16
    finalists: int = 3
    seed: int = 0

    def __post_init__(self):
        if self.candidates < 0:
            raise ValueError(f"candidates must be >= 0, got {self.candidates}")
        if not 0 < self.band < 1:
            raise ValueError(f"band must be in (0, 1), got {self.band}")
        if self.population < 2:
            raise ValueError(f"population must be >= 2, got {self.population}")
        if self.finalists < 1:
            raise ValueError(f"finalists must be >= 1, got {self.finalists}")


@dataclasses.dataclass
class _Scored:
    decisions: Decisions
    path: ChildPath
    blocks: tuple[str, ...]  # the child's block strings: its identity among the scored
    latency_ms: float
    screen: float
    final: float | None = None

    def record(self) -> dict[str, Any]:
        entry = {
            "blocks": list(self.blocks),
            "latency_ms": round(self.latency_ms, 6),
            "screen": round(self.screen, 5),
        }
        if self.final is not None:
            entry["final"] = round(self.final, 5)
        return entry


class Evolution:
    """A callable derive() hands the gates' fitted decisions to; it returns the chosen decisions
    and the record arch.json keeps (`search.target_fit.evolution`).

    path_of: a child's supernet path from its decisions and the child built from them
    (`probe.decisions_path`, the child attached for a fine-tune probe); screen / final:
    a path's score, higher is better (final: None keeps the screen's winner)."""

    def __init__(
        self,
        space: SearchSpace,
        goal: LatencyGoal,
        latency_model: LatencyModel,
        path_of: Callable[[Decisions, ArchSpec], ChildPath],
        screen: Callable[[ChildPath], float],
        final: Callable[[ChildPath], float] | None,
        options: EvolveOptions,
        progress: bool = False,
        describe: dict[str, Any] | None = None,
    ) -> None:
        if space.width_groups():
            raise ValueError("the evolutionary derive does not search widths (--stage_widths)")
        self.space, self.goal, self.latency_model = space, goal, latency_model
        self.path_of = path_of
        self.screen, self.final, self.options = screen, final, options
        self.progress, self.describe = progress, describe or {}
        self._searched = [b.name for b in space.blocks if _choices(b) > 1]
        self._scored: dict[tuple[str, ...], _Scored] = {}

    def __call__(self, start: Decisions, start_path: ChildPath) -> tuple[Decisions, dict[str, Any]]:
        """start / start_path: the gates' fitted child (its path as derive probes it: a parallel
        kernel set runs as its pair's kernel)."""
        rng = np.random.default_rng(self.options.seed)
        wanted = self.options.candidates
        bar = tqdm(total=wanted, desc="evolving children", disable=not self.progress)
        gates_child = self._consider(start, bar, path=start_path)
        budget = _ATTEMPTS_PER_CHILD * wanted  # draws before the band counts as exhausted
        budget -= self._fill_population(rng, bar, budget)
        while len(self._scored) < wanted and budget > 0:
            parents = self._ranked()[: max(2, self.options.population // 2)]
            for _ in range(self.options.population):  # one round of offspring
                for _ in range(_OFFSPRING_TRIES):
                    budget -= 1
                    if self._consider(self._offspring(rng, parents), bar):
                        break
                else:  # the parents' neighbourhood is spent: a random child of the band instead
                    budget -= self._fill_population(rng, bar, budget, len(self._scored) + 1)
                if len(self._scored) >= wanted or budget <= 0:
                    break
        bar.close()
        finalists = self._ranked()[: self.options.finalists]
        if self.final is not None and len(finalists) > 1:
            for entry in finalists:
                entry.final = float(self.final(entry.path))
            winner = max(finalists, key=lambda e: e.final)
        else:
            winner = finalists[0]
        record = {
            **self.describe,
            "band_ms": [round(self._floor(), 6), round(self._ceiling(), 6)],
            "scored": len(self._scored),
            "population": self.options.population,
            "gates_child": gates_child.record() if gates_child else None,
            "finalists": [e.record() for e in finalists],
            "chosen_is_gates_child": winner is gates_child,
        }
        return winner.decisions, record

    # the band -------------------------------------------------------------------------------

    def _floor(self) -> float:
        return self.goal.target_ms * (1.0 - self.goal.tolerance)

    def _ceiling(self) -> float:
        if self.goal.at_most:
            return self.goal.target_ms
        return self.goal.target_ms * (1.0 + self.goal.tolerance)

    # scoring ----------------------------------------------------------------------------------

    def _consider(
        self, decisions: Decisions, bar, path: ChildPath | None = None
    ) -> _Scored | None:
        """Scores a new child in the band (any child given its `path`: the gates' own); the
        entry, or None when it was seen before or lies outside the band."""
        child = self.space.child(decisions)
        key = tuple(child.block_strings())
        if key in self._scored:
            return None
        latency = child_latency(child, self.latency_model)
        if path is None and not self._floor() <= latency <= self._ceiling():
            return None
        path = path if path is not None else self.path_of(decisions, child)
        entry = _Scored(decisions, path, key, latency, float(self.screen(path)))
        self._scored[key] = entry
        bar.update(1)
        return entry

    def _ranked(self) -> list[_Scored]:
        return sorted(self._scored.values(), key=lambda e: -e.screen)

    # breeding ---------------------------------------------------------------------------------

    def _fill_population(
        self, rng: np.random.Generator, bar, budget: int, size: int | None = None
    ) -> int:
        """Random children of the band until `size` (default the population) are scored, at
        most `budget` draws; the draws made."""
        size = min(size or self.options.population, self.options.candidates)
        draws = 0
        while len(self._scored) < size and draws < budget:
            draws += 1
            self._consider(self.space.random_decisions(rng, skip_prob=None), bar)
        return draws

    def _offspring(self, rng: np.random.Generator, parents: list[_Scored]) -> Decisions:
        """Half the time a parent with one or two blocks redrawn, else a per-block crossover of
        two parents with one block redrawn at a time in four."""
        first = parents[rng.integers(len(parents))].decisions
        if rng.random() < 0.5:
            return self._mutated(rng, first, int(rng.integers(1, 3)))
        second = parents[rng.integers(len(parents))].decisions
        child = {n: (first if rng.random() < 0.5 else second)[n] for n in first}
        return self._mutated(rng, child, 1) if rng.random() < 0.25 else child

    def _mutated(self, rng: np.random.Generator, decisions: Decisions, blocks: int) -> Decisions:
        fresh = self.space.random_decisions(rng, skip_prob=None)
        out = dict(decisions)
        count = min(blocks, len(self._searched))
        for name in rng.choice(self._searched, size=count, replace=False):
            out[str(name)] = fresh[str(name)]
        return out


def _choices(block) -> int:
    """How many decisions a block of the space offers (its pairs, plus the skip)."""
    return len(block.pair_options) + int(block.searches_skip)
