"""Print the import graph of the `qa` package by layer and fail if a module imports one of a layer above it.

    python tools/import_graph.py            # the graph of ./qa, one line per module, then any upward import
    python tools/import_graph.py --root DIR # another checkout (DIR/qa)

Layers, lowest first; a module may import its own layer and those below. Imports inside functions count too
(they are how the CLI and the server defer heavy imports), `if TYPE_CHECKING:` blocks do not.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

# (layer name, module prefixes); the first prefix that matches a module decides its layer.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # qa.results: the typed records the query path and the service return (plain data, importing nothing of qa)
    ("base", ("qa.errors", "qa.config", "qa.normalize", "qa.script", "qa.tokens", "qa.results")),
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
    bad = violations(edges)
    print(f"\n{len(edges)} modules, {sum(map(len, edges.values()))} imports, {len(bad)} upward")
    for line in bad:
        print(f"UPWARD: {line}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
