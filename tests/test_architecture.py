"""The package's plan, checked: layers (import-linter), no import cycles, private names kept
private, file sizes.

The import graph is grimp's (the library under import-linter), built from the
source, lazy imports inside functions included; imports under
``if TYPE_CHECKING:`` are left out, as they never run.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
PKG = "napari_segreview"
MAX_LINES = 500
LONG_REASON = "This module is long because"


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(PKG, exclude_type_checking_imports=True, cache_dir=None)


def _strongly_connected(nodes: set[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively: the components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        m = stack.pop()
                        on_stack.discard(m)
                        comp.append(m)
                        if m == node:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(edges.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return out


def test_tarjan_finds_a_planted_cycle_and_only_it():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _strongly_connected(set(edges), edges) == [["a", "b", "c"]]
    assert _strongly_connected({"x", "y"}, {"x": {"y"}}) == []


def test_no_import_cycles(graph):
    modules = set(graph.modules)
    edges = {m: graph.find_modules_directly_imported_by(m) & modules for m in modules}
    cycles = _strongly_connected(modules, edges)
    assert not cycles, "modules that import each other (directly or through others): " + \
        "; ".join(" <-> ".join(c) for c in cycles)


def _private_owner(target: str) -> str | None:
    """The package a private dotted name belongs to, or None when the name is public.

    Every private part (a leading underscore) belongs to the package that holds
    it, and the innermost one decides: ``napari_segreview._napari._meta.KEY``
    is for ``napari_segreview._napari`` only; ``napari_segreview._util.arrays``
    for the whole package. A private name in a module (``review.checks._x``)
    belongs to the module's package (``review``).
    """
    parts = target.split(".")
    owner = None
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            owner = ".".join(parts[:i])
            if (SRC / owner.replace(".", "/")).with_suffix(".py").exists():
                owner = owner.rpartition(".")[0]
    return owner


def _own_package(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _imports(path: Path, module: str) -> list[tuple[int, str]]:
    """Dotted names (modules and module.name) that ``path`` imports from the package."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    own = _own_package(module, path)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith(PKG)]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(own.split(".")[: len(own.split(".")) - node.level + 1]
                                + ([node.module] if node.module else []))
            if base.startswith(PKG):
                out += [(node.lineno, f"{base}.{a.name}") for a in node.names]
    return out


def _modules() -> list[tuple[Path, str]]:
    out = []
    for path in sorted((SRC / PKG).rglob("*.py")):
        rel = path.relative_to(SRC).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        out.append((path, ".".join(parts)))
    return out


def test_private_owner_rule():
    assert _private_owner(f"{PKG}.labels.formats.IGNORE") is None
    assert _private_owner(f"{PKG}.labels._kernels.fill_regions") == f"{PKG}.labels"
    assert _private_owner(f"{PKG}.labels.checks._where") == f"{PKG}.labels"
    assert _private_owner(f"{PKG}._util.arrays.blocks") == PKG
    assert _private_owner(f"{PKG}._napari._meta.KEY") == f"{PKG}._napari"


def test_no_private_names_cross_packages():
    bad = []
    for path, module in _modules():
        for line, target in _imports(path, module):
            owner = _private_owner(target)
            if owner is not None and not (module == owner or module.startswith(owner + ".")):
                bad.append(f"{path.relative_to(REPO)}:{line} imports {target}")
    assert not bad, "private names used outside their package:\n" + "\n".join(bad)


def test_files_stay_small():
    long = []
    for path, _ in _modules():
        text = path.read_text(encoding="utf-8")
        n = text.count("\n")
        doc = ast.get_docstring(ast.parse(text)) or ""
        if n > MAX_LINES and LONG_REASON not in doc:
            long.append(f"{path.relative_to(REPO)} ({n} lines)")
    assert not long, (f"modules over {MAX_LINES} lines without '{LONG_REASON} ...' in their "
                      "docstring: " + ", ".join(long))


def _lint_imports(tmp_path: Path, src: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(exe), "--config", str(REPO / "pyproject.toml"), "--no-cache"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"})


@pytest.mark.slow
def test_contracts_hold_and_catch_a_wrong_arrow(tmp_path):
    copy = tmp_path / "src"
    shutil.copytree(SRC / PKG, copy / PKG, ignore=shutil.ignore_patterns("__pycache__", "*.pt"))
    kept = _lint_imports(tmp_path, copy)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    # the label core reaching up into inference (and so torch): two contracts must break
    formats = copy / PKG / "labels" / "formats.py"
    formats.write_text(formats.read_text() + "\nimport napari_segreview.inference.models\n")
    broken = _lint_imports(tmp_path, copy)
    assert broken.returncode != 0
    assert "napari_segreview.labels.formats -> napari_segreview.inference.models" in broken.stdout
    assert "Packages in dependency order BROKEN" in broken.stdout
    assert "Only inference (and training) import torch BROKEN" in broken.stdout


def _doc_references() -> list[tuple[str, str, list[str]]]:
    """(where, module, names) for every ``from napari_segreview... import ...`` line and every
    dotted ``napari_segreview.x.y`` reference in README.md and docs/*.md."""
    import re

    out = []
    for md in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for n, line in enumerate(md.read_text(encoding="utf-8").splitlines(), 1):
            where = f"{md.relative_to(REPO)}:{n}"
            m = re.match(r"\s*from (napari_segreview[\w.]*) import ([\w, ]+)", line)
            if m:
                out.append((where, m.group(1), [s.strip() for s in m.group(2).split(",")]))
                continue
            for ref in re.findall(r"`(napari_segreview(?:\.\w+)+)", line):
                out.append((where, ref, []))
    return out


def test_docs_name_what_exists():
    import importlib

    refs = _doc_references()
    assert len(refs) > 10  # the guide shows the Python API in many places
    missing = []
    for where, dotted, names in refs:
        parts = dotted.split(".")
        obj = None
        for i in range(len(parts), 0, -1):  # the longest importable prefix, then attributes
            try:
                obj = importlib.import_module(".".join(parts[:i]))
            except ImportError:
                continue
            try:
                for attr in parts[i:]:
                    obj = getattr(obj, attr)
            except AttributeError:
                obj = None
            break
        if obj is None:
            missing.append(f"{where}: {dotted}")
            continue
        missing += [f"{where}: {dotted}.{n}" for n in names if not hasattr(obj, n)]
    assert not missing, "the docs name what does not exist:\n" + "\n".join(missing)


PACKAGES = ["labels", "card", "io", "inference", "review", "session", "targets"]


@pytest.mark.parametrize("name", PACKAGES)
def test_package_namespaces_resolve(name):
    import importlib

    pkg = importlib.import_module(f"{PKG}.{name}")
    assert pkg.__all__, f"{name} states no public names"
    submodules = {p.stem for p in (SRC / PKG / name).glob("*.py")}
    # a public name equal to a submodule's would be shadowed by it once that is imported
    assert not submodules & set(pkg.__all__)
    missing = [n for n in pkg.__all__ if not hasattr(pkg, n)]
    assert not missing, f"{name}.__all__ names what its modules do not define: {missing}"
    assert sorted(dir(pkg)) == sorted(pkg.__all__)


def test_importing_the_package_imports_none_of_its_parts():
    code = ("import sys, napari_segreview as sr; sr.__version__; "
            "print(sorted(m for m in sys.modules if m.startswith('napari_segreview')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "['napari_segreview', 'napari_segreview._util', " \
                          "'napari_segreview._util.lazy']"


NAPARI_PRIVATE = ("_qt_window", "_qt_viewer", "_dock_widgets", "_load_history", "_abort_stroke",
                  "_undo_history", "_redo_history", "_begin_stroke", "_commit_stroke",
                  "_slice_input", "_data_view", "_activate_on_select")


def test_napari_private_api_only_in_compat():
    bad = []
    files = [p for p, _ in _modules() if "_napari" in p.parts] + sorted((REPO / "scripts").glob(
        "*.py"))
    for path in files:
        if path.name == "_compat.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                mods = [node.module]
            bad += [f"{path.relative_to(REPO)}:{node.lineno} imports {m}" for m in mods
                    if m.startswith("napari.") and any(
                        p.startswith("_") for p in m.split(".")[1:])]
            if isinstance(node, ast.Attribute) and node.attr in NAPARI_PRIVATE:
                bad.append(f"{path.relative_to(REPO)}:{node.lineno} uses .{node.attr}")
            if (isinstance(node, ast.Call) and getattr(node.func, "id", "") in (
                    "getattr", "hasattr", "setattr") and len(node.args) > 1
                    and isinstance(node.args[1], ast.Constant)
                    and node.args[1].value in NAPARI_PRIVATE):
                bad.append(f"{path.relative_to(REPO)}:{node.lineno} uses {node.args[1].value}")
    assert not bad, "napari's private API outside _napari/_compat.py:\n" + "\n".join(bad)
