"""Print the import graph of the `qa` package by layer and fail if a module imports one of a layer above it.

    python tools/import_graph.py            # the graph of ./qa, one line per module, then any upward import
    python tools/import_graph.py --root DIR # another checkout (DIR/qa)

Layers, lowest first; a module may import its own layer and those below. Imports inside functions count too
(they are how the CLI and the server defer heavy imports), `if TYPE_CHECKING:` blocks do not. Package-level rules
on top: no module imports a module that imports it back (directly or around a cycle), and the siblings listed in
APART never import one another (each reaches what they share through a module below them).
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

# (layer name, module prefixes); the first prefix that matches a module decides its layer.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # qa.results: the typed records the query path and the service return (plain data, importing nothing of qa)
    ("base", ("qa.errors", "qa.config", "qa.normalize", "qa.script", "qa.tokens", "qa.results", "qa.cachedb")),
    ("fitted", ("qa.fitted",)),  # per-model fitted parameters: read by the query path and qa gaps
    ("text", ("qa.corpus", "qa.chunking", "qa.faq", "qa.documents", "qa.inventory")),
    ("encoders", ("qa.encoders",)),
    ("index", ("qa.index",)),
    ("backends", ("qa.backends",)),
    ("query", ("qa.query",)),
    ("service", ("qa.requests", "qa.live", "qa.service", "qa.events")),
    ("interfaces", ("qa.serve", "qa.cli", "qa.evaluation", "qa.gaps")),
)
ROOT_PACKAGE = "qa"  # qa/__init__.py holds only the version: every layer may read it
# Modules of one package that stay independent of one another: the server's blueprints (what they share lives in
# qa.serve.request_body, error_codes, loaded and observe).
APART: tuple[tuple[str, ...], ...] = (("qa.serve.api", "qa.serve.feedback", "qa.serve.web"),)


def layer_of(module: str) -> int | None:
    if module == ROOT_PACKAGE:
        return -1
    for rank, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    return None


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, module: str) -> set[str]:
    """The qa modules a file imports (`from qa.x import y` counts qa.x.y when that is a module, else qa.x)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and _is_type_checking(node.test)
               for n in ast.walk(node)}
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == ROOT_PACKAGE)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node, package)
            if base.split(".")[0] != ROOT_PACKAGE:
                continue
            found.update(f"{base}.{a.name}" for a in node.names)
            found.add(base)
    return found


def _resolve(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    parts = package.split(".")
    base = parts[: len(parts) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def graph(root: Path) -> dict[str, set[str]]:
    """module -> the qa modules it imports (only names that are modules of the tree)."""
    files = {module_name(root, p): p for p in sorted((root / ROOT_PACKAGE).rglob("*.py"))}
    return {m: {i for i in imports_of(p, m) if i in files and i != m} for m, p in files.items()}


def violations(edges: dict[str, set[str]]) -> list[str]:
    out = []
    for module, targets in sorted(edges.items()):
        mine = layer_of(module)
        if mine is None:
            out.append(f"{module}: in no layer (add it to LAYERS in tools/import_graph.py)")
            continue
        for target in sorted(targets):
            theirs = layer_of(target)
            if theirs is not None and theirs > mine:
                out.append(f"{module} ({LAYERS[mine][0]}) imports {target} ({LAYERS[theirs][0]})")
    return out


def package_violations(edges: dict[str, set[str]]) -> list[str]:
    """Siblings of APART importing one another, and import cycles (each reported once, from its smallest module).
    A package and its own modules are left out of cycles: a registry's __init__ reaching its implementations, and
    a module importing from its package, are how a package works (qa.encoders, qa.backends)."""
    out = [f"{a} imports {b}, which APART keeps independent of it" for group in APART for a in group for b in group
           if a != b and b in edges.get(a, set())]
    seen: set[tuple[str, ...]] = set()
    for start in sorted(edges):
        for cycle in _cycles_from(start, edges):
            key = tuple(sorted(cycle))
            if key not in seen and min(cycle) == start:
                seen.add(key)
                out.append("import cycle: " + " -> ".join([*cycle, start]))
    return out


def _cycles_from(start: str, edges: dict[str, set[str]]) -> list[list[str]]:
    """Paths start -> ... -> start (depth-first; each module once per path)."""
    found: list[list[str]] = []
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    while stack:
        module, path = stack.pop()
        for target in sorted(edges.get(module, set())):
            if _within(module, target):
                continue
            if target == start:
                found.append(path)
            elif target not in path and target > start:  # a cycle through a smaller module is found from it
                stack.append((target, [*path, target]))
    return found


def _within(a: str, b: str) -> bool:
    return a.startswith(b + ".") or b.startswith(a + ".")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args(argv)
    edges = graph(args.root)
    by_layer: dict[str, list[str]] = {}
    for module in sorted(edges):
        rank = layer_of(module)
        by_layer.setdefault("?" if rank is None else ("root" if rank < 0 else LAYERS[rank][0]), []).append(module)
    for name in ["root", *(n for n, _ in LAYERS), "?"]:
        for module in by_layer.get(name, []):
            short = sorted(t.removeprefix("qa.") for t in edges[module])
            print(f"[{name}] {module} -> {', '.join(short) or '-'}")
    bad = violations(edges) + package_violations(edges)
    print(f"\n{len(edges)} modules, {sum(map(len, edges.values()))} imports, {len(bad)} upward or cyclic")
    for line in bad:
        print(f"VIOLATION: {line}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
