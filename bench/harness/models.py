"""Train, measure and record one model of a Pareto run: every model the same way, under every
seed, its failure recorded rather than stopping hours of others, its figures saved at once.
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import tensorflow as tf

from bench.common import spread
from bench.harness.measure import child_static_figures, int8_accuracy, keras_static_figures
from bench.harness.recipe import train_keras
from bench.harness.record import write_partial
from deploy.merge import merge_model
from ednas_tf.arch import ArchSpec
from ednas_tf.baselines.keras_apps import keras_app
from ednas_tf.data import DataSplits
from ednas_tf.model import build
from ednas_tf.profiles import get_profile
from ednas_tf.space import SearchSpace
from ednas_tf.training import TrainConfig, train_child

# The figures every model's entry holds (None where they do not apply or it failed).
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


class Bench:
    """Trains, measures and records the models. `timer(keras_model) -> ms` times a whole float
    network exactly as the host table's rows were timed (`MeasuredTable.time_network`: its
    repeats, rounds and speed yardstick), so measured and predicted latencies and the targets
    share one scale even when the shared machine runs slower for a while; None (--device=tda2x)
    times nothing, every model then being placed by its predicted TDA2x latency. `data` is
    (calibration images, test images, test labels); `finished` the models --resume reuses."""

    def __init__(
        self,
        args: SimpleNamespace,
        splits: DataSplits | None,
        space: SearchSpace | None,
        data: tuple | None,
        train_config: TrainConfig | None,
        timer: Callable[[tf.keras.Model], float] | None,
        finished: dict[str, dict] | None = None,
    ):
        self.args, self.splits, self.space, self.data = args, splits, space, data
        self.train_config = train_config
        self.timer = timer
        self.tda2x = get_profile("tda2x").latency()  # the profile's model, whichever it is
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
        write_partial(self.out, self.models + pending)
        if entry.get("error"):
            print(f"[{len(self.models)}] {entry['name']}: FAILED {entry['error']}", flush=True)
            return
        host = entry["host_latency_ms"]
        print(
            f"[{len(self.models)}] {entry['name']} ({entry['family']}): test "
            f"{entry['test_acc']:.4f} int8 {entry['int8_acc']:.4f}, host "
            f"{'-' if host is None else f'{host:.3f}'} ms, tda2x "
            f"{entry['tda2x_latency_ms']:.3f} ms, "
            f"{entry['params']} params, train {entry['train_minutes']:.1f} min",
            flush=True,
        )

    def _reusable(self, name: str, target_ms: float | None) -> dict | None:
        """The resumed run's entry of `name`, unless it was searched at another target."""
        earlier = self.finished.get(name)
        if earlier and target_ms is not None and not np.isclose(earlier["target_ms"], target_ms):
            print(  # a guard: the target follows from flags --resume has already compared
                f"--> {name}: the resumed run searched it at {earlier['target_ms']:.4g} ms, "
                f"not {target_ms:.4g} ms: it runs again",
                flush=True,
            )
            del self.finished[name]
        return self.finished.get(name)

    def run(
        self,
        name: str,
        family: str,
        fn: Callable[[], dict],
        target_ms: float | None = None,
        search_minutes: float | None = None,
    ) -> dict:
        """`fn()`'s figures as one model's entry (its error, if it fails); a model the resumed
        run finished is reused as it was."""
        earlier = self._reusable(name, target_ms)
        if earlier is not None:
            print(f"--> {name} ({family}): finished by the resumed run, reused", flush=True)
            self.reused.append(name)
            self.record(earlier)
            return earlier
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
        """Deploy-side figures of a trained float Keras model (merged when it is our child);
        its host latency only when a timer is set."""
        calibration, images, labels = self.data
        path = self.out / name / "int8.tflite"
        return {
            "int8_acc": int8_accuracy(model, calibration, images, labels, path),
            "host_latency_ms": self.timer(model) if self.timer else None,
        }

    def seeded_runs(self, name: str, train_one: Callable) -> tuple[object, dict]:
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
        """Our child trained under every seed; the first seed's weights measured (merged)."""

        def train_one(config, run_dir):
            return run_dir, train_child(arch, self.splits, config, run_dir, verbose=0)

        first_dir, accuracy = self.seeded_runs(name, train_one)
        model = build(arch)  # only the first seed's weights are measured
        model.load_weights(str(first_dir / "child.weights.h5"))
        merged = merge_model(model)
        figures = self.measure(merged, name)
        figures.update(accuracy, **child_static_figures(arch, model, merged, self.tda2x))
        return figures

    def keras_figures(self, kind: str, alpha: float, size: int, name: str) -> dict:
        """A keras.applications baseline trained under every seed; the first one measured."""

        def train_one(config, run_dir):
            tf.keras.utils.set_random_seed(config.seed)
            model = keras_app(kind, alpha, size, self.splits.input_shape, self.splits.num_classes)
            return model, train_keras(model, self.splits, config, run_dir)

        model, accuracy = self.seeded_runs(name, train_one)
        figures = self.measure(model, name)
        figures.update(accuracy, **keras_static_figures(model, self.tda2x))
        return figures
