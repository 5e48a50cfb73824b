"""Who may import whom (docs/architecture.md), checked on every module's imports as parsed.

  shared/   the domain both processes share: imports nothing of api, workers, cli, models, flask, celery
  models/   engines: import shared only
  api/      HTTP: imports shared (never workers, never models)
  workers/  Celery and loops: import shared and models (never api)
  cli/      the command: imports api, shared and models; workers only where a command runs a
            worker loop in its own process (CLI_RUNS_WORKERS), never to build a result
and no import cycle among the project's modules, lazy imports inside functions included.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("api", "workers", "shared", "models", "cli")

# (importer package, imported top-level name): never allowed
FORBIDDEN = {
    ("api", "workers"), ("workers", "api"), ("api", "models"),
    ("shared", "api"), ("shared", "workers"), ("shared", "cli"), ("shared", "models"),
    ("shared", "flask"), ("shared", "celery"), ("shared", "werkzeug"),
    ("models", "api"), ("models", "workers"), ("models", "cli"), ("models", "flask"), ("models", "celery"),
}


# `ocrq planner` runs the batch planner loop in its process. Everything else the CLI does with a
# worker starts it as a subprocess (cli/serve.py builds the command line) and imports nothing of it.
CLI_RUNS_WORKERS = {"cli.backfill_cmd"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    found = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            found[module_name(path)] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Every module `name` imports (resolved to a project module where it is one, else the top name)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_pkg else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import sub` imports the module pkg.sub when there is one
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for t in targets:
            while t and t not in known and "." in t:
                t = t.rsplit(".", 1)[0]
            out.add(t if t in known else t.split(".")[0])
    out.discard(name)
    return out


def import_graph() -> dict[str, set[str]]:
    mods = project_modules()
    known = set(mods)
    return {name: imports_of(name, path, known) for name, path in mods.items()}


def forbidden_edges(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for mod, targets in graph.items():
        for t in targets:
            if (mod.split(".")[0], t.split(".")[0]) in FORBIDDEN:
                bad.append(f"{mod} -> {t}")
            elif mod.startswith("cli.") and t.startswith("workers") and mod not in CLI_RUNS_WORKERS:
                bad.append(f"{mod} -> {t}")
    return sorted(bad)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), among project modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_forbidden_import_between_packages() -> None:
    assert forbidden_edges(import_graph()) == []


def test_no_import_cycle_among_project_modules() -> None:
    assert cycles(import_graph()) == []


def test_the_checks_catch_one_added_forbidden_edge_and_one_added_cycle() -> None:
    graph = import_graph()
    graph["api.jobs"] = graph["api.jobs"] | {"workers.runner"}
    assert forbidden_edges(graph) == ["api.jobs -> workers.runner"]
    graph = import_graph()
    graph["cli.ocr_cmd"] = graph["cli.ocr_cmd"] | {"workers.runner"}  # as it was: results built by the worker
    assert forbidden_edges(graph) == ["cli.ocr_cmd -> workers.runner"]
    graph = import_graph()
    graph["shared.jobs.model"] = graph["shared.jobs.model"] | {"shared.jobs.store"}
    assert any({"shared.jobs.model", "shared.jobs.store"} <= set(c) for c in cycles(graph))


def test_the_graph_sees_lazy_imports_inside_functions() -> None:
    graph = import_graph()
    assert "models.registry" in graph["workers.ocr_worker"]  # imported inside a Celery signal handler


# OpenTelemetry (the `otel` extra) is set up in one module, and imported there only inside functions
# that run once tracing is on: with it off, no process pays for importing it (tests/service/test_tracing.py).
TRACING_MODULE = "shared.infra.tracing"


def test_only_the_tracing_module_imports_opentelemetry_and_only_lazily() -> None:
    graph = import_graph()
    assert sorted(m for m, targets in graph.items() if "opentelemetry" in targets) == [TRACING_MODULE]
    path = project_modules()[TRACING_MODULE]
    tree = ast.parse(path.read_text(), filename=str(path))
    top_level = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    named = [a.name for n in top_level for a in n.names] + [n.module or "" for n in top_level if isinstance(n, ast.ImportFrom)]
    assert not [m for m in named if m.split(".")[0] == "opentelemetry"]
