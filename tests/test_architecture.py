"""The site's layers: arrows point down (blueprints -> domain packages -> models), read from the source.

A package is ``survey.<name>`` (a folder or a top-level module). The test reads every import
statement, including those inside functions, so a cycle cannot hide in a late import.
"""
from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SURVEY = ROOT / "survey"
BLUEPRINTS = frozenset({"survey.respond", "survey.pollster", "survey.api"})
APP_FACTORY = "survey"  # survey/__init__.py registers the blueprints; nothing imports it back


def _module_name(path: Path) -> str:
    parts = path.relative_to(SURVEY.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Every ``survey...`` module this tree imports, relative imports resolved."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            found.add(source)
            found.update(f"{source}.{alias.name}" for alias in node.names)  # `from survey import charts`
    return {name for name in found if name == "survey" or name.startswith("survey.")}


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in SURVEY.rglob("*.py")}


def package_imports() -> dict[str, set[str]]:
    """``{package: packages it imports}`` for the packages of ``survey``, edges within a package left out."""
    modules = _modules()
    edges: dict[str, set[str]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets = {name for name in _imported(tree, module, path.name == "__init__.py") if name in modules}
        edges.setdefault(_package(module), set()).update(
            _package(target) for target in targets if _package(target) != _package(module)
        )
    return edges


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path, or None."""
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for target in sorted(edges.get(node, ())):
            if state.get(target) == "open":
                return path[path.index(target):] + [target] if target in path else [node, target]
            if target not in state:
                found = visit(target, path + [target])
                if found:
                    return found
        state[node] = "done"
        return None

    for start in sorted(edges):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


@pytest.fixture(scope="module")
def edges() -> dict[str, set[str]]:
    return package_imports()


def test_the_reader_sees_the_layers(edges):
    """Guards the guard: the blueprints do import the domain layer, so an empty graph would fail here."""
    assert "survey.responses" in edges["survey.respond"]
    assert "survey.accounts" in edges["survey.api"]
    assert BLUEPRINTS <= edges[APP_FACTORY]


def test_no_import_cycle_between_the_packages_of_survey(edges):
    cycle = _cycle(edges)
    assert cycle is None, "import cycle between packages: " + " -> ".join(cycle)


def test_no_blueprint_imports_another(edges):
    crossings = {(source, target) for source in BLUEPRINTS for target in edges[source] & BLUEPRINTS}
    assert not crossings, f"blueprints import each other (move the shared code into a domain package): {crossings}"


def test_no_domain_module_imports_a_blueprint(edges):
    below = {package for package in edges if package not in BLUEPRINTS | {APP_FACTORY}}
    upward = {(source, target) for source in below for target in edges[source] & BLUEPRINTS}
    assert not upward, f"these import a blueprint; arrows must point down: {upward}"


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


WITHOUT_THE_SITE = textwrap.dedent("""
    import importlib.abc, sys

    class NotInstalled(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in {"flask", "werkzeug", "sqlalchemy", "survey"}:
                raise ImportError(f"{name} is not installed")
            return None

    sys.meta_path.insert(0, NotInstalled())
    import pytest
    sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "--collect-only", "tests/analysis"]))
""")


@pytest.mark.slow
def test_the_analysis_tests_collect_without_flask_or_sqlalchemy():
    """As if neither were installed: nothing under tests/analysis (conftests included) may import the site."""
    done = subprocess.run([sys.executable, "-c", WITHOUT_THE_SITE], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert " tests collected" in done.stdout
