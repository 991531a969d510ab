"""Every `ednas-*` console script accepts the generic flags (`pipelines.generic_flags`): --progress
/ --noprogress, --verbose, --debug and --flagfile, with one meaning.

Each script's module is imported in a fresh interpreter (absl's flags are global) and its command
line parsed as the console script parses it (`pipelines.stage.parse_flags`), without running the
stage: an unknown flag is the `error: Unknown command line flag` line and exit 2.
"""

from __future__ import annotations

import json
import tomllib

import pytest

from tests.cli import ROOT, run_cli

SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
PARSE_ONLY = """
import importlib, json, sys
module = importlib.import_module(sys.argv[1])
from absl import flags
from pipelines import generic_flags
from pipelines.stage import parse_flags
parse_flags([module.__file__, *sys.argv[2:]])
FLAGS = flags.FLAGS
print(json.dumps({
    "progress": FLAGS.progress, "verbose": FLAGS.verbose, "debug": FLAGS.debug,
    "keras_verbose": generic_flags.keras_verbose(), "show_bars": generic_flags.show_bars(),
}))
"""


def _parse(module: str, args: list[str]):
    return run_cli(["-c", PARSE_ONLY, module, *args], timeout=120)


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_every_script_accepts_the_generic_flags(script, tmp_path):
    flagfile = tmp_path / "generic.cfg"
    flagfile.write_text("--noprogress\n--verbose=1\n")
    module = SCRIPTS[script].split(":")[0]
    # --run_dir: required by the stages after the search (--undefok: the others lack it)
    required = ["--undefok=run_dir", f"--run_dir={tmp_path}"]
    result = _parse(module, [f"--flagfile={flagfile}", "--debug", *required])
    assert "Unknown command line flag" not in result.stderr, result.stderr[-2000:]
    assert result.returncode == 0, result.stderr[-2000:]
    values = json.loads(result.stdout.strip().splitlines()[-1])
    # --noprogress turns Keras's bar (verbose 1) into a line per epoch, and hides every bar
    assert values == {
        "progress": False,
        "verbose": 1,
        "debug": True,
        "keras_verbose": 2,
        "show_bars": False,
    }


def test_an_unknown_flag_is_refused():
    result = _parse("pipelines.summary", ["--nosuchflag"])
    assert result.returncode == 2 and "Unknown command line flag" in result.stderr


def test_help_lists_the_generic_flags():
    result = run_cli(["pipelines/summary.py", "--help"], timeout=120)
    for flag in ("--[no]progress", "--verbose", "--[no]debug"):
        assert flag in result.stdout, result.stdout[-2000:]

