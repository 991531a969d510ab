"""Accuracy vs latency on Fashion-MNIST (32 px): E-DNAS children against fixed baselines and a
keras-tuner random search, all trained with the same recipe (issue 5, part 2).

  python bench/pareto.py                  # three targets (0.2, 0.5, 0.8 of the host range)
  python bench/pareto.py --quick          # smoke run (< 20 min on an idle 2-core machine)

Models:
  ednas        run_search (target objective, or with --objective=budget the at-most-target one;
               host latency table) at each target, then train_child
  baseline     keras.applications MobileNetV2 (alpha 0.35/0.5/1.0) and MobileNetV3Small
               (minimalistic) at 32 px and 96 px (grey image repeated to 3 channels, resized);
               MobileNetV2's CIFAR layout as a child of our space (k3, e6 with MobileNetV2's e1
               first block, stem and first strided stage at stride 1) at width 0.35/0.5/1.0;
               the space's blocks at all-3x3 and at the largest kernel the device allows
               (5x5 on host)
  tuner        ednas_tf.tune RandomSearch with the wall-clock budget of the E-DNAS search at the
               middle target (--tuner_at=every: at each target) and that target as latency
               budget, best child trained as above
Per model: float test accuracy, post-training int8 TFLite accuracy (200 calibration images) on the
same test images, params, MACs, measured host LiteRT latency (float; timed as the host table's
rows were — threads, repeats, rounds, speed yardstick — so it compares with the targets),
predicted TDA2x latency, search and training minutes. Writes bench/results/pareto_fmnist.json
(+ .png; another name with --results_name); a model that fails is recorded with its error and the
others go on.

A full run takes hours: --resume continues one that was cut off, reusing every model its
<output_dir>/partial.json records as finished when the flags it depends on are the same
(`TRAINING_FLAGS` for every model, `SEARCH_FLAGS` too for the searched ones, so a changed search
setting re-runs only the searches and the tuner); a failed model is run again.

With --seeds=0,1,2 every model (the searched children included; the search itself runs once) is
trained under each seed: test_acc is then the mean, test_acc_runs the single runs, and the verdict
gives the margin over the closest baseline with its standard error, since one run of this recipe
moves by about 1 pt from seed to seed (bench/seed_spread.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import tensorflow as tf

from bench.common import (
    BENCH_SPACES,
    RESULTS_DIR,
    add_results_name,
    emit,
    host_space,
    host_space_and_table,
    load_bench_splits,
    parse_comma_separated,
    parse_seeds,
    search_at_target,
    spread,
)
from deploy.export import dataset_arrays, export_tflite_int8, tflite_outputs
from deploy.merge import merge_model
from ednas_tf.arch import ArchSpec, BlockSpec, ConvSpec
from ednas_tf.cost.layer_desc import describe_keras_model
from ednas_tf.cost.network import child_latency, space_latency_bounds
from ednas_tf.cost.tda2x import AnalyticTDA2x
from ednas_tf.data import DataSplits
from ednas_tf.io_utils import atomic_write_text
from ednas_tf.layers.blocks import BN_MOMENTUM
from ednas_tf.measure.tables import space_configs
from ednas_tf.model import build
from ednas_tf.profiles import get_profile
from ednas_tf.run_summary import arch_macs
from ednas_tf.search.loop import SearchConfig
from ednas_tf.search.objectives import target_from_fraction
from ednas_tf.search.runner import RunOptions
from ednas_tf.search.schedules import make_schedule
from ednas_tf.space import DEFAULT_KERNELS, SearchSpace
from ednas_tf.training import TrainConfig, fit_best, train_child
from ednas_tf.tune import LatencyConstraint, TuneConfig, tune

NAME = "pareto_fmnist"
MARGIN = 0.005  # E-DNAS must beat a baseline by 0.5 pt (accuracies are fractions)
# MobileNetV2 (t, c, n, s); CIFAR layout: stem and the first strided stage at stride 1.
MBV2_STAGES = (
    (1, 16, 1, 1),
    (6, 24, 2, 1),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
FIELDS = (
    "name",
    "family",
    "target_ms",
    "test_acc",
    "int8_acc",
    "params",
    "macs",
    "host_latency_ms",
    "tda2x_latency_ms",
    "search_minutes",
    "train_minutes",
)
# Flags that change a model's figures: --resume reuses a finished model only when all the flags
# it depends on match. (--baselines, --no_tuner, --tuner_at and --target_fractions choose which
# models run, not what they measure: a searched model's name carries its fraction, and its
# target follows from the fraction and the training flags — so targets can be added to a run.)
# Every model depends on the data and training flags; the searched models (E-DNAS and the
# tuner, whose budget is the search's time) also on the search flags, so a changed search
# setting re-runs only them and keeps the hours of baselines.
TRAINING_FLAGS = (
    "dataset",
    "image_size",
    "width",
    "space",
    "limit",
    "num_test",
    "num_calibration",
    "epochs",
    "steps_per_epoch",
    "seed",
    "seed_list",
)
SEARCH_FLAGS = (
    "stage_widths",
    "kernels",
    "search_epochs",
    "search_steps_per_epoch",
    "arch_lr",
    "stop_when_committed",
    "temperature_schedule",
    "temperature_init",
    "temperature_final",
    "objective",
    "gate_mode",
    "probe_candidates",
    "probe_mode",
    "probe_steps",
    "steps",
    "tuner_trials",
    "tuner_epochs",
)
RESULT_FLAGS = TRAINING_FLAGS + SEARCH_FLAGS
PARTIAL_FILE = "partial.json"  # every model recorded so far, rewritten after each
FLAGS_FILE = "flags.json"  # RESULT_FLAGS of the run that wrote partial.json


def seeds_of(flags: dict, parser: argparse.ArgumentParser) -> list[int]:
    """The seeds a run trains every model under: its --seeds, else its --seed."""
    return parse_seeds(flags["seeds"], parser) if flags.get("seeds") else [flags.get("seed")]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke configuration (see module doc)")
    p.add_argument(
        "--dataset",
        default="fashion_mnist",
        help="dataset name from ednas_tf.data (default fashion_mnist)",
    )
    p.add_argument(
        "--data_dir", default=None, help="where the dataset lies (default: its registry location)"
    )
    p.add_argument(
        "--image_size",
        type=int,
        default=32,
        help="input side in pixels for every model (default 32)",
    )
    p.add_argument(
        "--target_fractions",
        default=None,
        help="targets as fractions of the space's host latency range (default 0.2,0.5,0.8)",
    )
    p.add_argument("--width", type=float, default=0.5, help="width of the search space")
    p.add_argument(
        "--space",
        choices=BENCH_SPACES,
        default="small",
        help="search-space preset (default small; small_hires: stage 2 at full resolution). "
        "The targets and the fixed children (all_3x3, ...) are those of this space",
    )
    p.add_argument(
        "--stage_widths",
        default="",
        help="also search each stage's channels, as multipliers of them (e.g. 0.75,1.25; the "
        "searched models are then named ednas_w_t...). Targets and the fixed children stay those "
        "of the space without width search, so runs with and without compare",
    )
    p.add_argument(
        "--kernels",
        default="",
        help="depthwise kernel sizes the searches (and the tuner) offer, e.g. 3 (default: "
        "every size the host runs, 3 and 5; one size: no kernel search and no step 1). The "
        "fixed children stay those of the default space",
    )
    p.add_argument(
        "--limit", type=int, default=None, help="training images (default all; quick: 3000)"
    )
    p.add_argument(
        "--num_test", type=int, default=None, help="test images (default all; quick: 1000)"
    )
    p.add_argument(
        "--num_calibration", type=int, default=200, help="images for int8 calibration (default 200)"
    )
    p.add_argument(
        "--epochs", type=int, default=None, help="training epochs (default 10; quick: 2)"
    )
    p.add_argument(
        "--steps_per_epoch",
        type=int,
        default=None,
        help="training steps per epoch (default one pass; quick: 40)",
    )
    p.add_argument(
        "--search_epochs", type=int, default=None, help="search epochs (default 5; quick: 2)"
    )
    p.add_argument(
        "--search_steps_per_epoch",
        type=int,
        default=None,
        help="search steps per epoch (default 120; quick: 30)",
    )
    p.add_argument(
        "--arch_lr",
        type=float,
        default=SearchConfig.arch_lr,
        help=f"learning rate of the architecture logits (default {SearchConfig.arch_lr:g}); a "
        "short search warns when arch steps x arch_lr is too small for its gates to commit",
    )
    p.add_argument(
        "--stop_when_committed",
        type=float,
        default=SearchConfig.stop_when_committed,
        help="a search step ends after an architecture epoch at which every gate puts at least "
        f"this on the option it led with an epoch before (default "
        f"{SearchConfig.stop_when_committed:g}; 0: every epoch runs)",
    )
    p.add_argument(
        "--temperature_schedule",
        default=None,
        choices=["exponential", "linear"],
        help="Gumbel temperature over the architecture epochs: FBNet's exponential (default; "
        "5.0 x exp(-0.045 epoch), so a short search stays near 5) or GDAS' linear from "
        "--temperature_init to --temperature_final on the last architecture epoch",
    )
    p.add_argument(
        "--temperature_init",
        type=float,
        default=None,
        help="first architecture epoch's temperature (default 5 exponential, 10 linear)",
    )
    p.add_argument(
        "--temperature_final",
        type=float,
        default=None,
        help="last architecture epoch's temperature, linear schedule only (default 0.1)",
    )
    p.add_argument(
        "--objective",
        default=None,
        choices=["target", "budget"],
        help="architecture loss of the searches: target, CE + 0.5 |LAT/T - 1| (default; pulls "
        "each search onto its target), or budget, CE + 0.5 max(0, LAT/T - 1) (latency costs only "
        "above the target and the child is derived at or below it; the searched models are then "
        "named ednas_budget_t...)",
    )
    p.add_argument(
        "--gate_mode",
        default=None,
        choices=["soft", "hard"],
        help="supernet gates during the search: soft Gumbel-softmax mixtures (default) or hard "
        "one-hot samples with straight-through gradients (one sampled child per step)",
    )
    p.add_argument(
        "--probe_candidates",
        type=int,
        default=0,
        help="score this many of the most probable fitted children that meet each target on "
        "the supernet's weights and keep the most accurate (ednas_tf/search/probe.py; default "
        "0: the most probable, unscored; one fitted child per width assignment with "
        "--stage_widths, then the children one block decision away); the probes count as "
        "search time",
    )
    p.add_argument(
        "--probe_mode",
        default=None,
        choices=["supernet", "finetune"],
        help="how --probe_candidates scores a child: supernet (its pinned path, untrained; "
        "default) or finetune (the child from the supernet's weights, trained --probe_steps "
        "steps on its own)",
    )
    p.add_argument(
        "--probe_steps",
        type=int,
        default=None,
        help="training steps of each probed child with --probe_mode=finetune (default 200)",
    )
    p.add_argument(
        "--steps",
        default=None,
        choices=["1", "2", "both"],
        help="search steps (default both; quick: 2)",
    )
    p.add_argument(
        "--tuner_trials", type=int, default=None, help="tuner max trials (default 100; quick: 2)"
    )
    p.add_argument("--tuner_epochs", type=int, default=1, help="epochs per tuner trial (default 1)")
    p.add_argument(
        "--baselines",
        default=None,
        help="comma-separated baseline names to run, in that order (default: all, cheapest "
        "first; quick: 3); 'none' runs only "
        "the searches, e.g. to compare search settings against an earlier run's baselines",
    )
    p.add_argument(
        "--baselines_from",
        default="",
        help="comma-separated results files of earlier bench/pareto.py runs (e.g. "
        "bench/results/pareto_fmnist.json) whose baselines join this run's verdict, table and "
        "plot without training again; they must have been trained with this run's data and "
        "training flags and timed as its host table is (else the bench stops and says what "
        "differs). Their space may differ: a fixed child of another space is renamed with it "
        "(all_3x3_small); a baseline this run trains itself wins over an imported one",
    )
    p.add_argument("--no_tuner", action="store_true", help="skip the keras-tuner baseline")
    p.add_argument(
        "--tuner_at",
        default="middle",
        choices=["middle", "every"],
        help="run keras-tuner at the middle latency target only (default) or at every target, "
        "each with the E-DNAS search's wall-clock budget at that target",
    )
    p.add_argument(
        "--output_dir", default="runs/pareto", help="scratch for the runs (default runs/pareto)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed for data splits, search and training")
    p.add_argument(
        "--seeds",
        default=None,
        help="training seeds, comma-separated (default: --seed). Every model is trained once "
        "per seed and compared on its mean test accuracy; int8 accuracy and latency come from "
        "the first seed's model. The search runs once, with --seed",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --output_dir: models its partial.json records as finished "
        "are reused, not run again, provided every flag that changes figures is as it was "
        "(else the bench stops and names the flags that differ); failed models run again. "
        "Host latencies are timed against a speed yardstick, so figures from the earlier "
        "process compare with the new ones. Without it, an earlier run's partial.json and "
        "flags.json are moved to *.previous.json",
    )
    add_results_name(p, NAME)  # .json and .png
    args = p.parse_args(argv)
    args.seed_list = seeds_of(vars(args), p)
    if args.temperature_final is not None and args.temperature_schedule != "linear":
        p.error("--temperature_final needs --temperature_schedule=linear")
    try:  # the schedule's own check, before hours of baselines rather than at the search
        make_schedule(
            args.temperature_schedule or "exponential",
            args.temperature_init,
            final=args.temperature_final,
        )
    except ValueError as err:
        p.error(str(err))
    if args.probe_candidates < 0:
        p.error(f"--probe_candidates must be >= 0, got {args.probe_candidates}")
    if args.probe_steps is not None and args.probe_steps < 1:
        p.error(f"--probe_steps must be >= 1, got {args.probe_steps}")
    args.stage_width_list = parse_comma_separated(args.stage_widths, float, "stage_widths", p)
    args.kernel_list = parse_comma_separated(args.kernels, int, "kernels", p)
    quick = dict(
        target_fractions="0.5",
        limit=3000,
        num_test=1000,
        epochs=2,
        steps_per_epoch=40,
        search_epochs=2,
        search_steps_per_epoch=30,
        steps="2",
        tuner_trials=2,
        baselines="mbv2_a0.35_32px,cifar_mbv2_w0.35,all_3x3",
    )
    full = dict(
        target_fractions="0.2,0.5,0.8",
        limit=None,
        num_test=None,
        epochs=10,
        steps_per_epoch=None,
        search_epochs=5,
        search_steps_per_epoch=120,
        steps="both",
        tuner_trials=100,
        baselines=None,
    )
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def resumable_models(out: Path, args) -> dict[str, dict]:
    """The finished models (by name) of the earlier run in `out` that --resume reuses; and the
    run's `RESULT_FLAGS`, written to out/flags.json for the next --resume.

    Stops, naming the flags that differ, when the earlier run measured with other ones. Without
    --resume an earlier run's files are moved aside to *.previous.json (hours of models are not
    lost to a forgotten flag, and none are left beside the new flags) and it says so.
    """
    flags = json.loads(json.dumps({flag: getattr(args, flag) for flag in RESULT_FLAGS}))
    partial = out / PARTIAL_FILE
    earlier = json.loads(partial.read_text()) if partial.exists() else []
    finished = {m["name"]: m for m in earlier if not m.get("error")}
    if not args.resume:
        if finished:
            print(
                f"{out} holds {len(finished)} finished model(s) of an earlier run: starting "
                "afresh, its files moved to *.previous.json (--resume would reuse them)",
                file=sys.stderr,
            )
        for name in (PARTIAL_FILE, FLAGS_FILE):
            if (out / name).exists():
                (out / name).replace(out / name.replace(".json", ".previous.json"))
        finished = {}
    elif finished:
        flags_path = out / FLAGS_FILE
        before = json.loads(flags_path.read_text()) if flags_path.exists() else None
        if before is None:
            raise SystemExit(
                f"--resume: {out} has no {FLAGS_FILE}, so what its models measured is unknown; "
                "run without --resume or with another --output_dir"
            )
        differ = sorted(k for k in RESULT_FLAGS if flags.get(k) != before.get(k))
        changes = ", ".join(f"{k} {before.get(k)!r} (now {flags.get(k)!r})" for k in differ)
        if set(differ) - set(SEARCH_FLAGS):
            raise SystemExit(
                f"--resume: the run in {out} measured with other flags: {changes}; run without "
                "--resume or with another --output_dir"
            )
        if differ:
            searched = sorted(n for n, m in finished.items() if m.get("family") != "baseline")
            finished = {n: m for n, m in finished.items() if m.get("family") == "baseline"}
            print(
                f"--resume: search flags changed ({changes}): the searched models run again"
                + (f" ({', '.join(searched)})" if searched else "")
                + "; the baselines are kept",
                file=sys.stderr,
            )
        print(f"resuming {out}: {len(finished)} finished model(s) reused", file=sys.stderr)
    else:
        print(f"--resume: nothing finished in {out}; starting afresh", file=sys.stderr)
    atomic_write_text(out / FLAGS_FILE, json.dumps(flags, indent=1, sort_keys=True))
    return finished


# ---------------------------------------------------------------------------------------------
# models


def mbv2_cifar_arch(space: SearchSpace, width: float) -> ArchSpec:
    """MobileNetV2's CIFAR layout as a child of our space's kind (k3 everywhere)."""

    def rounded(c: float) -> int:
        r = max(8, int(c + 4) // 8 * 8)
        return r + 8 if r < 0.9 * c else r

    blocks = [
        BlockSpec(
            kernel=(3,), expansion=float(t), channels=rounded(c * width), stride=s if r == 0 else 1
        )
        for t, c, n, s in MBV2_STAGES
        for r in range(n)
    ]
    return ArchSpec(
        input_shape=tuple(space.input_shape),
        num_classes=space.num_classes,
        stem=ConvSpec(kernel=3, channels=rounded(32 * width), stride=1),
        blocks=blocks,
        head=ConvSpec(kernel=1, channels=1280 if width <= 1 else rounded(1280 * width)),
        activation=space.activation,
        device=space.profile.name,
    )


def fixed_kernel_arch(space: SearchSpace, kernel: int) -> ArchSpec:
    """The space's blocks at one kernel size (nearest the device allows), largest expansion,
    no skip."""
    decisions = {}
    for b in space.blocks:
        sizes = [o[0] for o in b.kernel_options if len(o) == 1]
        k = kernel if kernel in sizes else (max(sizes) if kernel > 3 else min(sizes))
        decisions[b.name] = {"kernel": (k,), "expansion": max(b.expansion_options), "skip": False}
    return space.child(decisions)


def keras_app(kind: str, alpha: float, image_size: int, input_shape, num_classes: int):
    """A keras.applications model (weights=None) behind a grey→RGB (and resize) adapter.

    Its batch norms get our blocks' momentum: keras.applications uses 0.999, whose moving
    statistics are still mostly their initial values after a few hundred steps, so a short run
    evaluated at chance (10 %) however well it trained (measured: the first reduced Pareto run)."""
    inputs = tf.keras.Input(input_shape, name="image")
    x = inputs
    if image_size != input_shape[0]:
        x = tf.keras.layers.Resizing(image_size, image_size, name="resize")(x)
    if input_shape[-1] == 1:
        x = tf.keras.layers.Concatenate(name="to_rgb")([x, x, x])
    shape = (image_size, image_size, 3)
    if kind == "mbv2":
        app = tf.keras.applications.MobileNetV2(
            input_shape=shape,
            alpha=alpha,
            weights=None,
            classes=num_classes,
            classifier_activation=None,
        )
    else:
        app = tf.keras.applications.MobileNetV3Small(
            input_shape=shape,
            minimalistic=True,
            weights=None,
            classes=num_classes,
            classifier_activation=None,
            include_preprocessing=False,
        )
    for layer in app.layers:  # same recipe as our children: see BN_MOMENTUM
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            layer.momentum = BN_MOMENTUM
    return tf.keras.Model(inputs, app(x), name=f"{kind}_{alpha:g}_{image_size}px")


def train_keras(
    model: tf.keras.Model,
    splits: DataSplits,
    config: TrainConfig,
    output_dir: Path,
    verbose: int = 0,
) -> dict:
    """train_child's recipe (ednas_tf.training.fit_best) for any tf.keras model (logits out)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    fit = fit_best(model, splits, config, output_dir / "best.weights.h5", verbose=verbose)
    return {key: fit[key] for key in ("test_acc", "train_seconds", "best_val_acc")}


# ---------------------------------------------------------------------------------------------
# measurements


def int8_accuracy(model, calibration, images, labels, path: Path) -> float:
    export_tflite_int8(model, path, calibration, int8_io=False)
    return float(np.mean(tflite_outputs(path, images).argmax(-1) == labels))


class Bench:
    """Trains, measures and records the models. `timer(keras_model) -> ms` times a whole float
    network exactly as the host table's rows were timed (`MeasuredTable.time_network`: its
    repeats, rounds and speed yardstick), so measured and predicted latencies and the targets
    share one scale even when the shared machine runs slower for a while."""

    def __init__(self, args, splits, space, data, train_config, timer, finished=None):
        self.args, self.splits, self.space, self.data = args, splits, space, data
        self.train_config = train_config
        self.timer = timer
        self.tda2x = get_profile("tda2x").latency()
        self.out = Path(args.output_dir)
        self.models: list[dict] = []
        self.finished: dict[str, dict] = dict(finished or {})  # by name, from --resume
        self.reused: list[str] = []

    def record(self, entry: dict) -> None:
        """Adds a model and rewrites partial.json: the models so far, then the resumed run's
        finished ones not reached yet, so a run cut off again loses none of them."""
        self.models.append(entry)
        done = {m["name"] for m in self.models}
        pending = [m for name, m in self.finished.items() if name not in done]
        atomic_write_text(self.out / PARTIAL_FILE, json.dumps(self.models + pending, indent=1))
        if entry.get("error"):
            print(f"[{len(self.models)}] {entry['name']}: FAILED {entry['error']}", flush=True)
            return
        print(
            f"[{len(self.models)}] {entry['name']} ({entry['family']}): test "
            f"{entry['test_acc']:.4f} int8 {entry['int8_acc']:.4f}, host "
            f"{entry['host_latency_ms']:.3f} ms, tda2x {entry['tda2x_latency_ms']:.3f} ms, "
            f"{entry['params']} params, train {entry['train_minutes']:.1f} min",
            flush=True,
        )

    def run(self, name: str, family: str, fn, target_ms=None, search_minutes=None) -> dict:
        """`fn()`'s figures as one model's entry (its error, if it fails); a model the resumed
        run finished is reused as it was."""
        earlier = self.finished.get(name)
        if earlier and target_ms is not None and not np.isclose(earlier["target_ms"], target_ms):
            print(  # a guard: the target follows from flags --resume has already compared
                f"--> {name}: the resumed run searched it at {earlier['target_ms']:.4g} ms, "
                f"not {target_ms:.4g} ms: it runs again",
                flush=True,
            )
            del self.finished[name]
        if name in self.finished:
            print(f"--> {name} ({family}): finished by the resumed run, reused", flush=True)
            self.reused.append(name)
            self.record(self.finished[name])
            return self.finished[name]
        entry = {k: None for k in FIELDS}
        entry.update(name=name, family=family, target_ms=target_ms, search_minutes=search_minutes)
        print(f"--> {name} ({family}) ...", flush=True)
        start = time.time()
        try:
            entry.update(fn())
        except Exception as err:  # noqa: BLE001 - one failing model must not stop the bench
            traceback.print_exc()
            entry["error"] = f"{type(err).__name__}: {err}"[:2000]
        entry["wall_minutes"] = round((time.time() - start) / 60, 2)
        self.record(entry)
        return entry

    def measure(self, model: tf.keras.Model, name: str) -> dict:
        """Deploy-side figures of a trained float Keras model (merged when it is our child)."""
        calibration, images, labels = self.data
        path = self.out / name / "int8.tflite"
        return {
            "int8_acc": int8_accuracy(model, calibration, images, labels, path),
            "host_latency_ms": self.timer(model),
        }

    def seeded_runs(self, name: str, train_one) -> tuple[object, dict]:
        """`train_one(config, run_dir) -> (result, metrics)` once per `--seeds`; returns the first
        seed's result (its model is the one measured for int8 and latency) and the accuracy
        figures over all seeds. The first seed trains in `<output_dir>/<name>`."""
        first_result, accuracies, seconds = None, [], []
        for i, seed in enumerate(self.args.seed_list):
            run_dir = self.out / name if i == 0 else self.out / name / f"seed{seed}"
            config = dataclasses.replace(self.train_config, seed=seed)
            result, metrics = train_one(config, run_dir)
            if i == 0:
                first_result = result
            accuracies.append(float(metrics["test_acc"]))
            seconds.append(float(metrics["train_seconds"]))
            if len(self.args.seed_list) > 1:
                print(f"    {name} seed {seed}: test {accuracies[-1]:.4f}", flush=True)
        figures = {
            "test_acc": float(np.mean(accuracies)),
            "train_minutes": round(float(np.mean(seconds)) / 60, 2),  # one training run
        }
        if len(accuracies) > 1:
            figures.update(
                test_acc_runs=accuracies,
                seeds=list(self.args.seed_list),
                test_acc_std_pt=spread(accuracies)["std_pt"],
            )
        return first_result, figures

    def arch_figures(self, arch: ArchSpec, name: str) -> dict:
        def train_one(config, run_dir):
            return run_dir, train_child(arch, self.splits, config, run_dir, verbose=0)

        first_dir, accuracy = self.seeded_runs(name, train_one)
        model = build(arch)  # only the first seed's weights are measured
        model.load_weights(str(first_dir / "child.weights.h5"))
        figures = self.measure(merge_model(model), name)
        figures.update(
            accuracy,
            params=int(model.count_params()),
            macs=int(arch_macs(arch)),
            tda2x_latency_ms=float(child_latency(arch, self.tda2x)),
            arch=[b.encode() for b in arch.blocks],
        )
        return figures

    def keras_figures(self, kind: str, alpha: float, size: int, name: str) -> dict:
        def train_one(config, run_dir):
            tf.keras.utils.set_random_seed(config.seed)
            model = keras_app(kind, alpha, size, self.splits.input_shape, self.splits.num_classes)
            return model, train_keras(model, self.splits, config, run_dir)

        model, accuracy = self.seeded_runs(name, train_one)
        figures = self.measure(model, name)
        figures.update(
            accuracy,
            params=int(model.count_params()),
            macs=int(sum(d.macs for d in describe_keras_model(model))),
            tda2x_latency_ms=float(AnalyticTDA2x().model_ms(model)),
        )
        return figures


def baseline_list(space: SearchSpace) -> list[tuple[str, object]]:
    """Every baseline, cheapest to train first: the fixed children and the 32 px applications
    (the ones near the targets' latencies, which decide the verdict), then the CIFAR layouts
    and the 96 px applications (hours on two cores) — so a long run cut off late (see
    --resume) already holds the models the verdict compares."""
    largest = max(k for b in space.blocks for option in b.kernel_options for k in option)
    out = [
        ("all_3x3", fixed_kernel_arch(space, 3)),
        (f"all_{largest}x{largest}", fixed_kernel_arch(space, largest)),
    ]
    out += [(f"mbv2_a{a:g}_32px", ("mbv2", a, 32)) for a in (0.35, 0.5, 1.0)]
    out.append(("mbv3s_min_32px", ("mbv3s", 1.0, 32)))
    out += [(f"cifar_mbv2_w{w:g}", mbv2_cifar_arch(space, w)) for w in (0.35, 0.5, 1.0)]
    out.append(("mbv3s_min_96px", ("mbv3s", 1.0, 96)))
    out += [(f"mbv2_a{a:g}_96px", ("mbv2", a, 96)) for a in (0.35, 0.5, 1.0)]
    return out


def selected_baselines(space: SearchSpace, names: str | None) -> list[tuple[str, object]]:
    """The baselines `--baselines` names, in its order (all when None, nothing for "none"); an
    unknown name is an error here rather than after hours of searching."""
    if names == "none":
        return []
    available = dict(baseline_list(space))
    wanted = names.split(",") if names else list(available)
    unknown = [n for n in wanted if n not in available]
    if unknown:
        raise SystemExit(f"error: unknown baselines {unknown}; choose from {sorted(available)}")
    return [(n, available[n]) for n in wanted]


# the host table's timing settings a results file records (with the speed yardstick, which
# may differ between processes); --baselines_from accepts a file only where these agree
HOST_TIMING_KEYS = ("runtime", "threads", "repeats", "warmup", "rounds")


def imported_baselines(paths: list[str], args, reference: SearchSpace, timing: dict) -> list[dict]:
    """The baselines recorded in earlier runs' results files (`--baselines_from`), each marked
    with the file it came from. Only a run that trained as this one does (`TRAINING_FLAGS`, its
    space aside) and timed its latencies as this run's host table does is accepted: its
    figures are then the ones this run would measure. A fixed child whose blocks differ from
    this run's baseline of that name is renamed with its space."""
    own = {
        name: [b.encode() for b in spec.blocks]
        for name, spec in baseline_list(reference)
        if isinstance(spec, ArchSpec)
    }
    imported = []
    for path in paths:
        try:
            results = json.loads(Path(path).read_text())
            config, models = results["config"], results["models"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise SystemExit(
                f"--baselines_from: {path} is not a bench/pareto.py results file: {err}"
            ) from None
        # a results file records the flags, not the seed list derived from them
        earlier = dict(config, seed_list=seeds_of(config, argparse.ArgumentParser(prog=path)))
        differ = [
            f"{flag} {earlier.get(flag)!r} (here {getattr(args, flag)!r})"
            for flag in TRAINING_FLAGS
            if flag != "space" and earlier.get(flag) != getattr(args, flag)
        ]
        host_timing = config.get("host_timing") or {}
        differ += [
            f"host timing {key} {host_timing.get(key)!r} (here {timing.get(key)!r})"
            for key in HOST_TIMING_KEYS
            if host_timing.get(key) != timing.get(key)
        ]
        if differ:
            raise SystemExit(f"--baselines_from: {path} measured otherwise: {', '.join(differ)}")
        space = config.get("space", "small")
        for m in models:
            if m.get("family") != "baseline" or m.get("error"):
                continue
            if m.get("imported_from"):  # imported there too: as named and sourced there
                imported.append(m)
                continue
            name = m["name"]
            if m.get("arch") is not None and m["arch"] != own.get(name):
                name = f"{name}_{space}"
            imported.append(dict(m, name=name, imported_from=str(path)))
    first = {}
    for m in imported:  # the same baseline from two files: the first file listed wins
        first.setdefault(m["name"], m)
    return list(first.values())


# ---------------------------------------------------------------------------------------------
# verdict, table, plot


def margin_standard_error(a: dict, b: dict) -> float | None:
    """Standard error (points) of the difference of two models' mean accuracies over seeds;
    None unless both were trained under several seeds."""
    runs_a, runs_b = a.get("test_acc_runs") or [], b.get("test_acc_runs") or []
    if len(runs_a) < 2 or len(runs_b) < 2:
        return None
    var = np.var(runs_a, ddof=1) / len(runs_a) + np.var(runs_b, ddof=1) / len(runs_b)
    return round(100 * float(np.sqrt(var)), 3)


def verdict(models: list[dict]) -> list[dict]:
    """Per E-DNAS model: the baselines at or below its measured latency, whether it beats each
    by MARGIN (mean accuracies when several seeds ran), and the tuner at its target."""
    ok = [m for m in models if not m.get("error") and m.get("test_acc") is not None]
    baselines = [m for m in ok if m["family"] == "baseline"]
    tuners = [m for m in ok if m["family"] == "tuner"]
    rows = []
    for m in (m for m in ok if m["family"] == "ednas"):
        peers = [b for b in baselines if b["host_latency_ms"] <= m["host_latency_ms"]]
        beaten = [b["name"] for b in peers if m["test_acc"] >= b["test_acc"] + MARGIN]
        tuner = [t for t in tuners if t["target_ms"] == m["target_ms"]]
        closest = max(peers, key=lambda b: b["test_acc"], default=None)
        rows.append(
            {
                "target_ms": m["target_ms"],
                "ednas": m["name"],
                "ednas_test_acc": m["test_acc"],
                "ednas_host_latency_ms": m["host_latency_ms"],
                "baselines_at_or_below_latency": [b["name"] for b in peers],
                "ednas_beats_all_by_0.5pt": len(beaten) == len(peers),
                "vacuous": not peers,
                "not_beaten": [b["name"] for b in peers if b["name"] not in beaten],
                "closest_baseline": closest and closest["name"],
                "margin_pt": closest and round(100 * (m["test_acc"] - closest["test_acc"]), 3),
                "margin_se_pt": closest and margin_standard_error(m, closest),
                "tuner": tuner[0]["name"] if tuner else None,
                "tuner_test_acc": tuner[0]["test_acc"] if tuner else None,
                "tuner_host_latency_ms": tuner[0]["host_latency_ms"] if tuner else None,
                "tuner_worse": (tuner[0]["test_acc"] < m["test_acc"]) if tuner else None,
            }
        )
    return rows


def _fmt(value, spec: str) -> str:
    """`value` formatted with `spec`; a missing value as "-" at the same width."""
    width = int(spec.split(".")[0].rstrip("df") or 0)
    return "-".rjust(width) if value is None else format(value, spec)


def table(models: list[dict]) -> str:
    head = (
        f"{'name':<22}{'family':<9}{'target':>8}{'test':>8}{'sd pt':>7}{'int8':>8}{'params':>10}"
        f"{'MMACs':>9}{'host ms':>9}{'tda2x ms':>9}{'srch min':>9}{'train min':>10}"
    )
    lines = [head, "-" * len(head)]
    for m in models:
        if m.get("error"):
            lines.append(f"{m['name']:<22}{m['family']:<9}  ERROR {m['error'][:80]}")
            continue
        lines.append(
            f"{m['name']:<22}{m['family']:<9}{_fmt(m['target_ms'], '8.3f')}"
            f"{_fmt(m['test_acc'], '8.4f')}{_fmt(m.get('test_acc_std_pt'), '7.2f')}"
            f"{_fmt(m['int8_acc'], '8.4f')}"
            f"{_fmt(m['params'], '10d')}{_fmt(m['macs'] and m['macs'] / 1e6, '9.2f')}"
            f"{_fmt(m['host_latency_ms'], '9.3f')}{_fmt(m['tda2x_latency_ms'], '9.3f')}"
            f"{_fmt(m['search_minutes'], '9.1f')}{_fmt(m['train_minutes'], '10.1f')}"
        )
    return "\n".join(lines)


def plot(models: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    markers = {
        "ednas": ("*", "tab:red", 160),
        "baseline": ("o", "tab:blue", 50),
        "tuner": ("^", "tab:green", 80),
    }
    fig, axes = plt.subplots(1, 2, figsize=(14, 6))
    ok = [m for m in models if not m.get("error") and m.get("test_acc") is not None]
    for ax, key, label in (
        (axes[0], "host_latency_ms", "measured host LiteRT latency (ms)"),
        (axes[1], "tda2x_latency_ms", "predicted TDA2x latency (ms)"),
    ):
        for family, (marker, color, size) in markers.items():
            pts = [m for m in ok if m["family"] == family and m.get(key) is not None]
            if not pts:
                continue
            ax.scatter(
                [m[key] for m in pts],
                [100 * m["test_acc"] for m in pts],
                marker=marker,
                c=color,
                s=size,
                label=family,
            )
            spread_pts = [m for m in pts if m.get("test_acc_std_pt") is not None]
            if spread_pts:  # one standard deviation over training seeds
                ax.errorbar(
                    [m[key] for m in spread_pts],
                    [100 * m["test_acc"] for m in spread_pts],
                    yerr=[m["test_acc_std_pt"] for m in spread_pts],
                    fmt="none",
                    ecolor=color,
                    alpha=0.6,
                    capsize=3,
                )
            for m in pts:
                ax.annotate(
                    m["name"],
                    (m[key], 100 * m["test_acc"]),
                    fontsize=7,
                    xytext=(3, 3),
                    textcoords="offset points",
                )
        ax.set_xscale("log")
        # plain decimals at 1-2-5 steps: log-scale minor labels overlap at this width
        ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel(label)
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("Fashion-MNIST 32 px: accuracy vs latency")
    fig.tight_layout()
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".png")
    os.close(fd)
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# main


def tuner_targets(targets: list[float], where: str) -> list[float]:
    """The latency targets keras-tuner runs at: the middle one, or ("every") each."""
    if where == "every":
        return list(targets)
    return [sorted(targets)[len(targets) // 2]]


def main(argv=None) -> int:
    args = parse_args(argv)
    tf.keras.utils.set_random_seed(args.seed)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    finished = resumable_models(out, args)
    bench_start = time.time()

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

    # the searched space; targets and fixed children come from it at the reference widths
    try:  # e.g. --kernels=7, which the host profile does not run
        space, latency_model = host_space_and_table(
            splits,
            args.width,
            args.stage_width_list,
            args.kernel_list or DEFAULT_KERNELS,
            preset=args.space,
        )
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
    reference = host_space(splits, args.width, preset=args.space)
    baselines = selected_baselines(reference, args.baselines)  # before hours of training
    imported = imported_baselines(  # checked before hours of searching
        [p for p in args.baselines_from.split(",") if p], args, reference, latency_model.metadata
    )
    bounds = space_latency_bounds(reference, latency_model)
    # every row a search or the tuner can read, measured before any clock starts: the first
    # search must not be charged for the table (nor hand that time to its tuner as budget)
    latency_model.prepare(itertools.chain(*space_configs(space)))
    fractions = [float(f) for f in args.target_fractions.split(",")]
    targets = [target_from_fraction(bounds, f) for f in fractions]
    print(
        f"host latency range of the space: {bounds[0]:.4g}-{bounds[1]:.4g} ms; targets "
        + ", ".join(f"{t:.4g}" for t in targets),
        flush=True,
    )
    train_config = TrainConfig(
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        warmup_epochs=min(1, args.epochs),
        seed=args.seed,
    )
    search_config = SearchConfig(
        epochs=args.search_epochs,
        warmup_epochs=min(1, args.search_epochs),
        steps_per_epoch=args.search_steps_per_epoch,
        arch_lr=args.arch_lr,
        stop_when_committed=args.stop_when_committed,
    )
    data = (calibration, images, labels)
    bench = Bench(args, splits, reference, data, train_config, latency_model.time_network, finished)

    # E-DNAS at each target
    search_minutes: dict[float, float] = {}
    for fraction, target in zip(fractions, targets):
        kernel_tag = f"k{'+'.join(map(str, args.kernel_list))}_" if args.kernel_list else ""
        width_tag = "w_" if args.stage_width_list else ""
        objective_tag = "budget_" if args.objective == "budget" else ""
        name = f"ednas_{width_tag}{objective_tag}{kernel_tag}t{fraction:g}"

        def ednas(target=target, name=name):
            start = time.time()
            arch = search_at_target(
                space,
                splits,
                search_config,
                latency_model,
                target,
                str(out / name / "search"),
                steps=args.steps,
                seed=args.seed,
                probe_candidates=args.probe_candidates,
                # None (unset; kept so an earlier run's flags.json still matches): the default
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
            minutes = (time.time() - start) / 60
            search_minutes[target] = minutes
            figures = bench.arch_figures(arch, name)
            figures["search_minutes"] = round(minutes, 2)
            figures["predicted_host_ms"] = arch.predicted_latency_ms
            return figures

        entry = bench.run(name, "ednas", ednas, target_ms=target)
        if name in bench.reused:
            search_minutes[target] = entry["search_minutes"]  # the tuner's budget, as measured

    # keras-tuner RandomSearch at the middle target (or every one), with E-DNAS's wall-clock
    # budget there (right after the searches, so a cut-off long run still has every searched model)
    if not args.no_tuner:
        for target in tuner_targets(targets, args.tuner_at):
            name = f"tuner_random_t{fractions[targets.index(target)]:g}"
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
                result = tune(
                    space,
                    splits,
                    latency_model,
                    LatencyConstraint(budget_ms=target),
                    config,
                    out / name / "tune",
                )
                figures = bench.arch_figures(result.arch, name)
                figures["search_minutes"] = round(result.seconds / 60, 2)
                figures["tuner_trials"] = len(result.records)
                figures["tuner_budget_minutes"] = round(budget, 2)
                return figures

            bench.run(name, "tuner", tuner, target_ms=target, search_minutes=None)

    # baselines, in the order --baselines names them (the cheap ones first in a long run)
    for name, spec in baselines:
        if isinstance(spec, ArchSpec):
            bench.run(name, "baseline", lambda spec=spec, name=name: bench.arch_figures(spec, name))
        else:
            bench.run(
                name, "baseline", lambda spec=spec, name=name: bench.keras_figures(*spec, name)
            )

    trained = {m["name"] for m in bench.models}
    models = bench.models + [m for m in imported if m["name"] not in trained]
    print(table(models), flush=True)
    verdicts = verdict(models)
    for v in verdicts:
        peers = len(v["baselines_at_or_below_latency"])
        print(
            f"target {v['target_ms']:.4g} ms: E-DNAS beats all {peers}"
            f" baselines at <= its latency by 0.5 pt: {v['ednas_beats_all_by_0.5pt']}"
            f" (not beaten: {v['not_beaten']}; margin over the closest, {v['closest_baseline']}:"
            f" {v['margin_pt']} pt, standard error {v['margin_se_pt']}); tuner worse:"
            f" {v['tuner_worse']}",
            flush=True,
        )
    try:
        plot(models, RESULTS_DIR / f"{args.results_name}.png")
    except Exception as err:  # noqa: BLE001
        print(f"plot failed: {err}", flush=True)
    derived_args = ("seed_list", "stage_width_list", "kernel_list")
    config = {k: v for k, v in vars(args).items() if k not in derived_args}
    config.update(
        space_bounds_ms=list(bounds),
        host_timing={
            key: latency_model.metadata.get(key)
            for key in (*HOST_TIMING_KEYS, "speed_reference_ms")
        },
        targets_ms=targets,
        space=args.space,
        device_for_search="host",
        splits=splits.sizes,
        train_config=dataclasses.asdict(train_config),
        search_config=dataclasses.asdict(search_config),
        total_minutes=round((time.time() - bench_start) / 60, 2),  # this process
        reused_models=bench.reused,
        model_wall_minutes=round(sum(m.get("wall_minutes") or 0 for m in models), 2),
    )
    command = " ".join([".venv/bin/python", "bench/pareto.py", *(argv or sys.argv[1:])])
    figures = {"models": models, "config": config, "command": command, "verdict": verdicts}
    emit(args.results_name, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
