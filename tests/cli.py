"""Running the project's entry points as a user would: a subprocess of this interpreter.

`pipelines/search.py` is run as the module `pipelines.search` from the checkout's root, so the
code under test is this checkout's (not whatever the editable install points at).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench.faults.scratch import TINY  # noqa: F401  (the smallest search, shared with the tests)

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


def free_ports(count: int) -> list[int]:
    """`count` distinct localhost ports free right now (held open together while chosen)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("localhost", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def run_workers(
    args: list[str], count: int = 2, timeout: float = 900
) -> list[subprocess.CompletedProcess]:
    """Run an entry point as `count` workers of one multi-worker cluster on localhost (each with
    its TF_CONFIG; worker 0 is the chief); every one is killed if any outlives `timeout`."""
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(count)]}
    procs = []
    for index in range(count):
        config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_CONFIG=json.dumps(config))
        procs.append(
            subprocess.Popen(
                [sys.executable, *module_args(args)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    deadline = time.monotonic() + timeout
    results = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    return results
