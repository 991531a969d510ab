"""Python toolchain for Bazel: the project's virtualenv interpreter (TensorFlow lives there).

Why a repository rule: a py_runtime needs an absolute interpreter path, and committed files must
not contain one. The rule finds `<workspace>/.venv/bin/python` (or `$EDNAS_PYTHON`) when Bazel
fetches it, so a plain `bazel test //...` uses the same interpreter as `make test`.
"""

_BUILD = """\
load("@bazel_tools//tools/python:toolchain.bzl", "py_runtime_pair")

py_runtime(
    name = "py3",
    interpreter_path = "{python}",
    python_version = "PY3",
    stub_shebang = "#!/usr/bin/env python3",
)

py_runtime_pair(name = "runtime_pair", py3_runtime = ":py3")

toolchain(
    name = "toolchain",
    toolchain = ":runtime_pair",
    toolchain_type = "@bazel_tools//tools/python:toolchain_type",
)
"""

def _venv_python_impl(rctx):
    workspace = rctx.path(Label("//:WORKSPACE")).dirname
    python = rctx.os.environ.get("EDNAS_PYTHON") or "%s/.venv/bin/python" % workspace
    if not rctx.path(python).exists:
        fail("no Python interpreter at %s: run `make venv` first, or set EDNAS_PYTHON" % python)
    rctx.file("WORKSPACE", "")
    rctx.file("BUILD", _BUILD.format(python = python))

venv_python = repository_rule(
    implementation = _venv_python_impl,
    environ = ["EDNAS_PYTHON"],
    local = True,
)
