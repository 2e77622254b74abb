"""The layout stays acyclic: no import cycle among the core's modules or within a plugin."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _modules() -> dict[str, Path]:
    out = {}
    for base in [ROOT, ROOT / "plugins"]:
        for path in base.glob("mia_bench*/**/*.py"):
            parts = list(path.relative_to(base).with_suffix("").parts)
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(mod: str, path: Path, known: dict) -> set[str]:
    """Every module of ours this one imports, at module level or inside functions."""
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    deps = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            deps.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join(base + [node.module] if node.module else base) if node.level else node.module
            subs = {f"{target}.{a.name}" for a in node.names}
            deps.update(subs)
            if not subs <= set(known):  # `from . import submodule` needs the submodule, not the package's names
                deps.add(target)
    return {d for d in deps if d in known and d != mod}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    known = _modules()
    assert "mia_bench.runner" in known and "mia_bench_lira.attack" in known
    graph = {m: _imports(m, p, known) for m, p in known.items()}
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_plugins_use_the_public_api_not_the_engine():
    """Plugins go through mia_bench.api (resolve, run, Session), never the plan or runner."""
    known = _modules()
    engine = {"mia_bench.plan", "mia_bench.runner"}
    offenders = {m: sorted(_imports(m, p, known) & engine) for m, p in known.items()
                 if not m.startswith("mia_bench.") and m != "mia_bench"}
    assert {m: deps for m, deps in offenders.items() if deps} == {}
