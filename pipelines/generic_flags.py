"""The generic flags every `ednas-*` command accepts, with one meaning: defined here only.

* `--progress` / `--noprogress`: progress bars (the search's and the LUT's tqdm bars, Keras's
  bar in training, QAT and the tuner's trials). Off, training, QAT and tuner trials print a line
  per epoch instead: what a log file wants.
* `--verbose=0|1|2`: Keras's verbosity, for every stage: 0 silent, 1 progress bars, 2 a line per
  epoch where the stage trains with Keras and no bars anywhere. So a bar needs --progress and
  --verbose=1, and `--noprogress` turns 1 into 2.
* `--debug`: an unexpected failure's traceback on the terminal instead of a log file.
* `--flagfile=FILE`: flags read from a file, one per line: absl's own, which its parser handles
  before any flag is defined, so every command has it (`--helpfull` lists it).

Stages that draw no bar and train nothing (export, report, summary) accept them and print the
same either way, so one flag set (a shared flag file) serves every command.
"""

from __future__ import annotations

from absl import flags

FLAGS = flags.FLAGS
NAMES = ("progress", "verbose", "debug")  # and absl's --flagfile

flags.DEFINE_bool(
    "progress",
    True,
    "Progress bars: the search's and the LUT's, Keras's in training, QAT and tuner trials. "
    "--noprogress: none; training, QAT and tuner trials print a line per epoch instead "
    "(--verbose=1 acts as --verbose=2).",
)
flags.DEFINE_integer(
    "verbose",
    1,
    "Output while a stage runs: 0 silent, 1 progress bars (with --progress), 2 a line per epoch "
    "where the stage trains with Keras (train, QAT, tuner trials) and no bars. Export, report "
    "and summary print the same at any level.",
    lower_bound=0,
    upper_bound=2,
)
flags.DEFINE_bool(
    "debug",
    False,
    "Let an unexpected failure's traceback through (else it goes to a log file, named in the "
    "one-line error).",
)


def show_bars() -> bool:
    """Whether a stage draws progress bars: --progress and --verbose=1."""
    return FLAGS.progress and FLAGS.verbose == 1


def keras_verbose() -> int:
    """Keras's `verbose` for the flags: --verbose, with 1 (a bar) turned into 2 (a line per
    epoch) under --noprogress."""
    if FLAGS.verbose == 1 and not FLAGS.progress:
        return 2
    return FLAGS.verbose


def key_flags() -> list[flags.Flag]:
    """The generic flags, for a command's `--help`."""
    return [FLAGS[name] for name in NAMES]
