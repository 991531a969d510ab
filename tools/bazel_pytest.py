"""Bazel py_test entry point: run pytest on the one test module named in the target's `args`.

Why: Bazel runs a py_test's `main` as a plain script, but the project's tests are pytest modules
that need tests/conftest.py and the pytest settings of pyproject.toml. This runner collects the
module from the runfiles tree, keeps every write inside the test's own temporary directory (the
sandbox mounts the source tree read-only), hands Bazel a JUnit XML report and maps
`bazel test --test_filter=EXPR` to `pytest -k EXPR`. Outside Bazel it runs from the checkout:
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
    code = pytest.main(args)
    # pytest's 5 ("no tests collected") must fail the target, as in `make test`.
    return 1 if code == pytest.ExitCode.NO_TESTS_COLLECTED else int(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
