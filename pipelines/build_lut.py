"""Latency lookup tables: measure one on this machine, export probes for a board, import its times.

Examples:
  # measure every configuration of the space here (re-runs only measure what the file lacks)
  ednas-build-lut --space=small --image_size=32 --channels=3 --device=host

  # board workflow (LiteRT/ONNX runtimes): export probes, time them on the board, fill
  # manifest.csv's ms column, import
  ednas-build-lut --space=small --image_size=32 --export_probes=probes/
  ednas-build-lut --space=small --image_size=32 \\
      --import_measurements=probes/manifest.csv --output=luts/board.json

  # TDA2x (TIDL): frozen-graph probes, TI's tools on the board (tools/tidl_board_loop.sh),
  # cycles imported at the core's clock (docs/TIDL.md, "Board loop")
  ednas-build-lut --space=small --image_size=32 --device=tda2x --export_probes=probes/ \\
      --format=tidl
  TIDL_IMPORT_TOOL=... TIDL_TEST_APP=... tools/tidl_board_loop.sh probes/
  ednas-build-lut --space=small --image_size=32 --device=tda2x \\
      --import_measurements=probes/tidl_cycles.txt --clock_mhz=650 --output=luts/tda2x.json
  ednas-search --device=lut:luts/tda2x.json ...
"""

from __future__ import annotations

import sys
from pathlib import Path

from absl import flags

from deploy.probes import export_tidl_probes
from ednas_tf.measure import tables as lut
from ednas_tf.measure import tidl_cycles
from ednas_tf.presets import PRESET_STAGES, preset_space
from ednas_tf.profiles import LUT_PREFIX, get_profile
from pipelines.common_flags import (
    activation,
    define_activation_flag,
    define_stage_widths_flag,
    stage_widths,
)
from pipelines.generic_flags import show_bars
from pipelines.stage import console_script, stage_main

FLAGS = flags.FLAGS
flags.DEFINE_enum(
    "space", "small", sorted(PRESET_STAGES), "Search-space preset whose configurations to cover."
)
flags.DEFINE_integer("image_size", 32, "Input images are IMAGE_SIZE x IMAGE_SIZE.")
flags.DEFINE_integer("channels", 3, "Input channels (1 for grey images).")
flags.DEFINE_integer("num_classes", 10, "Classes of the classifier layer.")
flags.DEFINE_float("width", 1.0, "Channel width multiplier of the space.")
define_stage_widths_flag()
flags.DEFINE_string(
    "device",
    "host",
    "Registered device profile whose rules restrict the space (tda2x, host); it is also recorded "
    "as the table's base_profile, so --device=lut:<output> later uses the same rules.",
)
flags.DEFINE_string(
    "output",
    None,
    "LUT JSON to write. Measuring: default is the host cache "
    ".cache/lut/host_<cpu>_t<threads>.json (or $EDNAS_LUT_CACHE); an existing file is reused and "
    "only missing rows are measured. Required with --import_measurements.",
)
flags.DEFINE_integer("threads", 1, "LiteRT threads used when timing probes.")
flags.DEFINE_integer("repeats", 200, "Timed invokes per probe (see --rounds).")
flags.DEFINE_integer("warmup", 20, "Untimed invokes before timing each probe.")
flags.DEFINE_integer(
    "rounds",
    10,
    "The repeats run in this many rounds a short pause apart; the lowest round median is "
    "recorded (1: plain median of repeats). Dodges slow episodes of shared machines.",
)
flags.DEFINE_bool(
    "speed_normalized",
    True,
    "Time every probe against a fixed reference model in the same rounds and record latency at "
    "the speed the machine had when the table started (shared machines drift for minutes).",
)
flags.DEFINE_string(
    "export_probes",
    None,
    "Instead of measuring: write every probe for a board into DIR (see --format) with a "
    "DIR/manifest.csv whose ms (or cycles) column is filled on the board.",
)
flags.DEFINE_enum(
    "format",
    "tflite",
    ["tflite", "tidl", "all"],
    "Probe files of --export_probes. tflite: DIR/<key>.tflite and .onnx, manifest "
    "key,kind,tflite,onnx,ms. tidl: for TDA2x, DIR/<key>/model.pb (the deployed model's frozen-"
    "graph export, checked against TIDL's rules), tidl_import.txt and sample_in.raw, manifest "
    "key,kind,pb,import_config,tidl_check,ms,cycles; run tools/tidl_board_loop.sh on it. all: "
    "both, the tidl probes in DIR/tidl.",
)
define_activation_flag("Activation of the probes (the space's)")
flags.DEFINE_integer("tidl_frames", 3, "Calibration frames per TIDL probe (sample_in.raw).")
flags.DEFINE_string(
    "import_measurements",
    None,
    "Instead of measuring: read the board's results and write the LUT to --output: the cycles "
    "file of tools/tidl_board_loop.sh (cycles -> ms at --clock_mhz), a manifest with its ms or "
    "cycles column filled, or any key,ms CSV; refuses one lacking keys of the space.",
)
flags.DEFINE_float(
    "clock_mhz",
    tidl_cycles.EVE_CLOCK_MHZ,
    "Clock of the core that ran the probes, to turn imported cycles into ms: 650 for TDA2x's "
    "EVE, 750 for its C66x DSP (docs/TIDL.md).",
)
flags.DEFINE_string("measured_on", "board", "Device name recorded in an imported table's metadata.")


def _export(space, count: int) -> int:
    """--export_probes in the --format asked for; 1 when a TIDL probe fails the TIDL check."""
    directory = Path(FLAGS.export_probes)
    if FLAGS.format in ("tflite", "all"):
        manifest = lut.export_probes(space, directory, progress=show_bars())
        print(
            f"wrote {count + 1} probes (.tflite and .onnx) and {manifest}; time each .tflite on "
            f"the board, fill the ms column, then run --import_measurements={manifest} "
            "--output=<lut.json>"
        )
    if FLAGS.format == "tflite":
        return 0
    tidl_dir = directory / "tidl" if FLAGS.format == "all" else directory
    result = export_tidl_probes(
        space, tidl_dir, device=FLAGS.device, frames=FLAGS.tidl_frames, progress=show_bars()
    )
    print(
        f"wrote {len(result.keys)} TIDL probes (frozen .pb, tidl_import.txt, sample_in.raw) and "
        f"{result.manifest}; on the board: tools/tidl_board_loop.sh {tidl_dir}, then "
        f"--import_measurements={tidl_dir / 'tidl_cycles.txt'} --clock_mhz=<650 EVE, 750 DSP> "
        "--output=<lut.json>"
    )
    for key, layers in result.failed.items():
        print(f"error: probe {key} fails the TIDL check: {'; '.join(layers)}", file=sys.stderr)
    return 1 if result.failed else 0


def _run() -> int:
    if FLAGS.export_probes and FLAGS.import_measurements:
        raise ValueError("give --export_probes or --import_measurements, not both")
    if FLAGS.device.startswith(LUT_PREFIX):
        raise ValueError("--device must be a registered profile (tda2x, host), not a table")
    for name in ("image_size", "channels", "num_classes", "threads", "repeats"):
        if getattr(FLAGS, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(FLAGS, name)}")
    if FLAGS.warmup < 0:
        raise ValueError(f"--warmup must be >= 0, got {FLAGS.warmup}")
    if not 1 <= FLAGS.rounds <= FLAGS.repeats:
        raise ValueError(f"--rounds must be in [1, --repeats], got {FLAGS.rounds}")
    if FLAGS.clock_mhz <= 0 or FLAGS.tidl_frames < 1:
        raise ValueError("--clock_mhz must be > 0 and --tidl_frames >= 1")
    profile = get_profile(FLAGS.device)
    space = preset_space(
        FLAGS.space,
        input_shape=(FLAGS.image_size, FLAGS.image_size, FLAGS.channels),
        num_classes=FLAGS.num_classes,
        profile=profile,
        width=FLAGS.width,
        stage_widths=stage_widths(),
        activation=activation(profile),
    )
    convs, blocks = lut.space_configs(space)
    count = len(convs) + len(blocks)
    if FLAGS.export_probes:
        return _export(space, count)
    if FLAGS.import_measurements:
        if not FLAGS.output:
            raise ValueError("--import_measurements needs --output (the LUT JSON to write)")
        table = tidl_cycles.import_board_file(
            FLAGS.import_measurements, space, clock_mhz=FLAGS.clock_mhz, device=FLAGS.measured_on
        )
        table.save(FLAGS.output)
        print(
            f"wrote {FLAGS.output}: {len(table.rows)} rows; search with "
            f"--device={LUT_PREFIX}{FLAGS.output}"
        )
        return 0
    settings = lut.MeasureSettings(
        FLAGS.repeats, FLAGS.warmup, FLAGS.threads, FLAGS.rounds, FLAGS.speed_normalized
    )
    # the shared host cache serves every space the host accepts; a named file keeps --device's rules
    output = FLAGS.output or lut.host_cache_path(FLAGS.threads)
    table = lut.build_lut(
        space,
        output,
        settings,
        device=f"host ({lut.cpu_id()})",
        base_profile=space.profile.name if FLAGS.output else "host",
        progress=show_bars(),
    )
    use = f"{LUT_PREFIX}{output}" if FLAGS.output else "host"
    print(
        f"{output}: {count} configurations of the space covered ({len(table.rows)} rows, "
        f"invoke overhead {table.invoke_overhead_ms:.4f} ms); search with --device={use}"
    )
    return 0


main = stage_main(_run, "build_lut")
run = console_script(main)


if __name__ == "__main__":
    run()
