"""The package's layers, read from its source: imports only go down, and no module imports
itself back through others (``docs/architecture.md``).

Every ``import`` counts, also those inside functions: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "carrier_opt"

LAYERS: list[set[str]] = [
    {"errors"},
    {"clock", "settings", "processes"},
    {"core"},
    {"jasper", "db"},
    {"delivery"},
    {"pipeline"},
    {"defs"},
    {"definitions"},
    {"demo", "bench"},
    {"cli"},
    {"__main__"},
]
"""Bottom first. A part may import its own layer's modules only within its own part: ``db``
and ``jasper`` never import each other, nor ``demo`` and ``bench``."""

THIRD_PARTY_BY_PART = {
    "core": {"dagster", "sqlalchemy", "requests", "alembic", "xlsxwriter", "boto3", "click"},
    "db": {"dagster", "requests"},
    "jasper": {"dagster", "sqlalchemy"},
    "delivery": {"dagster"},
    "pipeline": {"dagster"},
}
"""Libraries a part must not import: the core is pure, and only ``defs`` (and what sits on
it) knows Dagster."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path for path in PACKAGE.rglob("*.py") if "migrations" not in path.parts
    }


def _imports(name: str, path: Path) -> set[str]:
    """Modules (dotted) imported anywhere in the file, relative ones resolved."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.add(module)
            # ``from carrier_opt import clock`` imports the module carrier_opt.clock
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {
        name: {target for target in _imports(name, path) if target in modules and target != name}
        for name, path in modules.items()
    }


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _layer(part: str) -> int:
    for index, members in enumerate(LAYERS):
        if part in members:
            return index
    raise AssertionError(f"carrier_opt.{part} belongs to no layer: add it to LAYERS")


def test_every_part_has_a_layer() -> None:
    for module in _modules():
        if module != "carrier_opt":
            _layer(_part(module))


def test_imports_only_go_down_the_layers() -> None:
    wrong = []
    for module, targets in _graph().items():
        if module == "carrier_opt":
            continue
        source = _part(module)
        for target in targets:
            if target == "carrier_opt":
                continue
            destination = _part(target)
            if destination == source:
                continue
            if _layer(destination) >= _layer(source):
                wrong.append(f"{module} -> {target}")
    assert not wrong, "imports that do not go down a layer:\n" + "\n".join(sorted(wrong))


def test_no_import_cycles() -> None:
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state and module != "carrier_opt":
            visit(module)
    # A package's __init__ re-exporting its own submodules is not a cycle of logic.
    cycles = [c for c in cycles if not all(m.startswith(c[0] + ".") or m == c[0] for m in c)]
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("part", sorted(THIRD_PARTY_BY_PART))
def test_parts_keep_their_libraries_out(part: str) -> None:
    banned = THIRD_PARTY_BY_PART[part]
    wrong = [
        f"{name} imports {target}"
        for name, path in _modules().items()
        if _part(name) == part
        for target in _imports(name, path)
        if target.split(".")[0] in banned
    ]
    assert not wrong, "\n".join(sorted(wrong))
