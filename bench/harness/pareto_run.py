"""One Pareto run, from parsed flags to its figures: the data and spaces, the targets, E-DNAS at
each target, keras-tuner, the baselines, the verdict. `bench/pareto.py` parses the flags and
writes the files; everything in between is here.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from pathlib import Path
from types import SimpleNamespace

import tensorflow as tf

from bench.common import device_space, host_lookup_table, load_bench_splits, search_at_target
from bench.harness.imported import imported_baselines
from bench.harness.kernels import kernel_figures
from bench.harness.models import Bench
from bench.harness.recipe import search_config, train_config
from bench.harness.record import resumable_models
from bench.harness.verdict import table, verdict, verdict_line
from deploy.export import dataset_arrays
from ednas_tf.arch import ArchSpec
from ednas_tf.baselines.fixed import Baseline, selected_baselines
from ednas_tf.baselines.imported import HOST_TIMING_KEYS
from ednas_tf.baselines.tuner import LatencyConstraint, TuneConfig, tune
from ednas_tf.cost.base import LatencyModel
from ednas_tf.data import DataSplits
from ednas_tf.measure.tables import space_configs
from ednas_tf.presets import DEFAULT_KERNELS
from ednas_tf.profiles import get_profile
from ednas_tf.search.runner import RunOptions
from ednas_tf.search.schedules import make_schedule
from ednas_tf.search.targets import resolve_target_ms
from ednas_tf.space import SearchSpace


@dataclasses.dataclass
class Setup:
    """What every model of a run shares, ready before any clock starts."""

    splits: DataSplits
    space: SearchSpace  # the searched one (with --stage_widths / --kernels)
    reference: SearchSpace  # targets and fixed children come from it
    latency_model: LatencyModel  # the host table, or the tda2x profile's model
    bounds: tuple[float, float]
    fractions: list[float]
    targets: list[float]
    baselines: list[tuple[str, Baseline]]
    imported: list[dict]
    bench: Bench


def tuner_targets(targets: list[float], where: str) -> list[float]:
    """The latency targets keras-tuner runs at: the middle one, or ("every") each."""
    if where == "every":
        return list(targets)
    return [sorted(targets)[len(targets) // 2]]


def searched_name(args: SimpleNamespace, fraction: float) -> str:
    """An E-DNAS model's name: its fraction, and what the search differed in."""
    kernel_tag = f"k{'+'.join(map(str, args.kernel_list))}_" if args.kernel_list else ""
    width_tag = "w_" if args.stage_width_list else ""
    objective_tag = "budget_" if args.objective == "budget" else ""
    return f"ednas_{width_tag}{objective_tag}{kernel_tag}t{fraction:g}"


def latency_key(args: SimpleNamespace) -> str:
    """The entry field every model is placed by: measured host or predicted TDA2x latency."""
    return f"{args.device}_latency_ms"


def _spaces(
    args: SimpleNamespace, splits: DataSplits
) -> tuple[SearchSpace, SearchSpace, LatencyModel]:
    """(searched space, reference space, the latency model of --device: this machine's host
    table or the tda2x profile's model); a space the device cannot run (e.g. --kernels=7 on
    host) is one error line."""
    try:
        space = device_space(
            splits,
            args.width,
            args.stage_width_list,
            args.kernel_list or DEFAULT_KERNELS,
            preset=args.space,
            device=args.device,
        )
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
    reference = device_space(splits, args.width, preset=args.space, device=args.device)
    model = host_lookup_table() if args.device == "host" else get_profile(args.device).latency()
    return space, reference, model


def prepare(args: SimpleNamespace, finished: dict[str, dict]) -> Setup:
    """Data, spaces, targets and the checks that must fail before hours of training."""
    splits = load_bench_splits(
        args.dataset,
        data_dir=args.data_dir,
        image_size=args.image_size,
        limit=args.limit,
        seed=args.seed,
        num_test=args.num_test,
    )
    calibration, _ = dataset_arrays(splits.train, args.num_calibration)
    images, labels = dataset_arrays(splits.test, splits.sizes["test"])
    print(f"data: {splits.name} {splits.input_shape}, splits {splits.sizes}", flush=True)
    space, reference, latency_model = _spaces(args, splits)
    app_sizes = tuple(sorted({32, args.image_size, 96}))  # the applications at these sides
    baselines = selected_baselines(reference, args.baselines, app_sizes)  # before training
    imported = imported_baselines(  # checked before hours of searching (host only: flags)
        [p for p in args.baselines_from.split(",") if p],
        args,
        reference,
        getattr(latency_model, "metadata", {}),
    )
    fractions = [float(f) for f in args.target_fractions.split(",")]
    _, bounds = resolve_target_ms(reference, latency_model)
    targets = [resolve_target_ms(reference, latency_model, fraction=f)[0] for f in fractions]
    # every row a search or the tuner can read, measured before any clock starts: the first
    # search must not be charged for the table (nor hand that time to its tuner as budget)
    latency_model.prepare(itertools.chain(*space_configs(space)))
    print(
        f"{args.device} latency range of the space: {bounds[0]:.4g}-{bounds[1]:.4g} ms; targets "
        + ", ".join(f"{t:.4g}" for t in targets),
        flush=True,
    )
    data = (calibration, images, labels)
    # host: every network timed as the table's rows were; tda2x: predicted, nothing timed
    timer = latency_model.time_network if args.device == "host" else None
    bench = Bench(args, splits, reference, data, train_config(args), timer, finished)
    return Setup(
        splits=splits,
        space=space,
        reference=reference,
        latency_model=latency_model,
        bounds=bounds,
        fractions=fractions,
        targets=targets,
        baselines=baselines,
        imported=imported,
        bench=bench,
    )


def _search(setup: Setup, args: SimpleNamespace, target: float, name: str) -> ArchSpec:
    """E-DNAS at `target` with the run's search flags (None flags: the defaults, kept None so
    an earlier run's flags.json still matches)."""
    return search_at_target(
        setup.space,
        setup.splits,
        search_config(args),
        setup.latency_model,
        target,
        str(Path(args.output_dir) / name / "search"),
        steps=args.steps,
        seed=args.seed,
        probe_candidates=args.probe_candidates,
        probe_mode=args.probe_mode or RunOptions.probe_mode,
        probe_steps=args.probe_steps or RunOptions.probe_steps,
        gate_mode=args.gate_mode or RunOptions.gate_mode,
        objective=args.objective or "target",
        schedule=make_schedule(
            args.temperature_schedule or "exponential",
            initial=args.temperature_init,
            final=args.temperature_final,
        ),
    )


def searched_kernels(setup: Setup, args: SimpleNamespace, arch: ArchSpec) -> dict:
    """A searched child's kernel share beside its latency model's per-block kernel costs."""
    kernels = args.kernel_list or DEFAULT_KERNELS
    return kernel_figures(arch, setup.latency_model, kernels, setup.space.profile)


def run_searches(setup: Setup, args: SimpleNamespace) -> dict[float, float]:
    """E-DNAS at each target, its child trained and measured; the search minutes by target
    (the tuner's budget there, as measured when a resumed run searched it)."""
    minutes: dict[float, float] = {}
    for fraction, target in zip(setup.fractions, setup.targets):
        name = searched_name(args, fraction)

        def ednas(target=target, name=name):
            start = time.time()
            arch = _search(setup, args, target, name)
            minutes[target] = (time.time() - start) / 60
            figures = setup.bench.arch_figures(arch, name)
            figures["search_minutes"] = round(minutes[target], 2)
            figures[f"predicted_{args.device}_ms"] = arch.predicted_latency_ms
            figures.update(searched_kernels(setup, args, arch))
            return figures

        entry = setup.bench.run(name, "ednas", ednas, target_ms=target)
        if name in setup.bench.reused:
            minutes[target] = entry["search_minutes"]
    return minutes


def run_tuner(setup: Setup, args: SimpleNamespace, search_minutes: dict[float, float]) -> None:
    """keras-tuner RandomSearch at the middle target (or every one) with E-DNAS's wall-clock
    budget there, its best child trained and measured as the others."""
    for target in tuner_targets(setup.targets, args.tuner_at):
        name = f"tuner_random_t{setup.fractions[setup.targets.index(target)]:g}"
        budget = search_minutes.get(target)

        def tuner(target=target, budget=budget, name=name):
            if budget is None:
                raise RuntimeError("the E-DNAS search at this target failed: no time budget")
            config = TuneConfig(
                tuner="random",
                max_trials=args.tuner_trials,
                max_time_minutes=budget,
                epochs=args.tuner_epochs,
                steps_per_epoch=args.search_steps_per_epoch,
                seed=args.seed,
            )
            constraint = LatencyConstraint(budget_ms=target)
            out = Path(args.output_dir) / name / "tune"
            result = tune(setup.space, setup.splits, setup.latency_model, constraint, config, out)
            figures = setup.bench.arch_figures(result.arch, name)
            figures.update(searched_kernels(setup, args, result.arch))
            figures["search_minutes"] = round(result.seconds / 60, 2)
            figures["tuner_trials"] = len(result.records)
            figures["tuner_budget_minutes"] = round(budget, 2)
            return figures

        setup.bench.run(name, "tuner", tuner, target_ms=target, search_minutes=None)


def run_baselines(setup: Setup) -> None:
    """The baselines, in the order --baselines names them (the cheap ones first in a long run)."""
    bench = setup.bench
    for name, spec in setup.baselines:
        if isinstance(spec, ArchSpec):
            bench.run(name, "baseline", lambda spec=spec, name=name: bench.arch_figures(spec, name))
        else:
            bench.run(
                name, "baseline", lambda spec=spec, name=name: bench.keras_figures(*spec, name)
            )


def run_config(args: SimpleNamespace, setup: Setup, models: list[dict], start: float) -> dict:
    """The results file's config: the flags (not the lists derived from them) and what the run
    measured with."""
    derived_args = ("seed_list", "stage_width_list", "kernel_list")
    config = {k: v for k, v in vars(args).items() if k not in derived_args}
    config.update(
        space_bounds_ms=list(setup.bounds),
        host_timing={  # what --baselines_from checks; nothing timed on tda2x
            key: setup.latency_model.metadata.get(key)
            for key in (*HOST_TIMING_KEYS, "speed_reference_ms")
        }
        if args.device == "host"
        else None,
        targets_ms=setup.targets,
        space=args.space,
        device_for_search=args.device,
        latency_key=latency_key(args),
        latency_model=setup.latency_model.name,
        splits=setup.splits.sizes,
        train_config=dataclasses.asdict(setup.bench.train_config),
        search_config=dataclasses.asdict(search_config(args)),
        total_minutes=round((time.time() - start) / 60, 2),  # this process
        reused_models=setup.bench.reused,
        model_wall_minutes=round(sum(m.get("wall_minutes") or 0 for m in models), 2),
    )
    return config


def run_pareto(args: SimpleNamespace, command: str) -> dict:
    """The whole run: the results file's figures (models, config, command, verdict). Searched
    models first, so a long run cut off late already holds them (see --resume)."""
    tf.keras.utils.set_random_seed(args.seed)
    start = time.time()
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    setup = prepare(args, resumable_models(out, args))
    search_minutes = run_searches(setup, args)
    if not args.no_tuner:
        run_tuner(setup, args, search_minutes)
    run_baselines(setup)
    trained = {m["name"] for m in setup.bench.models}
    models = setup.bench.models + [m for m in setup.imported if m["name"] not in trained]
    print(table(models), flush=True)
    verdicts = verdict(models, latency_key(args))
    for v in verdicts:
        print(verdict_line(v), flush=True)
    config = run_config(args, setup, models, start)
    return {"models": models, "config": config, "command": command, "verdict": verdicts}
