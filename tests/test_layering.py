"""The package layering rule (docs/ARCHITECTURE.md, "Layering"), checked by walking the imports.

Each module belongs to one layer; it may import from its own layer and the layers above it in
`LAYERS`, never from a layer below. No project module is imported inside a function or method:
an import placed there to dodge a cycle hides the cycle instead of removing it. A module that no
layer claims fails too, so a new module is placed on purpose.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ednas_tf", "deploy", "pipelines", "bench")

# Top to bottom. An entry names a module or a package (then every module inside it); the entries
# in INIT_ONLY name a package's __init__ alone.
INIT_ONLY = {"ednas_tf"}
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "geometry and config types",
        (
            "ednas_tf",  # its __init__: selects Keras 2, imports nothing of the project
            "ednas_tf.io_utils",
            "ednas_tf.rundir",
            "ednas_tf.arch",
            "ednas_tf.geometry",
            "ednas_tf.limits",
            "ednas_tf.checkpointing",
            "ednas_tf.distribute",
            "ednas_tf.precision",
            "ednas_tf.testpoint",
        ),
    ),
    ("layers", ("ednas_tf.layers",)),
    (
        "space and model",
        (
            "ednas_tf.space",
            "ednas_tf.presets",
            "ednas_tf.nb_macro",
            "ednas_tf.model",
            "ednas_tf.inherit",
        ),
    ),
    ("cost models", ("ednas_tf.cost",)),
    (
        "fitting, measuring, device profiles",
        ("ednas_tf.fit", "ednas_tf.measure", "ednas_tf.profiles"),
    ),
    (
        "search, data, training, baselines",
        (
            "ednas_tf.search",
            "ednas_tf.data",
            "ednas_tf.training",
            "ednas_tf.streams",
            "ednas_tf.train_loop",
            "ednas_tf.baselines",
        ),
    ),
    (
        "deploy and reporting",
        (
            "deploy",
            "ednas_tf.reporting",
        ),
    ),
    ("entry points", ("pipelines", "bench")),
]

def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def find_modules(root: Path, packages=PACKAGES) -> dict[str, Path]:
    return {
        module_name(path, root): path
        for package in packages
        for path in sorted((root / package).rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def layer_of(module: str, layers=LAYERS) -> int | None:
    """Index of the layer that claims `module` (its longest matching entry), or None."""
    best, best_len = None, -1
    for index, (_, entries) in enumerate(layers):
        for entry in entries:
            inside = entry not in INIT_ONLY and module.startswith(entry + ".")
            if (module == entry or inside) and len(entry) > best_len:
                best, best_len = index, len(entry)
    return best


def _imports(tree: ast.Module, module: str, is_package: bool, known: set[str]):
    """(imported project module, line, inside a function) for every import in a module."""
    roots = {name.split(".")[0] for name in known}

    def visit(node: ast.AST, in_function: bool):
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name, child.lineno, in_function
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    package = module if is_package else module.rpartition(".")[0]
                    for _ in range(child.level - 1):
                        package = package.rpartition(".")[0]
                    base = f"{package}.{base}".strip(".")
                for alias in child.names:
                    sub = f"{base}.{alias.name}"
                    yield (sub if sub in known else base), child.lineno, in_function
            yield from visit(child, nested)

    for name, line, in_function in visit(tree, False):
        if name.split(".")[0] in roots:
            yield name, line, in_function


def check(root: Path, packages=PACKAGES, layers=LAYERS) -> list[str]:
    """Every breach of the rule under `root`, one line each (empty: the rule holds)."""
    modules = find_modules(root, packages)
    known = set(modules)
    problems = []
    for module, path in modules.items():
        where = path.relative_to(root).as_posix()
        own = layer_of(module, layers)
        if own is None:
            problems.append(f"{where}: module {module} is in no layer")
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for name, line, in_function in _imports(tree, module, path.name == "__init__.py", known):
            if in_function:
                problems.append(f"{where}:{line}: imports {name} inside a function")
            target = layer_of(name, layers)
            if target is not None and target > own:
                problems.append(
                    f"{where}:{line}: {module} ({layers[own][0]}) imports {name}, "
                    f"a lower layer ({layers[target][0]})"
                )
    return list(dict.fromkeys(problems))  # one line per breach, not per imported name


def test_the_repository_keeps_the_layering_rule():
    assert check(ROOT) == []


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_check_catches_an_upward_import_a_function_import_and_a_stray_module(tmp_path):
    layers = [("top", ("low.base",)), ("bottom", ("high",))]
    _write(
        tmp_path,
        {
            "low/__init__.py": "",
            "low/base.py": "import os\n\nfrom high.app import run  # upward\n",
            "low/stray.py": "X = 1\n",
            "high/__init__.py": "",
            "high/app.py": "def run():\n    from low import base\n    return base\n",
            "high/ok.py": "from low.base import run\nfrom . import app\n",
        },
    )
    problems = check(tmp_path, packages=("low", "high"), layers=layers)
    assert any(
        p.startswith("low/base.py:3: low.base (top) imports high.app, a lower layer (bottom)")
        for p in problems
    ), problems
    assert "high/app.py:2: imports low.base inside a function" in problems, problems
    assert "low/stray.py: module low.stray is in no layer" in problems, problems
    assert "low/__init__.py: module low is in no layer" in problems, problems
    assert not [p for p in problems if p.startswith("high/ok.py")], problems
    assert len(problems) == 4, problems
