"""Fitting a derived child to a latency target.

`derive` reads each block's options off the supernet's gates (`BlockOption`: a decision, its log
probability and its latency) and gathers them per width assignment (`Candidate`).
`fit_to_target` then moves decisions, cheapest in probability first, until the child meets a
`LatencyGoal`; `distinct_shortlist` and `refitted_neighbours` give the fitted children a probe
ranks.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from ednas_tf.search.probe import ChildPath


@dataclasses.dataclass(frozen=True)
class BlockOption:
    """One decision a block can take (what `SearchSpace.child` resolves it with), its log
    probability under the gates and its latency."""

    decision: dict[str, Any]
    log_prob: float
    latency_ms: float
    pair: tuple[int, int] | None  # (kernel option, expansion option); None: the block skipped


@dataclasses.dataclass(frozen=True)
class LatencyGoal:
    """What a latency-target fit aims for: within `tolerance` (a fraction of the target) of
    `target_ms`, or — `at_most` — anywhere up to the target, a hard ceiling (a budget), so a
    child the gates put under a latency budget is kept as it is rather than grown to the budget;
    with `fill` too, a child below the band [target·(1 − tolerance), target] is grown into it:
    under a MACs budget the most accurate networks sit near the budget, and near-uniform gates
    otherwise leave a child far below it (docs/results on NAS-Bench-Macro)."""

    target_ms: float
    tolerance: float = 0.02
    at_most: bool = False
    fill: bool = False

    def met(self, latency_ms: float) -> bool:
        if self.at_most:
            return self.distance(latency_ms) == 0.0
        return abs(latency_ms - self.target_ms) <= self.tolerance * self.target_ms

    def distance(self, latency_ms: float) -> float:
        """How far `latency_ms` is from meeting the goal, in ms (0 when met)."""
        if self.at_most:
            if latency_ms > self.target_ms:
                # above a ceiling is worse than anywhere below it: a fit never crosses it
                return latency_ms  # = target + overshoot
            floor = self.target_ms * (1.0 - self.tolerance) if self.fill else -math.inf
            return max(0.0, floor - latency_ms)
        return abs(latency_ms - self.target_ms)


def fit_to_target(
    options: dict[str, list[BlockOption]],
    chosen: dict[str, int],
    fixed_ms: float,
    goal: LatencyGoal,
    locked: frozenset[str] = frozenset(),
) -> int:
    """Moves decisions (in place; never those of `locked` blocks) until the child meets `goal`.

    Greedy on the probability given up per ms of distance removed: the result is (close to) the
    most probable child that meets the latency target. Returns the number of moves.
    """
    latency = fixed_ms + sum(options[n][i].latency_ms for n, i in chosen.items())
    moves = 0
    while not goal.met(latency):
        best = None
        for name, index in chosen.items():
            if name in locked:
                continue
            current = options[name][index]
            for j, option in enumerate(options[name]):
                new = latency - current.latency_ms + option.latency_ms
                gain = goal.distance(latency) - goal.distance(new)
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


@dataclasses.dataclass
class Candidate:
    """One width assignment with every block's options and decision at those widths."""

    width_log_prob: float
    options: dict[str, list[BlockOption]]
    chosen: dict[str, int]
    fixed_ms: float
    width_index: dict[str, int]
    moves: int = 0  # decisions the latency-target fit moved away from the gates' argmax

    @property
    def latency_ms(self) -> float:
        return self.fixed_ms + sum(self.options[n][i].latency_ms for n, i in self.chosen.items())

    @property
    def log_prob(self) -> float:
        return self.width_log_prob + sum(
            self.options[n][i].log_prob for n, i in self.chosen.items()
        )

    @property
    def path(self) -> ChildPath:
        return ChildPath(
            {n: self.options[n][i].pair for n, i in self.chosen.items()}, dict(self.width_index)
        )


def refitted_neighbours(candidate: Candidate, goal: LatencyGoal) -> list[Candidate]:
    """`candidate` with one block's decision changed — each other option of each block in
    turn — and the other blocks re-fitted to the target around it: the children one decision
    away from the fitted one, for probing when width assignments give too few. Their moves
    add the change and the re-fit's to `candidate`'s."""
    neighbours = []
    for name, index in candidate.chosen.items():
        for other in range(len(candidate.options[name])):
            if other == index:
                continue
            chosen = dict(candidate.chosen, **{name: other})
            refit = fit_to_target(
                candidate.options, chosen, candidate.fixed_ms, goal, frozenset({name})
            )
            moves = candidate.moves + 1 + refit
            neighbours.append(dataclasses.replace(candidate, chosen=chosen, moves=moves))
    return neighbours


def _decisions_key(candidate: Candidate) -> str:
    return repr([candidate.options[n][i].decision for n, i in sorted(candidate.chosen.items())])


def distinct_shortlist(
    candidates: list[Candidate],
    goal: LatencyGoal,
    size: int,
    listed: tuple[Candidate, ...] = (),
) -> list[Candidate]:
    """`listed`, then the most probable distinct children of `candidates` that meet the target
    and are not in it, up to `size` in all."""
    met = [c for c in candidates if goal.met(c.latency_ms)]
    met.sort(key=lambda c: -c.log_prob)
    shortlist, seen = list(listed), {_decisions_key(c) for c in listed}
    for candidate in met:
        if len(shortlist) >= size:
            break
        key = _decisions_key(candidate)
        if key not in seen:
            seen.add(key)
            shortlist.append(candidate)
    return shortlist
