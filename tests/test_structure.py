"""The package's shape (docs/development.md, "Layout"): a subpackage per stage, each saying its
job; no import cycles, read from the source with `ast` (imports inside functions count too, so
none can hide a cycle); Airflow Assets declared once; test harnesses outside the package."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "nhandao"
STAGES = ("ingest", "gate", "publish", "monitor", "access", "sample")
# modules every stage builds on: they import no stage
FOUNDATION = (
    "settings",
    "text",
    "submission_format",
    "periods",
    "reference",
    "logins",
    "warehouse",
    "spreadsheet",
    "slices",
    "dbt",
)


def module_names(package: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package below `package`."""
    names = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def imported_modules(path: Path, module: str, known: set[str]) -> list[tuple[str, int, bool]]:
    """(module imported, line, inside a function) for each import of a module of `known`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    inside = {
        id(node)
        for function in ast.walk(tree)
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in ast.walk(function)
    }
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != module:
                found.append((target, node.lineno, id(node) in inside))
    return found


def import_graph(package: Path) -> dict[str, set[str]]:
    modules = module_names(package)
    return {
        name: {target for target, _, _ in imported_modules(path, name, set(modules))}
        for name, path in modules.items()
    }


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """The modules `start` imports, directly or through others (itself only through a cycle)."""
    seen: set[str] = set()
    todo = list(graph.get(start, ()))
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(graph.get(module, ()))
    return seen


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each import cycle once: the modules that import each other, directly or not."""
    reach = {module: reachable(graph, module) for module in graph}
    found: list[list[str]] = []
    for module in sorted(graph):
        if module in reach[module]:
            cycle = sorted(other for other in reach[module] if module in reach.get(other, ()))
            if cycle not in found:
                found.append(cycle)
    return found


def test_the_package_has_no_import_cycle():
    graph = import_graph(PACKAGE)
    assert len(graph) > 40  # every module was read
    assert cycles(graph) == []


def test_the_cycle_check_finds_a_cycle_hidden_in_a_function(tmp_path):
    package = tmp_path / "shop"
    package.mkdir()
    (package / "__init__.py").write_text('"""A shop."""\n')
    (package / "orders.py").write_text("from shop import stock\n")
    (package / "stock.py").write_text("def reserve():\n    from shop.orders import place\n")
    (package / "prices.py").write_text("import shop.stock\n")
    graph = import_graph(package)
    assert graph["shop.prices"] == {"shop.stock"}
    assert cycles(graph) == [["shop.orders", "shop.stock"]]


def test_no_import_of_nhandao_hides_inside_a_function():
    """Only the CLI imports inside its commands (so `nhandao --help` starts fast); nothing
    imports the CLI, so none of those can close a cycle."""
    modules = module_names(PACKAGE)
    hidden = [
        f"{path.relative_to(ROOT)}:{line} imports {target}"
        for name, path in modules.items()
        if name != "nhandao.cli"
        for target, line, in_function in imported_modules(path, name, set(modules))
        if in_function
    ]
    assert hidden == []
    assert not any("nhandao.cli" in targets for targets in import_graph(PACKAGE).values())


def test_a_package_by_stage_each_saying_its_job():
    for stage in STAGES:
        init = PACKAGE / stage / "__init__.py"
        docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert docstring and len(docstring) > 30, f"{init} says what the stage does"
    top_level = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")
    assert len(top_level) <= 16, top_level  # the rest lives in the stages
    every_module = module_names(PACKAGE).values()
    undocumented = [
        str(path.relative_to(ROOT))
        for path in every_module
        if path.stat().st_size and not ast.get_docstring(ast.parse(path.read_text("utf-8")))
    ]
    assert undocumented == []


def test_the_foundation_imports_no_stage():
    graph = import_graph(PACKAGE)
    for module in FOUNDATION:
        stages = {t for t in graph[f"nhandao.{module}"] if t.split(".")[1] in STAGES}
        assert stages == set(), f"nhandao.{module} imports {stages}"


def test_the_submission_format_is_defined_once():
    """Columns, qualifiers and the time zone come from nhandao.submission_format only."""
    defined_again = re.compile(
        r'^\s*(COLUMNS|QUALIFIERS|VIETNAM)\s*=|"Asia/Ho_Chi_Minh"|timezone\(timedelta\(hours=7\)\)',
        re.M,
    )
    places = [
        str(path.relative_to(ROOT))
        for path in [*PACKAGE.rglob("*.py"), *(ROOT / "dags").glob("*.py")]
        if path.name != "submission_format.py"
        and defined_again.search(path.read_text(encoding="utf-8"))
    ]
    assert places == []


def test_assets_are_declared_once_and_imported_by_the_dags():
    dag_files = sorted((ROOT / "dags").glob("*.py"))
    assert dag_files
    for path in dag_files:
        text = path.read_text(encoding="utf-8")
        assert "Asset(" not in text, f"{path.name} declares an Asset: import it from nhandao.assets"
    users = [p.name for p in dag_files if "from nhandao.assets import" in p.read_text("utf-8")]
    assert users == ["build_warehouse.py", "ingest_submissions.py", "monitor_reporting.py"]


def test_the_set_wise_sql_lives_in_sql_files():
    setwise = (PACKAGE / "ingest" / "setwise.py").read_text(encoding="utf-8")
    statements = sorted(p.stem for p in (PACKAGE / "ingest" / "sql").glob("*.sql"))
    assert len(statements) >= 8
    for name in statements:
        assert f'render_sql(\n    "{name}"' in setwise or f'render_sql("{name}"' in setwise, name
    tree = ast.parse(setwise)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef) and ast.get_docstring(node)
    }
    long_strings = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and id(node) not in docstrings
        and isinstance(node.value, str)
        and node.value.count("\n") > 5
    ]
    assert long_strings == []


@pytest.mark.parametrize("name", ["airflow_services"])
def test_test_harnesses_live_under_tests(name):
    assert not list(PACKAGE.rglob(f"{name}.py"))
    assert (ROOT / "tests" / "harness" / f"{name}.py").is_file()
