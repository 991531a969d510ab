"""The two-step E-DNAS search, end to end, writing its outputs into one directory.

step 1: the kernel sets of the high-resolution early blocks (everything else at a reference
        setting); derived with `derive_mode` (parallel kernels allowed).
step 2: early kernels fixed from step 1; one joint (kernel, expansion) gate per remaining block,
        plus skips.

Outputs (in `output_dir`, and per step in `step1/`, `step2/` when both run): `arch.json`,
`gates.csv`, `history.json`, TensorBoard logs in `tb/`, checkpoints in `ckpt/` (a re-run resumes).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from ednas_tf.arch import ArchSpec
from ednas_tf.checkpointing import (
    CKPT_DIR,
    DEFAULT_EVERY_STEPS,
    CheckpointKeeper,
    CheckpointPolicy,
)
from ednas_tf.cost.base import LatencyModel
from ednas_tf.cost.network import child_latency, space_latency_bounds
from ednas_tf.data import DataSplits, batched
from ednas_tf.io_utils import atomic_write_json, atomic_write_text, read_csv_rows, read_json
from ednas_tf.model import build, searchable_blocks
from ednas_tf.precision import precision_policy
from ednas_tf.rundir import ARCH_FILE, GATES_FILE, HISTORY_FILE, RANKING_FILE, STEP_CONFIG_FILE
from ednas_tf.search.derive import (
    DeriveOptions,
    block_probabilities,
    derive,
    width_probabilities,
)
from ednas_tf.search.evolve import Evolution, EvolveOptions
from ednas_tf.search.expected import ExpectedLatency
from ednas_tf.search.loop import SearchConfig, SearchLoop
from ednas_tf.search.objectives import Objective, check_target
from ednas_tf.search.probe import (
    ChildPath,
    accuracy_standard_error,
    decisions_path,
    finetune_scorer,
    path_log_prob,
    path_scorer,
    score_description,
)
from ednas_tf.search.target_fit import LatencyGoal
from ednas_tf.search.warmup import record_warmup, start_from_warmup
from ednas_tf.space import SearchSpace
from ednas_tf.streams import BatchStream
from ednas_tf.training import TrainConfig

GATES_CSV_FIELDS = ("step", "epoch", "block", "choice", "option", "prob")
PROBE_MODES = ("supernet", "finetune")


@dataclasses.dataclass
class RunOptions:
    output_dir: str
    steps: str = "both"  # "1", "2" or "both"
    step1_epochs: int | None = None  # default: SearchConfig.epochs
    batch_size: int = 64
    derive_mode: str = "parallel"
    derive_threshold: float = 0.4
    gate_mode: str = "soft"
    seed: int = 0
    progress: bool = True
    resume: bool = True
    # children that meet the target (per width assignment, then one block decision away from
    # the first), scored from the supernet (probe.py); 0/1: the most probable one, unscored
    probe_candidates: int = 0
    # how they are scored: "supernet" (the pinned path, untrained) or "finetune" (the child
    # from the supernet's weights after `probe_steps` training steps of its own)
    probe_mode: str = "supernet"
    probe_steps: int = 200
    # after the final step, score this many random children on the trained supernet
    # (RUN/ranking.json; `rank_children`); 0: none
    rank_children: int = 0
    # the validation images each ranked child is scored on (0: the whole validation split)
    rank_images: int = 0
    # under a budget objective, grow a child far below the budget into its top band
    derive_fill_budget: bool = True
    # the latency fit's band, a fraction of the target (DeriveOptions.tolerance)
    derive_tolerance: float = 0.02
    # with a latency target: distinct children within the band [target x (1 - evolve_band),
    # target] an evolutionary search scores on the supernet, each on `evolve_images`
    # validation images (0: all), the best `evolve_finalists` again by `evolve_final` (one of
    # PROBE_MODES: the pinned path on all validation images, or a `probe_steps` fine-tune of
    # the child) (ednas_tf.search.evolve); 0: none
    evolve_candidates: int = 0
    evolve_band: float = 0.1
    evolve_images: int = 1000
    evolve_finalists: int = 3
    evolve_final: str = "supernet"
    # a checkpoint every this many steps and at each epoch end (0: epoch ends only); a
    # non-finite loss, gradient or gate logit fails the step ("fail") or rolls back ("rollback")
    checkpoint_every_steps: int = DEFAULT_EVERY_STEPS
    on_nan: str = "fail"
    max_rollbacks: int = 3
    # stop after the weights-only warm-up (no child derived; see ednas_tf.search.warmup) /
    # start from the warm-up such a run left in this folder
    warmup_only: bool = False
    warmup_from: str | None = None

    def checkpoint_policy(self) -> CheckpointPolicy:
        return CheckpointPolicy(
            every_steps=self.checkpoint_every_steps,
            resume=self.resume,
            on_nan=self.on_nan,
            max_rollbacks=self.max_rollbacks,
        )

    def __post_init__(self):
        if self.steps not in ("1", "2", "both"):
            raise ValueError(f"steps must be '1', '2' or 'both', got {self.steps!r}")
        if self.probe_candidates < 0:
            raise ValueError(f"probe_candidates must be >= 0, got {self.probe_candidates}")
        if self.probe_mode not in PROBE_MODES:
            raise ValueError(f"probe_mode must be one of {PROBE_MODES}, got {self.probe_mode!r}")
        if self.probe_steps < 1:
            raise ValueError(f"probe_steps must be >= 1, got {self.probe_steps}")
        if self.warmup_only and self.warmup_from:
            raise ValueError("give --warmup_only or --warmup_from, not both")
        EvolveOptions(self.evolve_candidates, self.evolve_band, finalists=self.evolve_finalists)
        if self.evolve_final not in PROBE_MODES:
            raise ValueError(
                f"evolve_final must be one of {PROBE_MODES}, got {self.evolve_final!r}"
            )
        if self.evolve_images < 0:
            raise ValueError(f"evolve_images must be >= 0, got {self.evolve_images}")


def gate_rows(model: tf.keras.Model, step: int, epoch: int) -> list[dict[str, Any]]:
    """One row per (block, choice, option) with the current marginal probability."""
    rows = []
    entries = [(block.name, block_probabilities(block)) for block in searchable_blocks(model)]
    entries += [(group, {"width": probs}) for group, probs in width_probabilities(model).items()]
    for name, probabilities in entries:
        for choice, values in probabilities.items():
            options = values.items() if isinstance(values, dict) else [("skip", values)]
            for option, prob in options:
                rows.append(
                    dict(
                        step=step,
                        epoch=epoch,
                        block=name,
                        choice=choice,
                        option=option,
                        prob=prob,
                    )
                )
    return rows


def write_gates_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=GATES_CSV_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


class _EpochRecorder:
    """Epoch hook: gates.csv, history.json and TensorBoard scalars (the loop checkpoints)."""

    def __init__(self, loop: SearchLoop, step: int, step_dir: Path, previous_rows, resume: bool):
        self.loop, self.step, self.dir = loop, step, step_dir
        self.rows = list(previous_rows)
        self.writer = tf.summary.create_file_writer(str(step_dir / "tb"))
        history_path = step_dir / HISTORY_FILE
        self.history = read_json(history_path) if resume and history_path.exists() else []

    def __call__(self, epoch: int, logs: dict) -> None:
        self.rows.extend(gate_rows(self.loop.model, self.step, epoch))
        write_gates_csv(self.dir / GATES_FILE, self.rows)
        self.history.append(logs)
        atomic_write_json(self.dir / HISTORY_FILE, self.history)
        with self.writer.as_default():
            for name, value in logs.items():
                if isinstance(value, float):
                    tf.summary.scalar(name, value, step=epoch)
        self.writer.flush()

    def rewind(self, epochs_done: int) -> None:
        """Forget what epochs after `epochs_done` wrote (a checkpoint put the loop back there)."""
        self.history = [logs for logs in self.history if logs["epoch"] <= epochs_done]
        self.rows = [row for row in self.rows if int(row["epoch"]) <= epochs_done]


def _read_gate_rows(path: Path) -> list[dict[str, Any]]:
    return read_csv_rows(path) if path.exists() else []


def _fingerprint(
    space: SearchSpace,
    splits: DataSplits,
    config: SearchConfig,
    objective: Objective,
    opts: RunOptions,
) -> dict[str, Any]:
    """What a resumed run must share with the run that wrote the checkpoints."""
    return json.loads(
        json.dumps(
            {
                "space": repr(space.blocks),
                "stem": repr(space.stem),
                "head": repr(space.head),
                "input_shape": list(space.input_shape),
                "device": space.profile.name,
                "dataset": splits.name,
                "sizes": splits.sizes,
                **splits.group_fact(),
                "config": dataclasses.asdict(config),
                "objective": dataclasses.asdict(objective),
                "batch_size": opts.batch_size,
                "gate_mode": opts.gate_mode,
                "seed": opts.seed,
            }
        )
    )


def _check_or_write_fingerprint(path: Path, fingerprint: dict[str, Any], resume: bool) -> None:
    """`resume`: there is a checkpoint to resume from; without one, a step's settings file (a
    run refused or failed before its first checkpoint) binds nothing and is rewritten."""
    if resume and path.exists():
        previous = read_json(path)
        changed = sorted(
            k for k in set(previous) | set(fingerprint) if previous.get(k) != fingerprint.get(k)
        )
        if changed:
            raise ValueError(
                f"{path.parent} holds a search with different settings ({', '.join(changed)}); "
                "use --noresume to start over or another --output_dir"
            )
        return
    atomic_write_text(path, json.dumps(fingerprint, indent=2))


def _step_data(splits: DataSplits, opts: RunOptions, strategy: tf.distribute.Strategy):
    """(weight batches, architecture batches, validation batches, training batches for the
    probes) of one step; the first two are streams a resumed search regenerates exactly."""
    train = BatchStream(splits.source("train"), opts.batch_size, seed=opts.seed, strategy=strategy)
    arch = BatchStream(
        splits.source("arch"), opts.batch_size, seed=opts.seed + 1, augment=False, strategy=strategy
    )
    probe_train = batched(
        splits.source("train"), opts.batch_size, training=True, seed=opts.seed, drop_remainder=True
    )
    val = batched(splits.val, opts.batch_size * 2, training=False)
    return train, arch, val, probe_train


def _probe_scorer(supernet, loop: SearchLoop, data, splits, config, opts, strategy):
    """(score, score_tie) that derive() ranks the fitted children by, or (None, 0)."""
    if opts.probe_candidates <= 1:
        return None, 0.0
    _, _, val, train = data
    if opts.probe_mode == "finetune":
        score = _finetune(supernet, train, val, config, opts)
    else:
        recalibration = iter(strategy.experimental_distribute_dataset(train.repeat()))
        score = path_scorer(supernet, lambda: loop.evaluate(val, recalibration))
    return score, accuracy_standard_error(splits.sizes["val"])


def _finetune(supernet, train: tf.data.Dataset, val: tf.data.Dataset, config, opts: RunOptions):
    """A fine-tune probe (`probe.finetune_scorer`) at the learning rate the supernet's weights
    were trained with."""
    recipe = TrainConfig(learning_rate=config.weight_lr, seed=opts.seed, precision=config.precision)
    return finetune_scorer(supernet, train.repeat(), val, opts.probe_steps, recipe)


def _first_images(val: tf.data.Dataset, count: int, batch_size: int) -> tf.data.Dataset:
    """The first `count` images of the validation batches (all of them for 0): a cheaper score
    of each of many children."""
    return val.unbatch().take(count).batch(batch_size) if count else val


def _evolution(loop: SearchLoop, space, data, splits, objective, latency_model, opts, strategy):
    """The `Evolution` derive() hands the gates' child to, or None (not asked, or no target)."""
    if not opts.evolve_candidates or objective.target_ms is None:
        return None
    _, _, val, train = data
    # every child's batch norms re-estimated on the same training batches, and scored on the same
    # images: children compared on common data differ by what they are, not by the draw
    stream = iter(strategy.experimental_distribute_dataset(train.repeat()))
    batches = list(itertools.islice(stream, loop.config.bn_recalibration_steps))
    subset = _first_images(val, opts.evolve_images, opts.batch_size * 2)
    screen = path_scorer(loop.model, lambda: loop.evaluate(subset, iter(batches)))
    if opts.evolve_final == "finetune":
        final = _finetune(loop.model, train, val, loop.config, opts)
    else:
        final = path_scorer(loop.model, lambda: loop.evaluate(val, iter(batches)))
    at_most = objective.at_most
    goal = LatencyGoal(objective.target_ms, opts.evolve_band, at_most, fill=at_most)
    options = EvolveOptions(
        opts.evolve_candidates, opts.evolve_band, finalists=opts.evolve_finalists, seed=opts.seed
    )
    describe = {
        "scored_by": score_description("supernet", 0),
        "screen_images": min(opts.evolve_images or splits.sizes["val"], splits.sizes["val"]),
        "final_scored_by": score_description(opts.evolve_final, opts.probe_steps),
        "final_images": splits.sizes["val"],
    }

    def path_of(decisions, child: ArchSpec) -> ChildPath:  # the child: a fine-tune probe builds it
        return dataclasses.replace(decisions_path(loop.model, decisions), arch=child)

    return Evolution(
        space, goal, latency_model, path_of, screen, final, options, opts.progress, describe
    )


def rank_children(
    loop: SearchLoop,
    space: SearchSpace,
    data,
    count: int,
    seed: int,
    latency_model: LatencyModel,
    strategy: tf.distribute.Strategy,
    progress: bool = False,
) -> dict[str, Any]:
    """How the trained supernet ranks `count` distinct children drawn uniformly from `space`
    (seeded): per child its blocks, the validation accuracy of its pinned path with batch norm
    re-estimated on training batches (as derive's probes score), the gates' log-probability of
    it (how derive's argmax ranks) and its latency; what RUN/ranking.json holds, so a user (or
    a benchmark with ground truth) can see whether the supernet tells children apart."""
    _, _, val, train = data
    recalibration = iter(strategy.experimental_distribute_dataset(train.repeat()))
    score = path_scorer(loop.model, lambda: loop.evaluate(val, recalibration))
    rng = np.random.default_rng(seed)
    drawn: list[tuple[dict, ArchSpec]] = []
    seen: set[tuple[str, ...]] = set()
    for _ in range(50 * count):  # distinct children (a small space may hold fewer than count)
        decisions = space.random_decisions(rng, skip_prob=None)
        child = space.child(decisions)
        key = tuple(child.block_strings())
        if key not in seen:
            seen.add(key)
            drawn.append((decisions, child))
        if len(drawn) == count:
            break
    children = []
    for decisions, child in tqdm(drawn, desc="ranking children", disable=not progress):
        path = decisions_path(loop.model, decisions)
        children.append(
            {
                "blocks": child.block_strings(),
                "val_acc": round(float(score(path)), 5),
                "log_prob": round(path_log_prob(loop.model, path), 5),
                "latency_ms": round(child_latency(child, latency_model), 6),
            }
        )
    return {"seed": seed, "scored_by": score_description("supernet", 0), "children": children}


def _note_probes(derived: ArchSpec, step: int, score, objective: Objective, opts) -> None:
    """Record how the probed children were scored; say when there was nothing to probe."""
    fit = derived.search.get("target_fit", {})
    if "probed" in fit:
        fit["probe_mode"] = opts.probe_mode
        if opts.probe_mode == "finetune":
            fit["probe_steps"] = opts.probe_steps
        fit["scored_by"] = score_description(opts.probe_mode, opts.probe_steps)
    if score is not None and "probed" not in fit:
        why = (
            "there is no latency target"
            if objective.target_ms is None
            else "fewer than two children meet the target"
        )
        print(f"step {step}: nothing to probe, {why}; kept the most probable", file=sys.stderr)


def _provenance(step, splits, config, objective, latency_model, opts, recorder) -> dict:
    """What arch.json records of how its search ran (search_seconds added by the caller)."""
    return {
        "step": step,
        "dataset": splits.name,
        "epochs": config.epochs,
        "warmup_epochs": config.warmup_epochs,
        "steps_per_epoch": config.steps_per_epoch,
        "batch_size": opts.batch_size,
        "seed": opts.seed,
        "objective": dataclasses.asdict(objective),
        "latency_model": latency_model.name,
        "final_val_acc": recorder.history[-1].get("val_acc") if recorder.history else None,
        # fewer than `epochs` where every gate committed first (SearchConfig.stop_when_committed)
        "epochs_run": len(recorder.history),
    }


def build_loop(
    step: int,
    space: SearchSpace,
    config: SearchConfig,
    objective: Objective,
    schedule,
    latency_model: LatencyModel,
    opts: RunOptions,
    strategy: tf.distribute.Strategy,
) -> SearchLoop:
    """A step's supernet and loop, seeded as the search seeds them, so a checkpoint of the step
    restores into it."""
    tf.keras.utils.set_random_seed(opts.seed + step)
    # the policy decides the layers' compute dtype when they are created (ednas_tf.precision)
    with strategy.scope(), precision_policy(config.precision):
        supernet = build(space, gate_mode=opts.gate_mode, seed=opts.seed * 1000 + step * 100)
        expected = ExpectedLatency(supernet, space, latency_model)
        return SearchLoop(supernet, expected, objective, schedule, config, strategy)


def run_step(
    step: int,
    space: SearchSpace,
    splits: DataSplits,
    config: SearchConfig,
    objective: Objective,
    schedule,
    latency_model: LatencyModel,
    opts: RunOptions,
    step_dir: Path,
    strategy: tf.distribute.Strategy,
) -> tuple[ArchSpec, list[dict]]:
    """Builds the supernet of `space`, searches it, derives and writes its arch.json."""
    final = step == 2 or opts.steps == "1"  # the latency target applies to the final child
    step_dir.mkdir(parents=True, exist_ok=True)
    warning = config.short_search_warning()
    if warning:
        print(f"step {step}: warning: {warning}", file=sys.stderr, flush=True)
    loop = build_loop(step, space, config, objective, schedule, latency_model, opts, strategy)
    supernet = loop.model
    fingerprint = _fingerprint(space, splits, config, objective, opts)
    keeper = CheckpointKeeper(loop.checkpoint(), step_dir / CKPT_DIR)
    resume, copied = opts.resume, False
    if opts.warmup_from and not (resume and keeper.paths()):
        # a shared warm-up: this step resumes from a copy of its end (ednas_tf.search.warmup)
        start_from_warmup(Path(opts.warmup_from), step_dir, fingerprint)
        resume = copied = True
    # the step's settings bind a re-run only once it has a checkpoint to resume: a run refused
    # or failed before its first one must not block the corrected re-run; a copied warm-up was
    # checked against them and takes this step's settings file
    resumes = resume and bool(keeper.paths()) and not copied
    _check_or_write_fingerprint(step_dir / STEP_CONFIG_FILE, fingerprint, resumes)
    previous = _read_gate_rows(step_dir / GATES_FILE) if resume else []
    recorder = _EpochRecorder(loop, step, step_dir, previous, resume)
    if not previous:
        recorder.rows.extend(gate_rows(supernet, step, 0))
    data = _step_data(splits, opts, strategy)
    start = time.time()
    logs = loop.fit(
        *data[:3],
        hooks=[recorder],
        progress=opts.progress,
        keeper=keeper,
        policy=dataclasses.replace(opts.checkpoint_policy(), resume=resume),
        on_restore=recorder.rewind,
        label=f"step {step}",
        point=f"search{step}",
        until_epoch=config.warmup_epochs if opts.warmup_only else None,
    )
    if opts.warmup_only:
        record_warmup(step_dir, config.warmup_epochs, time.time() - start)
        return None, recorder.rows
    if logs and logs[-1]["committed"]:
        print(
            f"step {step}: every gate committed (>= {config.stop_when_committed:g}) after epoch "
            f"{logs[-1]['epoch']} of {config.epochs}; stopped there",
            flush=True,
        )
    provenance = _provenance(step, splits, config, objective, latency_model, opts, recorder)
    provenance["search_seconds"] = round(time.time() - start, 1)
    if opts.warmup_from:
        provenance["warmup_from"] = str(opts.warmup_from)
    score, score_tie = (
        _probe_scorer(supernet, loop, data, splits, config, opts, strategy)
        if final
        else (None, 0.0)
    )
    select = (
        _evolution(loop, space, data, splits, objective, latency_model, opts, strategy)
        if final
        else None
    )
    derive_start = time.time()
    options = DeriveOptions(
        mode=opts.derive_mode,
        threshold=opts.derive_threshold,
        probe_candidates=opts.probe_candidates,
        score_tie=score_tie,
        fill_budget=opts.derive_fill_budget,
        tolerance=opts.derive_tolerance,
    )
    # only the final step's child is fitted to the latency target
    derived = derive(
        supernet,
        space,
        latency_model,
        objective if final else None,
        options,
        score=score,
        provenance=provenance,
        select=select,
    )
    derived.search["derive_seconds"] = round(time.time() - derive_start, 1)
    _note_probes(derived, step, score, objective, opts)
    if final and opts.rank_children:
        rank_start = time.time()
        # each child costs a supernet pass over these images
        val = _first_images(data[2], opts.rank_images, opts.batch_size * 2)
        data = (*data[:2], val, data[3])
        ranking = rank_children(
            loop, space, data, opts.rank_children, opts.seed, latency_model, strategy, opts.progress
        )
        ranking["images"] = opts.rank_images or None
        ranking["rank_seconds"] = round(time.time() - rank_start, 1)
        atomic_write_json(Path(opts.output_dir) / RANKING_FILE, ranking)
    derived.save(step_dir / ARCH_FILE)
    return derived, recorder.rows


def run_search(
    space: SearchSpace,
    splits: DataSplits,
    config: SearchConfig,
    objective: Objective,
    schedule,
    latency_model: LatencyModel,
    opts: RunOptions,
    strategy: tf.distribute.Strategy | None = None,
) -> ArchSpec | None:
    """Runs step 1, step 2 or both and writes the final arch.json and gates.csv; with
    `opts.warmup_only`, only the one step's weights-only warm-up (returns None)."""
    strategy = strategy or tf.distribute.get_strategy()
    output = Path(opts.output_dir)
    check_target(objective.target_ms, space_latency_bounds(space, latency_model), objective.at_most)
    steps = opts.steps
    if steps != "2" and not space.searches_early_kernels():
        if steps == "1":
            raise ValueError(
                "step 1 searches the early blocks' kernels, and this space offers each of them "
                "one kernel size: nothing to search (offer several sizes or run step 2)"
            )
        print(
            "note: no early block offers several kernel sizes, so there is no step 1; "
            "running step 2 alone",
            file=sys.stderr,
        )
        steps = "2"
    if steps == "both" and (opts.warmup_only or opts.warmup_from):
        raise ValueError(
            "a shared warm-up (--warmup_only, --warmup_from) is one step's: give --steps=1 or "
            "--steps=2 (step 2's supernet depends on step 1's child, and so on the objective)"
        )
    output.mkdir(parents=True, exist_ok=True)  # after the checks: a refused run writes nothing
    both = steps == "both"
    rows: list[dict[str, Any]] = []
    fixed_kernels: dict[str, tuple[int, ...]] = {}
    derived = None
    step1_probs: dict[str, Any] = {}
    if steps in ("1", "both"):
        step1_config = dataclasses.replace(
            config,
            epochs=opts.step1_epochs or config.epochs,
            warmup_epochs=min(config.warmup_epochs, opts.step1_epochs or config.epochs),
        )
        derived, step_rows = run_step(
            1,
            space.step_space(1),
            splits,
            step1_config,
            objective,
            schedule,
            latency_model,
            opts,
            output / "step1" if both else output,
            strategy,
        )
        rows += step_rows
        step1_probs = derived.gate_probs
        early = set(space.early_block_names())
        # step 1 never skips a block, so its derived blocks line up with the space's blocks
        fixed_kernels = {
            name: block.kernel
            for name, block in zip([b.name for b in space.blocks], derived.blocks)
            if name in early
        }
    if steps in ("2", "both"):
        derived, step_rows = run_step(
            2,
            space.step_space(2, fixed_kernels),
            splits,
            config,
            objective,
            schedule,
            latency_model,
            opts,
            output / "step2" if both else output,
            strategy,
        )
        rows += step_rows
    if both:
        # keep step 1's evidence for the early blocks beside step 2's for the rest
        derived.gate_probs = {**step1_probs, **derived.gate_probs}
        derived.save(output / ARCH_FILE)
        write_gates_csv(output / GATES_FILE, rows)
    return derived


def _option_probs(probs: dict) -> str:
    return " ".join(f"{k}:{v:.2f}" for k, v in probs.items())


def _evolution_lines(evolution: dict[str, Any] | None) -> list[str]:
    """What the evolutionary derive scored and which child won."""
    if not evolution:
        return []
    low, high = evolution["band_ms"]
    gates = evolution.get("gates_child") or {}
    lines = [
        f"evolution: {evolution['scored']} children scored in [{low:.4g}, {high:.4g}] ms on "
        f"{evolution['screen_images']} images; gates' child {gates.get('screen', float('nan')):.3f}"
        + (" (kept)" if evolution["chosen_is_gates_child"] else "")
        + f"; finalists by {evolution.get('final_scored_by', 'the supernet')} on "
        + f"{evolution['final_images']} images:"
    ]
    for entry in evolution["finalists"]:
        final = f"{entry['final']:.3f}" if "final" in entry else "-"
        lines.append(
            f"{'':<19}{entry['screen']:.3f} -> {final}  {entry['latency_ms']:.4g} ms  "
            + " ".join(entry["blocks"])
        )
    return lines


def summary_table(arch: ArchSpec) -> str:
    """A short table of the derived architecture, one line per block."""
    lines = ["derived architecture:"]
    lines += [f"{i + 1:>5}  {block.encode()}" for i, block in enumerate(arch.blocks)]
    if arch.gate_probs:
        lines.append(f"gate probabilities:  {'block':<8} {'kernel':<24} {'expansion':<24} skip")
        widths = []
        for name in arch.gate_probs:
            p = arch.gate_probs[name]
            if "width" in p:  # a width group, not a block: its own table below
                widths.append(f"{'':<21}{name:<8} " + _option_probs(p["width"]))
                continue
            kernel = _option_probs(p.get("kernel", {}))
            expansion = _option_probs(p.get("expansion", {}))
            skip = f"{p['skip']:.2f}" if "skip" in p else "-"
            lines.append(f"{'':<21}{name:<8} {kernel:<24} {expansion:<24} {skip}")
        if widths:
            chosen = ", ".join(f"{g} {c}" for g, c in (arch.search or {}).get("widths", {}).items())
            lines.append(
                f"width probabilities: {'group':<8} channels"
                + (f" (child: {chosen})" if chosen else "")
            )
            lines += widths
    fit = (arch.search or {}).get("target_fit", {})
    probed = fit.get("probed", [])
    if probed:
        lines.append(
            f"probed children that meet the target ({fit.get('scored_by', 'supernet val acc')}; "
            "* the child):"
        )
        for entry in probed:
            mark = "*" if entry.get("chosen") else " "
            channels = " ".join(f"{g} {c}" for g, c in entry["widths"].items())
            changed = ", ".join(f"{b} {code}" for b, code in entry.get("changed", {}).items())
            lines.append(
                f"{'':<19}{mark} {entry['score']:.3f}  {entry['latency_ms']:.4g} ms  "
                f"log p {entry['log_prob']:.2f}  {channels}" + (f"  ({changed})" if changed else "")
            )
    lines += _evolution_lines(fit.get("evolution"))
    latency = arch.predicted_latency_ms
    lines.append(
        f"stem {arch.stem.encode()}, head {arch.head.encode() if arch.head else '-'}, "
        f"predicted latency {latency:.4g} ms ({arch.device})"
        if latency is not None
        else ""
    )
    return "\n".join(lines)
