"""The tree's shape: no import cycles, lower layers never import higher ones, small modules
and functions, few top-level modules. ``python -m tests.test_architecture`` prints the
figures (modules, deepest import chain)."""

from __future__ import annotations

import ast
import functools
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("pipeline", "flows", "schemas")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# pipeline/'s top level: the sub-packages plus these few modules.
TOP_LEVEL_MODULES = {"__init__", "dataset", "errors", "fsutil", "records"}
# Layers, lowest first: a module may import its own layer and lower ones only.
LAYERS = (
    ("schemas", "pipeline.errors", "pipeline.fsutil", "pipeline.records"),
    ("pipeline.media", "pipeline.detection", "pipeline.embedding", "pipeline.alignment", "pipeline.corpus", "pipeline.dataset"),
    ("pipeline.config",),
    ("pipeline.stages", "pipeline.validate"),
    ("pipeline.curate",),
    ("pipeline.runs", "pipeline.release", "pipeline.report"),
    ("pipeline.privacy",),
    ("pipeline.cli",),
    ("flows",),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in sorted((REPO / package).rglob("*.py"))}


def imports_of(name: str) -> set[str]:
    """Project modules ``name`` imports (anywhere in the file, lazy imports included)."""
    known = modules()
    found = set()
    for node in ast.walk(ast.parse(modules()[name].read_text())):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and target.split(".")[0] in PACKAGES:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    # A package's __init__ is not a dependency of its modules (importing a sub-module runs it, but nothing here uses it).
    return {name: {t for t in imports_of(name) if not name.startswith(t + ".")} for name in modules()}


def layer(name: str) -> int:
    for index, members in enumerate(LAYERS):
        if any(name == m or name.startswith(m + ".") for m in members):
            return index
    raise AssertionError(f"{name} is in no layer: add it to LAYERS")


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def deepest_chain(edges: dict[str, set[str]]) -> list[str]:
    @functools.cache
    def longest(node: str) -> tuple[str, ...]:
        best = max((longest(n) for n in edges.get(node, ())), key=len, default=())
        return (node, *best)

    return list(max((longest(n) for n in sorted(edges)), key=len))


def test_no_import_cycles():
    assert find_cycle(graph()) is None, f"import cycle: {' -> '.join(find_cycle(graph()))}"


def test_a_cycle_is_found_when_there_is_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_lower_layers_never_import_higher_ones():
    wrong = [
        f"{a} (layer {layer(a)}) imports {b} (layer {layer(b)})" for a, targets in graph().items() for b in targets if layer(b) > layer(a)
    ]
    assert not wrong, "\n".join(wrong)


def test_modules_and_functions_are_small():
    big = [
        f"{name}: {len(path.read_text().splitlines())} lines"
        for name, path in modules().items()
        if len(path.read_text().splitlines()) > MAX_MODULE_LINES
    ]
    long_functions = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES:
                long_functions.append(f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert not big and not long_functions, big + long_functions


def test_pipeline_top_level_holds_only_a_few_modules():
    top = {p.stem for p in (REPO / "pipeline").glob("*.py")}
    assert top == TOP_LEVEL_MODULES, top ^ TOP_LEVEL_MODULES


def test_tests_mirror_the_sub_packages():
    packages = {p.parent.name for p in (REPO / "pipeline").glob("*/__init__.py")}
    mirrored = {p.name for p in (REPO / "tests").iterdir() if p.is_dir()}
    assert packages <= mirrored, packages - mirrored


if __name__ == "__main__":
    edges = graph()
    chain = deepest_chain(edges)
    pipeline_modules = [n for n in modules() if n.startswith("pipeline")]
    print(f"modules: {len(modules())} ({len(pipeline_modules)} in pipeline/); pipeline/ top level: {sorted(TOP_LEVEL_MODULES)}")
    print(f"largest module: {max((len(p.read_text().splitlines()), n) for n, p in modules().items())}")
    print(f"deepest import chain ({len(chain)} modules): {' -> '.join(chain)}")
    print(f"cycles: {find_cycle(edges)}")
    sys.exit(0)
