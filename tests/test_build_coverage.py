"""BUILD stays true: every Python file is in a Bazel target and every test module has a py_test.

Why: `bazel test //...` must run the same suite as `make test`, also after the code grows. BUILD
is Starlark, a Python subset, so this check evaluates it with Python (glob() implemented as Bazel
does it, over the files on disk) and compares its targets with the files. Pure Python and fast,
so it runs in `make test` without Bazel installed.
"""

import fnmatch
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BAZEL_FILES = ["BUILD", "WORKSPACE", ".bazelrc", ".bazelignore", "tools/venv_python.bzl"]
RULES = ["py_library", "py_binary", "py_test", "filegroup", "sh_binary", "sh_test", "test_suite"]
# The builtins a BUILD file may use (Starlark's); anything else fails here as it would in Bazel.
STARLARK_BUILTINS = {
    f.__name__: f
    for f in (all, any, bool, dict, enumerate, getattr, hasattr, int, len, list, max, min)
    + (print, range, reversed, sorted, str, tuple, type, zip)
}


def _ignored(root: Path) -> set[str]:
    path = root / ".bazelignore"
    lines = path.read_text().splitlines() if path.exists() else []
    return {line.strip().strip("/") for line in lines if line.strip() and not line.startswith("#")}


def workspace_files(root: Path) -> tuple[list[str], list[str]]:
    """Files of the root package as Bazel sees them, and the paths of other BUILD files.

    Bazel skips .bazelignore'd folders and its own `bazel-*` links, and a folder with its own
    BUILD file is another package, out of reach of the root package's glob().
    """
    ignored, files, packages = _ignored(root), [], []
    for folder, dirs, names in os.walk(root):
        rel = Path(folder).relative_to(root).as_posix()
        prefix = "" if rel == "." else rel + "/"
        if prefix and ({"BUILD", "BUILD.bazel"} & set(names)):
            packages.append(prefix + ("BUILD" if "BUILD" in names else "BUILD.bazel"))
            dirs[:] = []
            continue
        dirs[:] = sorted(
            d
            for d in dirs
            if prefix + d not in ignored
            and d != "__pycache__"
            and not (d.startswith("bazel-") and (Path(folder) / d).is_symlink())
        )
        files += [prefix + n for n in names if not n.endswith(".pyc")]
    return sorted(files), packages


def _match(pattern: list[str], parts: list[str]) -> bool:
    """Bazel glob matching: `**` is any number of folders, `*` stays within one name."""
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_match(pattern[1:], parts[i:]) for i in range(len(parts) + 1))
    if not parts or not fnmatch.fnmatchcase(parts[0], pattern[0]):
        return False
    return _match(pattern[1:], parts[1:])


def evaluate_build(text: str, files: list[str]) -> dict[str, dict]:
    """Run a BUILD file as Python; returns {target name: attributes plus "kind"}."""
    targets: dict[str, dict] = {}

    def glob(include, exclude=(), **_):
        def hit(patterns, f):
            return any(_match(p.split("/"), f.split("/")) for p in patterns)

        return sorted(f for f in files if hit(include, f) and not hit(exclude, f))

    def rule(kind):
        def declare(name, **attrs):
            if name in targets:
                raise ValueError(f"BUILD declares target {name!r} twice")
            targets[name] = {"kind": kind, **attrs}

        return declare

    def fail(msg):
        raise ValueError(msg)

    env = {"__builtins__": STARLARK_BUILTINS, "glob": glob, "fail": fail}
    env.update({kind: rule(kind) for kind in RULES})
    env.update({name: lambda *a, **k: None for name in ("package", "exports_files", "load")})
    exec(compile(text, "BUILD", "exec"), env)
    return targets


def coverage_problems(root: Path, build_text: str) -> list[str]:
    """What the BUILD text misses or gets wrong for the tree at `root`; empty when it is true."""
    files, packages = workspace_files(root)
    problems = [f"{p}: only the top-level BUILD is evaluated by this check" for p in packages]
    targets = evaluate_build(build_text, files)
    py_targets = {n: t for n, t in targets.items() if t["kind"].startswith("py_")}
    covered = {src for t in py_targets.values() for src in t.get("srcs", [])}
    missing = [f for f in files if f.endswith(".py") and f not in covered]
    problems += [f"{f}: in no py_* target's srcs" for f in missing]
    for name, target in targets.items():
        for src in [*target.get("srcs", []), *target.get("data", [])]:
            if not src.startswith((":", "//", "@")) and src not in files:
                problems.append(f"//:{name}: lists {src}, which does not exist")
    for test in (f for f in files if fnmatch.fnmatchcase(f, "tests/test_*.py")):
        target = py_targets.get(Path(test).stem, {})
        runs_it = test == target.get("main") or test in target.get("args", [])
        if target.get("kind") != "py_test" or test not in target.get("srcs", []) or not runs_it:
            problems.append(f"{test}: no py_test //:{Path(test).stem} that runs it")
            continue
        for module in _test_imports(root / test):  # what Bazel's runfiles hold, and no more
            if f"tests/{module}.py" not in target.get("srcs", []):
                problems.append(f"{test}: imports tests.{module}, not in //:{Path(test).stem}")
    binaries = {t.get("main"): n for n, t in py_targets.items() if t["kind"] == "py_binary"}
    for script in (f for f in files if fnmatch.fnmatchcase(f, "pipelines/*.py")):
        if _is_entry_point(root / script) and script not in binaries:
            problems.append(f"{script}: no py_binary with main = {script!r}")
    for main, name in binaries.items():
        if main in files and not _is_entry_point(root / main):
            problems.append(f"//:{name}: {main} has no __main__ block (exclude it in BUILD)")
    return problems


def _test_imports(path: Path) -> list[str]:
    """The modules of tests/ a test module imports (`from tests.cli import ...`)."""
    pattern = re.compile(r"^\s*(?:from|import)\s+tests\.(\w+)", re.MULTILINE)
    return sorted(set(pattern.findall(path.read_text())))


def _is_entry_point(path: Path) -> bool:
    """A script, as opposed to a helper module: it has an `if __name__ == "__main__":` block."""
    return any(
        line.replace("'", '"').replace(" ", "") == 'if__name__=="__main__":'
        for line in path.read_text().splitlines()
    )


def test_build_covers_every_python_file_and_test_module():
    problems = coverage_problems(ROOT, (ROOT / "BUILD").read_text())
    assert not problems, "BUILD is out of date:\n" + "\n".join(problems)


def test_bazel_files_hold_no_paths_of_this_machine():
    for name in BAZEL_FILES:
        text = (ROOT / name).read_text()
        assert str(ROOT) not in text and "/tmp/" not in text, name


def test_bazelignore_hides_folders_with_build_like_files():
    assert {".venv", ".cache", "runs"} <= _ignored(ROOT)


# A small tree and BUILD texts that miss something: the check must fail on each of them.
MAIN = 'if __name__ == "__main__":\n    pass\n'
FAKE_TREE = {
    "ednas_tf/__init__.py": "",
    "ednas_tf/layers/blocks.py": "",
    "deploy/merge.py": "",
    "bench/__init__.py": "",
    "bench/common.py": "",
    "pipelines/__init__.py": "",
    "pipelines/search.py": MAIN,
    "tests/cli.py": "",
    "tests/conftest.py": "",
    "tests/fake_tfds.py": "",
    "tests/test_blocks.py": "",
    "tools/bazel_pytest.py": MAIN,
    "pyproject.toml": "",
    ".venv/lib/site.py": "",
}
EXPLICIT_BUILD = """
py_library(name = "ednas_tf", srcs = ["ednas_tf/__init__.py"])
py_library(name = "deploy", srcs = ["deploy/merge.py"])
py_library(name = "bench", srcs = glob(["bench/*.py"]))
py_library(name = "pipelines", srcs = ["pipelines/__init__.py"])
py_binary(name = "search", srcs = ["pipelines/search.py"], main = "pipelines/search.py")
py_test(
    name = "test_blocks",
    srcs = [
        "tests/test_blocks.py",
        "tests/cli.py",
        "tests/conftest.py",
        "tests/fake_tfds.py",
        "tools/bazel_pytest.py",
    ],
    main = "tools/bazel_pytest.py",
    args = ["tests/test_blocks.py"],
)
"""


@pytest.fixture
def fake_root(tmp_path):
    for name, text in FAKE_TREE.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / ".bazelignore").write_text(".venv\n")
    return tmp_path


def test_real_build_covers_new_files_through_glob(fake_root):
    build = (ROOT / "BUILD").read_text()
    assert coverage_problems(fake_root, build) == []
    (fake_root / "ednas_tf" / "new_module.py").write_text("")
    (fake_root / "tests" / "test_new_module.py").write_text("")
    (fake_root / "pipelines" / "new_pipeline.py").write_text(MAIN)
    assert coverage_problems(fake_root, build) == []
    targets = evaluate_build(build, workspace_files(fake_root)[0])
    assert targets["test_new_module"]["args"] == ["tests/test_new_module.py"]
    assert targets["new_pipeline"]["main"] == "pipelines/new_pipeline.py"


def test_check_fails_for_a_module_missing_from_build(fake_root):
    problems = coverage_problems(fake_root, EXPLICIT_BUILD)
    assert problems == ["ednas_tf/layers/blocks.py: in no py_* target's srcs"]


def test_check_fails_for_a_test_module_without_its_py_test(fake_root):
    build = EXPLICIT_BUILD.replace('["ednas_tf/__init__.py"]', 'glob(["ednas_tf/**/*.py"])')
    (fake_root / "tests" / "test_merge.py").write_text("")
    assert coverage_problems(fake_root, build) == [
        "tests/test_merge.py: in no py_* target's srcs",
        "tests/test_merge.py: no py_test //:test_merge that runs it",
    ]
    # In some target's srcs is not enough: a py_test of that name must run it.
    build = build.replace('"tests/conftest.py",', '"tests/conftest.py", "tests/test_merge.py",')
    assert coverage_problems(fake_root, build) == [
        "tests/test_merge.py: no py_test //:test_merge that runs it"
    ]


def test_check_fails_for_a_test_importing_another_test_module(fake_root):
    """Bazel's runfiles hold a py_test's srcs only: `make test` finds tests/test_other.py, the
    Bazel target does not."""
    (fake_root / "tests" / "test_blocks.py").write_text("from tests.cli import run_cli\n")
    assert coverage_problems(fake_root, EXPLICIT_BUILD) == [
        "ednas_tf/layers/blocks.py: in no py_* target's srcs"
    ]
    (fake_root / "tests" / "test_blocks.py").write_text("from tests.test_other import TINY\n")
    assert coverage_problems(fake_root, EXPLICIT_BUILD)[-1] == (
        "tests/test_blocks.py: imports tests.test_other, not in //:test_blocks"
    )


def test_check_fails_for_a_pipeline_without_binary_or_a_stale_file(fake_root):
    build = EXPLICIT_BUILD.replace('["ednas_tf/__init__.py"]', 'glob(["ednas_tf/**/*.py"])')
    build = build.replace('["pipelines/__init__.py"]', 'glob(["pipelines/*.py"])')
    assert coverage_problems(fake_root, build) == []
    (fake_root / "pipelines" / "train.py").write_text("import sys\n\n" + MAIN)
    (fake_root / "pipelines" / "flags.py").write_text("")  # a helper module needs no binary
    assert coverage_problems(fake_root, build) == [
        "pipelines/train.py: no py_binary with main = 'pipelines/train.py'"
    ]
    flags = '"pipelines/flags.py"'
    build += f'py_binary(name = "flags", srcs = [{flags}], main = {flags})\n'
    assert "//:flags: pipelines/flags.py has no __main__ block (exclude it in BUILD)" in (
        coverage_problems(fake_root, build)
    )
    (fake_root / "deploy" / "merge.py").unlink()
    problems = coverage_problems(fake_root, build)
    assert "//:deploy: lists deploy/merge.py, which does not exist" in problems


def test_ignored_folders_and_sub_packages(fake_root):
    files, packages = workspace_files(fake_root)
    assert ".venv/lib/site.py" not in files and packages == []
    (fake_root / "deploy" / "BUILD").write_text("")
    files, packages = workspace_files(fake_root)
    assert packages == ["deploy/BUILD"] and "deploy/merge.py" not in files


SHARDED_TESTS = """
import os
import pytest

@pytest.mark.parametrize("n", range(7))
def test_n(n):
    with open(os.environ["RAN"], "a") as f:
        f.write(f"{n}\\n")
"""


def test_the_shards_of_a_sharded_target_run_every_test_once(tmp_path):
    """tools/bazel_pytest.py under Bazel's sharding variables (BUILD's shard_count)."""
    test_file = tmp_path / "test_sharded.py"
    test_file.write_text(SHARDED_TESTS)
    ran, total = tmp_path / "ran.txt", 3
    for index in range(total):
        status = tmp_path / f"status{index}"
        env = {
            **os.environ,
            "RAN": str(ran),
            "TEST_TMPDIR": str(tmp_path / f"tmp{index}"),
            "TEST_TOTAL_SHARDS": str(total),
            "TEST_SHARD_INDEX": str(index),
            "TEST_SHARD_STATUS_FILE": str(status),
        }
        done = subprocess.run(
            [sys.executable, str(ROOT / "tools" / "bazel_pytest.py"), str(test_file)],
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert status.exists()
    assert sorted(ran.read_text().split()) == [str(n) for n in range(7)]
