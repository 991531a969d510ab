"""Shared output convention for benchmarks: figures as one JSON object on the last line."""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

from ednas_tf.arch import ArchSpec
from ednas_tf.cost.base import LatencyModel
from ednas_tf.cost.lut import LookupTable
from ednas_tf.data import DataSplits, load_splits
from ednas_tf.io_utils import atomic_write_text
from ednas_tf.presets import DEFAULT_KERNELS, preset_space
from ednas_tf.profiles import get_profile
from ednas_tf.rundir import ARCH_FILE, TRAIN_METRICS_FILE
from ednas_tf.search.loop import SearchConfig
from ednas_tf.search.objectives import make_objective
from ednas_tf.search.runner import RunOptions, run_search
from ednas_tf.search.schedules import make_schedule
from ednas_tf.space import SearchSpace
from ednas_tf.training import TrainConfig, train_child

RESULTS_DIR = Path(__file__).resolve().parent / "results"
# The search-space presets the Pareto benchmarks compare (`--space`): `small`, and `small_hires`
# (its first stride moved to the last stage, so stage 2 runs at full resolution).
BENCH_SPACES = ("small", "small_hires")


def emit(name: str, figures: dict) -> dict:
    """Write `figures` to bench/results/<name>.json (atomically) and print it as the last line."""
    text = json.dumps(figures, sort_keys=True)
    atomic_write_text(RESULTS_DIR / f"{name}.json", text + "\n")
    print(text, flush=True)
    return figures


def seeded_training_splits(args) -> DataSplits:
    """The Pareto split `add_seeded_training_args`' flags name."""
    return load_bench_splits(
        args.dataset,
        data_dir=args.data_dir,
        image_size=args.image_size,
        limit=args.limit,
        seed=args.split_seed,
        num_test=args.num_test,
    )


def _network_fields(arch: ArchSpec) -> dict:
    """What makes two architectures the same network (not their search records)."""
    data = arch.to_dict()
    fields = ("input_shape", "num_classes", "activation", "stem", "blocks", "head")
    return {k: data[k] for k in fields}


def _finished_training(out: Path, arch: ArchSpec, config: TrainConfig, splits) -> dict | None:
    """The metrics `train_child` wrote to `out` for this network, recipe and data; None when
    there are none or they are of something else."""
    metrics_path, arch_path = out / TRAIN_METRICS_FILE, out / ARCH_FILE
    if not (metrics_path.is_file() and arch_path.is_file()):
        return None
    metrics = json.loads(metrics_path.read_text())
    # a field added to TrainConfig since the metrics were written (precision) had its default
    recorded = {**dataclasses.asdict(TrainConfig()), **(metrics.get("config") or {})}
    same = (
        recorded == dataclasses.asdict(config)
        and metrics.get("dataset") == splits.name
        and metrics.get("test_examples") == splits.sizes["test"]
        and _network_fields(ArchSpec.load(arch_path)) == _network_fields(arch)
    )
    return metrics if same else None


def train_under_seeds(arch: ArchSpec, splits, args, out: Path, reuse: bool = False) -> list[dict]:
    """`arch` trained with the Pareto recipe under each of `args.seed_list` (the flags of
    `add_child_training_args`), into out/seed<N>: per seed, test and best validation
    accuracy, validation accuracy after each epoch and minutes. `reuse`: a seed whose
    out/seed<N> already holds this network's training with this recipe and data is read, not
    trained again (a cut-off benchmark goes on where it stopped)."""
    runs = []
    for seed in args.seed_list:
        config = TrainConfig(
            epochs=args.epochs,
            steps_per_epoch=args.steps_per_epoch,
            warmup_epochs=min(1, args.epochs),
            seed=seed,
        )
        start = time.time()
        seed_dir = out / f"seed{seed}"
        metrics = _finished_training(seed_dir, arch, config, splits) if reuse else None
        if metrics is not None:
            print(f"seed {seed}: trained before, reused ({seed_dir})", flush=True)
            minutes = metrics["train_seconds"] / 60
        else:
            # Keras' progress bar on a terminal, one line per epoch in a log
            verbose = 1 if sys.stdout.isatty() else 2
            metrics = train_child(arch, splits, config, seed_dir, verbose=verbose)
            minutes = (time.time() - start) / 60
        runs.append(
            {
                "seed": seed,
                "test_acc": metrics["test_acc"],
                "best_val_acc": metrics["best_val_acc"],
                "val_acc_by_epoch": [round(v, 4) for v in metrics["history"]["val_acc"]],
                "minutes": round(minutes, 2),
            }
        )
        print(f"seed {seed}: test {metrics['test_acc']:.4f}", flush=True)
    return runs


def spread(accuracies: list[float]) -> dict:
    """Mean, sample standard deviation and range of accuracies (fractions), in points (0-100)."""
    points = [100 * a for a in accuracies]
    return {
        "mean_pt": round(statistics.fmean(points), 3),
        "std_pt": round(statistics.stdev(points), 3) if len(points) > 1 else None,
        "range_pt": round(max(points) - min(points), 3),
    }


def load_bench_splits(
    dataset: str,
    *,
    data_dir: str | None,
    image_size: int | None,
    limit: int | None,
    seed: int,
    num_test: int | None = None,
) -> DataSplits:
    """`load_splits` with the benchmarks' `--num_test`: the first `num_test` test images (all
    when None), so short runs evaluate on fewer images of the same split."""
    splits = load_splits(dataset, data_dir=data_dir, image_size=image_size, limit=limit, seed=seed)
    if not num_test:
        return splits
    num_test = min(num_test, splits.sizes["test"])
    return dataclasses.replace(
        splits, test=splits.test.take(num_test), sizes={**splits.sizes, "test": num_test}
    )


def device_space(
    splits,
    width: float,
    stage_widths: tuple[float, ...] = (),
    kernels: tuple[int, ...] = DEFAULT_KERNELS,
    preset: str = "small",
    device: str = "host",
) -> SearchSpace:
    """The `preset` space (`small`: the Pareto benchmarks') for `splits` with the rules of the
    `device` profile (the kernels it cannot run dropped; no latency table needed). ReLU6 on
    every device, the TDA2x default (ReLU) notwithstanding: the recorded figures are of ReLU6
    networks, and a re-run must measure the same ones."""
    return preset_space(
        preset,
        input_shape=splits.input_shape,
        num_classes=splits.num_classes,
        profile=get_profile(device),
        width=width,
        stage_widths=stage_widths,
        kernels=kernels,
        activation="relu6",
    )


def host_space(
    splits,
    width: float,
    stage_widths: tuple[float, ...] = (),
    kernels: tuple[int, ...] = DEFAULT_KERNELS,
    preset: str = "small",
) -> SearchSpace:
    """`device_space` with the `host` rules (depthwise up to 5x5)."""
    return device_space(splits, width, stage_widths, kernels, preset, device="host")


def host_space_and_table(
    splits,
    width: float,
    stage_widths: tuple[float, ...] = (),
    kernels: tuple[int, ...] = DEFAULT_KERNELS,
    preset: str = "small",
) -> tuple[SearchSpace, LookupTable]:
    """`host_space` and this machine's measured table (the latency benchmarks compare searches
    and networks on it)."""
    return host_space(splits, width, stage_widths, kernels, preset), host_lookup_table()


def host_lookup_table() -> LookupTable:
    """This machine's measured host table (rows it lacks are measured on first use)."""
    table = get_profile("host").latency()
    if not isinstance(table, LookupTable):
        raise SystemExit("error: the host profile is expected to be a measured lookup table")
    return table


def search_at_target(
    space: SearchSpace,
    splits,
    config: SearchConfig,
    table: LatencyModel,
    target_ms: float,
    output_dir: str,
    schedule=None,
    objective: str = "target",
    **options,
):
    """The benchmarks' E-DNAS search: the target objective |LAT/T - 1| (or `objective`, e.g.
    the budget form) on `table`, the FBNet temperature schedule unless `schedule` is given, no
    progress bar, no resume; `options` go to RunOptions."""
    return run_search(
        space,
        splits,
        config,
        make_objective(objective, target_ms=target_ms),
        schedule or make_schedule("exponential"),
        table,
        RunOptions(output_dir=output_dir, progress=False, resume=False, **options),
    )
