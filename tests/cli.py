"""Running the project's entry points as a user would: a subprocess of this interpreter.

`pipelines/search.py` is run as the module `pipelines.search` from the checkout's root, so the
code under test is this checkout's (not whatever the editable install points at).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_args(args: list[str]) -> list[str]:
    """["pipelines/search.py", ...] -> ["-m", "pipelines.search", ...]; other args unchanged."""
    first, rest = str(args[0]), list(args[1:])
    if first.endswith(".py") and first.split("/")[0] in ("pipelines", "bench"):
        return ["-m", first[: -len(".py")].replace("/", "."), *rest]
    return [first, *rest]


def run_cli(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    """Run an entry point (or `-c CODE`) in a fresh interpreter at the checkout's root."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, *module_args(args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
