"""The layers of docs/architecture.md hold in the code: every import (at module level or inside a
function) goes to a layer the page's table allows, and no modules of imgstudy/ import each other in a
cycle."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from conftest import ROOT

PACKAGES = ("imgstudy", "stages", "tools", "bench")


def allowed() -> dict[str, set[str]]:
    """layer -> the layers it may import, from the table of docs/architecture.md."""
    rows = re.findall(r"^\| ([\w.]+) \|([^|]*)\|$", (ROOT / "docs/architecture.md").read_text(), re.M)
    return {layer: {name.strip() for name in names.split(",") if name.strip()} for layer, names in rows}


def layer_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "imgstudy" and len(parts) > 1 else parts[0]


def module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """The project modules `path` imports: `from a.b import c` is a.b.c when that is a module, else a.b."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [
                f"{node.module}.{a.name}" if file_of(f"{node.module}.{a.name}") else node.module for a in node.names
            ]
        else:
            continue
        found.update(n for n in names if n.split(".")[0] in PACKAGES and file_of(n))
    return found


def file_of(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def sources() -> list[Path]:
    return [p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))]


def test_the_table_names_every_layer() -> None:
    layers = {layer_of(module_of(p)) for p in sources()} - {"imgstudy"}
    assert layers <= set(allowed()), layers - set(allowed())


def test_every_import_goes_to_a_layer_below() -> None:
    rules, wrong = allowed(), []
    for path in sources():
        mine = layer_of(module_of(path))
        if mine == "imgstudy":
            continue  # the package's own __init__
        for module in imported(path):
            other = layer_of(module)
            if other != mine and other not in rules[mine]:
                wrong.append(f"{path.relative_to(ROOT)} imports {module} ({mine} may not import {other})")
    assert not wrong, "\n".join(wrong)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each a cycle of imports."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_inside_the_library() -> None:
    graph = {
        module_of(p): {m for m in imported(p) if m.startswith("imgstudy")}
        for p in sorted((ROOT / "imgstudy").rglob("*.py"))
    }
    assert not cycles(graph), cycles(graph)


def test_a_cycle_is_found() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_stages_are_thin_and_modules_small() -> None:
    """A stage parses, loads, calls the library and prints (30 lines at most); no module of the project
    over 250 lines; dvc.yaml within 220."""
    stages = {p.name: len(p.read_text().splitlines()) for p in (ROOT / "stages").glob("*.py")}
    assert max(stages.values()) <= 30, stages
    big = {str(p.relative_to(ROOT)): n for p in sources() if (n := len(p.read_text().splitlines())) > 250}
    assert not big, big
    assert len((ROOT / "dvc.yaml").read_text().splitlines()) <= 220
