"""Accuracy vs latency on Fashion-MNIST (32 px): E-DNAS children against fixed baselines and a
keras-tuner random search, all trained with the same recipe (issue 5, part 2).

  python bench/pareto.py                  # three targets (0.2, 0.5, 0.8 of the host range)
  python bench/pareto.py --quick          # smoke run (< 20 min on an idle 2-core machine)
  python bench/pareto.py --device=tda2x   # the same on predicted TDA2x latency (kernels 3,5,7)

Models:
  ednas        run_search (target objective, or with --objective=budget the at-most-target one;
               host latency table, or the tda2x profile's model) at each target, then
               train_child
  baseline     keras.applications MobileNetV2 (alpha 0.35/0.5/1.0), MobileNetV1 (alpha 0.25/0.5)
               and MobileNetV3Small (minimalistic) at 32 px, 96 px and --image_size (grey image
               repeated to 3 channels, resized); MobileNetV2's CIFAR layout as a child of our
               space (k3, e6 with MobileNetV2's e1 first block, stem and first strided stage at
               stride 1) at width 0.35/0.5/1.0; the space's blocks at each kernel size the
               device allows (all_3x3, all_5x5; all_7x7 on tda2x)
  tuner        ednas_tf.baselines.tuner RandomSearch with the wall-clock budget of the E-DNAS
               search at the middle target (--tuner_at=every: at each target) and that target
               as latency budget, best child trained as above
Per model: float test accuracy, post-training int8 TFLite accuracy (200 calibration images) on the
same test images, params, MACs, measured host LiteRT latency (float; timed as the host table's
rows were — threads, repeats, rounds, speed yardstick — so it compares with the targets),
predicted TDA2x latency of its Keras graph (the tda2x profile's model), search and training
minutes; per searched child its kernel share and each block's cost at every kernel size.

--device=tda2x: the searches and the tuner use the tda2x profile (targets are fractions of its
latency range), nothing is timed on the host, and the verdict and plot place every model by its
predicted TDA2x latency.

Writes bench/results/pareto_fmnist.json (+ .png; another name with --results_name); a model that
fails is recorded with its error and the others go on.

A full run takes hours: --resume continues one that was cut off, reusing every model its
<output_dir>/partial.json records as finished when the flags it depends on are the same
(`TRAINING_FLAGS` for every model, `SEARCH_FLAGS` too for the searched ones, so a changed search
setting re-runs only the searches and the tuner); a failed model is run again.

With --seeds=0,1,2 every model (the searched children included; the search itself runs once) is
trained under each seed: test_acc is then the mean, test_acc_runs the single runs, and the verdict
gives the margin over the closest baseline with its standard error, since one run of this recipe
moves by about 1 pt from seed to seed (bench/seed_spread.py).

Flags may come from a file: --flagfile=<file>, one --flag=value a line. The library lies in
ednas_tf/baselines/ (the baseline networks, the tuner) and bench/harness/ (training, measuring,
the resume record, the verdict, the plot); this file only parses the flags and writes the files.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from types import SimpleNamespace

from bench import cli
from bench.common import RESULTS_DIR, emit
from bench.harness.pareto_flags import define_flags, finish
from bench.harness.pareto_run import run_pareto
from bench.harness.plot import plot

FV = cli.new_flags()
define_flags(FV)


def parse_args(argv: Sequence[str] | None = None) -> SimpleNamespace:
    """The flags (`argv` without the program; None: sys.argv), checked and completed with the
    quick or full defaults; a bad one is one `error:` line."""
    return finish(FV, cli.parse_flags(FV, argv, __doc__, "bench/pareto.py"))


def main(argv: Sequence[str] | None = None) -> int:
    """Flags → run → bench/results/<results_name>.json and .png."""
    args = parse_args(argv)
    command = " ".join([".venv/bin/python", "bench/pareto.py", *(argv or sys.argv[1:])])
    figures = run_pareto(args, command)
    try:
        title = f"{args.dataset} {args.image_size} px, --device={args.device}"
        plot(figures["models"], RESULTS_DIR / f"{args.results_name}.png", title)
    except Exception as err:  # noqa: BLE001 - the figures matter more than their plot
        print(f"plot failed: {err}", flush=True)
    emit(args.results_name, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
