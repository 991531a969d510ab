"""Bazel py_test entry point: run pytest on the one test module named in the target's `args`.

Why: Bazel runs a py_test's `main` as a plain script, but the project's tests are pytest modules
that need tests/conftest.py and the pytest settings of pyproject.toml. This runner collects the
module from the runfiles tree, keeps every write inside the test's own temporary directory (the
sandbox mounts the source tree read-only), hands Bazel a JUnit XML report, maps
`bazel test --test_filter=EXPR` to `pytest -k EXPR` and, for a target with `shard_count`, runs
its shard's share of the tests (`Shard`). Outside Bazel it runs from the checkout:
`.venv/bin/python tools/bazel_pytest.py tests/test_arch.py`.
"""

import os
import sys
from pathlib import Path


def _workspace_root() -> Path:
    """The runfiles copy of the workspace under Bazel, else the checkout this file lives in."""
    runfiles, workspace = os.environ.get("RUNFILES_DIR"), os.environ.get("TEST_WORKSPACE")
    if runfiles and workspace and (Path(runfiles) / workspace).is_dir():
        return Path(runfiles) / workspace
    return Path(os.path.abspath(__file__)).parents[1]


class Shard:
    """Bazel's test sharding as a pytest plugin: shard `index` of `total` runs every `total`-th
    collected test from the `index`-th (collection order, so neighbours, often alike in cost,
    land in different shards), and says it shards by touching Bazel's status file."""

    def __init__(self, index: int, total: int, status_file: str | None):
        self.index, self.total, self.collected = index, total, 0
        if status_file:
            Path(status_file).touch()

    @classmethod
    def from_environ(cls) -> "Shard | None":
        total = int(os.environ.get("TEST_TOTAL_SHARDS") or 1)
        if total <= 1:
            return None
        index = int(os.environ["TEST_SHARD_INDEX"])
        return cls(index, total, os.environ.get("TEST_SHARD_STATUS_FILE"))

    def pytest_collection_modifyitems(self, config, items) -> None:
        self.collected = len(items)
        mine = [item for n, item in enumerate(items) if n % self.total == self.index]
        others = [item for n, item in enumerate(items) if n % self.total != self.index]
        if others:
            config.hook.pytest_deselected(items=others)
        items[:] = mine


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: bazel_pytest.py tests/test_<name>.py", file=sys.stderr)
        return 2
    root = _workspace_root()
    test_file = root / argv[0]
    tmp = Path(os.environ.get("TEST_TMPDIR") or os.environ.get("TMPDIR") or "/tmp")
    home = tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    # Bazel runs tests without HOME; TensorFlow/Keras/matplotlib write caches under it.
    if not os.environ.get("HOME") or not os.access(os.environ["HOME"], os.W_OK):
        os.environ["HOME"] = str(home)
    os.environ.setdefault("MPLCONFIGDIR", str(home / ".matplotlib"))
    # No __pycache__ next to sources: they are symlinks into the (read-only) source tree.
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    sys.dont_write_bytecode = True
    sys.path.insert(0, str(root))
    os.chdir(root)

    import pytest

    args = [
        str(test_file),
        f"--rootdir={root}",
        f"--config-file={root / 'pyproject.toml'}",
        f"--basetemp={tmp / 'pytest'}",
        "-p",
        "no:cacheprovider",
    ]
    if os.environ.get("XML_OUTPUT_FILE"):
        args.append(f"--junitxml={os.environ['XML_OUTPUT_FILE']}")
    if os.environ.get("TESTBRIDGE_TEST_ONLY"):
        args += ["-k", os.environ["TESTBRIDGE_TEST_ONLY"]]
    shard = Shard.from_environ()
    code = pytest.main(args, plugins=[shard] if shard else [])
    # pytest's 5 ("no tests collected") must fail the target, as in `make test`; a shard left
    # with none of the target's tests has nothing to fail.
    if code == pytest.ExitCode.NO_TESTS_COLLECTED:
        return 0 if shard and shard.collected else 1
    return int(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
