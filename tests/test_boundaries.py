"""The shape the code keeps (docs/architecture.md): which part may import which, that
neither the read side nor the pages write the store, and that no module grows past 400
lines. Read from the source with ``ast``: module-level and function-level imports, and
``importlib.import_module("...")`` calls; imports under ``if TYPE_CHECKING:`` name types for
annotations and run nothing, so they are not counted."""
from __future__ import annotations

import ast
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# where a module lives -> the imports it may not make (prefixes)
LOWER_LAYERS = ("vizkit.store", "vizkit.registry", "vizkit.plugins", "vizkit.read",
                "vizkit.jobs", "vizkit.app", "vizkit.cli", "vizkit.background")
RULES: list[tuple[str, tuple[str, ...], str]] = [
    ("vizkit/compute/", LOWER_LAYERS + ("vizkit.runtime.models",), "computation imports "
     "neither the store nor the registry nor anything above it (callers pass metrics, "
     "models and arrays in)"),
    ("vizkit/runtime/", ("vizkit.read", "vizkit.jobs", "vizkit.app", "vizkit.cli",
                         "vizkit.background"), "model loading and devices sit below both the "
     "jobs and the read side"),
    ("plugins/", ("vizkit.app", "vizkit.jobs", "vizkit.cli", "vizkit.read", "vizkit.store",
                  "vizkit.background"), "built-in plugins import no pages, jobs or store"),
    ("vizkit/app/", ("vizkit.store", "vizkit.jobs", "vizkit.cli", "vizkit.compute",
                     "vizkit.runtime"),
     "pages ask the read side (vizkit.read) and draw; they compute nothing, load no model, "
     "and start jobs only through vizkit.background"),
    ("vizkit/read/", ("vizkit.jobs", "vizkit.app", "vizkit.cli", "vizkit.background"),
     "the read side serves pages and the CLI and knows neither"),
    ("vizkit/jobs/", ("vizkit.app", "vizkit.cli"), "jobs know nothing of pages or the CLI"),
    ("vizkit/plugins.py", ("vizkit.registry",), "the plugin manager does not know the "
     "registry built from it (no import cycle)"),
]
STORE_MAY_IMPORT = ("vizkit.store", "vizkit.errors", "vizkit.paths", "vizkit.files")
# the plugin-facing types and protocols, and the leaf modules beside them
API_MAY_IMPORT = ("vizkit.api", "vizkit.errors", "vizkit.paths", "vizkit.files",
                  "vizkit.images")
MAX_LINES = 400  # a module longer than this does more than one job: split it
STREAMLIT_ONLY_IN = ("vizkit/app/", "streamlit_app.py")
READ_ONLY_PARTS = ("vizkit/read/", "vizkit/app/")
WRITE_CALLS = ("write", "drop_tables")  # and every put_*


def imports_of(tree: ast.AST) -> list[tuple[str, ...]]:
    """Every import a source makes, wherever the statement is: per statement, the modules
    it may bring in (``from a import b`` may be the module ``a.b``)."""
    found: list[tuple[str, ...]] = []
    for_types = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                 and getattr(block.test, "id", getattr(block.test, "attr", None)) ==
                 "TYPE_CHECKING" for stmt in block.body for n in ast.walk(stmt)}
    for node in ast.walk(tree):
        if id(node) in for_types:
            continue
        if isinstance(node, ast.Import):
            found += [(a.name,) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.module, *(f"{node.module}.{a.name}" for a in node.names)))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == \
                "import_module" and node.args and isinstance(node.args[0], ast.Constant):
            found.append((str(node.args[0].value),))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == \
                "import_module" and node.args and isinstance(node.args[0], ast.JoinedStr):
            head = node.args[0].values[0]
            if isinstance(head, ast.Constant):
                found.append((str(head.value).rstrip("."),))
    return found


def _matches(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def violations(root: Path) -> list[str]:
    """Every broken rule under ``root`` (a checkout), as "file: what"."""
    out = []
    files = sorted(list((root / "vizkit").rglob("*.py")) + list((root / "plugins").rglob("*.py"))
                   + [root / "streamlit_app.py"])
    for path in files:
        rel = path.relative_to(root).as_posix()
        source = path.read_text()
        tree = ast.parse(source, filename=rel)
        if rel.startswith("vizkit/") and len(source.splitlines()) > MAX_LINES:
            out.append(f"{rel}: {len(source.splitlines())} lines — a module over {MAX_LINES} "
                       "lines does more than one job; split it by responsibility")
        statements = imports_of(tree)

        def offending(allowed) -> list[str]:
            """The first module of each statement that ``allowed(module)`` refuses."""
            return [next(m for m in st if not allowed(m)) for st in statements
                    if not all(allowed(m) for m in st)]

        if not rel.startswith(STREAMLIT_ONLY_IN):
            for m in offending(lambda m: not _matches(m, "streamlit")):
                out.append(f"{rel}: imports {m} (only vizkit/app/ may import streamlit)")
        for where, banned, why in RULES:
            if rel.startswith(where):
                for m in offending(lambda m: not any(_matches(m, b) for b in banned)):
                    out.append(f"{rel}: imports {m} — {why}")
        if rel.startswith("vizkit/api/"):
            for m in offending(lambda m: not _matches(m, "vizkit") or
                               any(_matches(m, ok) for ok in API_MAY_IMPORT)):
                out.append(f"{rel}: imports {m} — the api is types and protocols only")
        if rel.startswith("vizkit/store/"):
            for m in offending(lambda m: not _matches(m, "vizkit") or
                               any(_matches(m, ok) for ok in STORE_MAY_IMPORT)):
                out.append(f"{rel}: imports {m} — the store imports no computation")
        if rel.startswith(READ_ONLY_PARTS):
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    name = node.func.attr
                    on_streamlit = isinstance(node.func.value, ast.Name) and \
                        node.func.value.id == "st"  # st.write draws, it stores nothing
                    if name.startswith("put_") or (name in WRITE_CALLS and not on_streamlit):
                        out.append(f"{rel}:{node.lineno}: calls .{name}() — the read side "
                                   "and the pages never write the store")
    return out


def test_the_code_keeps_its_boundaries():
    assert violations(ROOT) == []


def test_the_check_catches_a_deliberate_violation(tmp_path):
    """A copy of the tree with one bad module of each kind: every one is reported."""
    shutil.copytree(ROOT / "vizkit", tmp_path / "vizkit")
    shutil.copytree(ROOT / "plugins", tmp_path / "plugins")
    shutil.copy(ROOT / "streamlit_app.py", tmp_path)
    (tmp_path / "vizkit" / "compute" / "bad_compute.py").write_text(
        "def f():\n    from vizkit.store import Store\n    return Store\n")
    (tmp_path / "vizkit" / "store" / "bad_store.py").write_text(
        "from vizkit.compute.nearest import topk\n")
    (tmp_path / "plugins" / "bad_plugin.py").write_text(
        "import importlib\nimportlib.import_module('vizkit.app.search_page')\n")
    (tmp_path / "vizkit" / "app" / "bad_page.py").write_text(
        "def render(reader):\n    reader.store.put_features({}, None)\n")
    (tmp_path / "vizkit" / "read" / "bad_read.py").write_text("import streamlit as st\n")
    (tmp_path / "vizkit" / "jobs" / "bad_jobs.py").write_text("from vizkit import app\n")
    (tmp_path / "vizkit" / "jobs" / "long_job.py").write_text("x = 1\n" * 401)
    (tmp_path / "vizkit" / "api" / "bad_api.py").write_text(
        "from vizkit.runtime.devices import resolve\n")
    (tmp_path / "vizkit" / "app" / "computing_page.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    from vizkit.compute.pairmaps import PairMaps\n"  # a type: allowed
        "from vizkit.compute.clustering import confusion\n")
    (tmp_path / "vizkit" / "runtime" / "bad_runtime.py").write_text(
        "from vizkit.read.catalog import Reader\n")
    found = "\n".join(violations(tmp_path))
    for name in ("bad_compute.py: imports vizkit.store", "bad_store.py: imports vizkit.compute",
                 "bad_plugin.py: imports vizkit.app.search_page", "bad_page.py:2: calls "
                 ".put_features()", "bad_read.py: imports streamlit", "bad_jobs.py: imports "
                 "vizkit.app", "long_job.py: 401 lines", "bad_api.py: imports vizkit.runtime",
                 "computing_page.py: imports vizkit.compute.clustering",
                 "bad_runtime.py: imports vizkit.read.catalog"):
        assert name in found, (name, found)
    assert len(found.splitlines()) == 10, found
