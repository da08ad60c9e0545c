"""Which calls do the lab notebooks make: this project's helpers, or the ecosystem's own API?

Counts, on the AST of each notebook's code cells, the calls whose callee is rooted in a name imported
from ``genai_course`` (``from genai_course.x import f`` then ``f(...)``; ``from genai_course import
finetune as ft`` then ``ft.f(...)``), and the calls rooted in names imported from the Hugging Face
libraries the course teaches (transformers, datasets, peft, trl, evaluate, tokenizers, bm25s, torchao)
or in objects those calls returned (``model = AutoModel...from_pretrained(...)``, then
``model.generate(...)``). The second count follows assignments in order, cell after cell, so it is a
fair reading of what a learner types, not a proof.

    python benchmarks/notebook_calls.py [--json]
"""

from __future__ import annotations

import argparse
import ast
import json
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
ECOSYSTEM = ("transformers", "datasets", "peft", "trl", "evaluate", "tokenizers", "bm25s", "torchao")


def _root(node: ast.AST) -> str | None:
    """The name a callee or attribute chain starts from (``a`` in ``a.b(c).d``)."""
    while True:
        if isinstance(node, ast.Attribute):
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Subscript):
            node = node.value
        elif isinstance(node, ast.Name):
            return node.id
        else:
            return None


def _package(module: str | None) -> str:
    return (module or "").split(".")[0]


def code_of(notebook: Path) -> list[ast.Module]:
    """The parsed code cells (IPython magics and shell lines dropped)."""
    cells = []
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        lines = [line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!"))]
        cells.append(ast.parse("\n".join(lines)))
    return cells


def count_calls(notebook: Path) -> dict[str, object]:
    """``{"ours": n, "ecosystem": n, "ecosystem_names": sorted callee spellings}`` for one notebook."""
    ours_names: set[str] = set()
    eco_names: set[str] = set()
    ours = eco = 0
    spelled: set[str] = set()
    for tree in code_of(notebook):
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = ours_names if _package(node.module) == "genai_course" else None
                target = eco_names if _package(node.module) in ECOSYSTEM else target
                if target is not None:
                    target.update(alias.asname or alias.name for alias in node.names)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if _package(alias.name) == "genai_course":
                        ours_names.add(alias.asname or alias.name.split(".")[0])
                    elif _package(alias.name) in ECOSYSTEM:
                        eco_names.add(alias.asname or alias.name.split(".")[0])
        # Assignments in source order: an object an ecosystem call returned is the ecosystem's.
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign | ast.AnnAssign):
                value = node.value
                if value is not None and isinstance(value, ast.Call) and _root(value) in eco_names:
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    for target in targets:
                        for name in ast.walk(target):
                            if isinstance(name, ast.Name):
                                eco_names.add(name.id)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                root = _root(node.func)
                if root in ours_names:
                    ours += 1
                elif root in eco_names:
                    eco += 1
                    spelled.add(ast.unparse(node.func).split("(")[0])
    return {"ours": ours, "ecosystem": eco, "ecosystem_names": sorted(spelled)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the counts as JSON")
    args = parser.parse_args()
    counts = {path.stem: count_calls(path) for path in sorted(NOTEBOOKS.glob("lab*.ipynb"))}
    if args.json:
        print(json.dumps(counts, indent=1))
        return
    print(f"{'notebook':28}{'genai_course calls':>20}{'ecosystem calls':>17}")
    for name, count in counts.items():
        print(f"{name:28}{count['ours']:>20}{count['ecosystem']:>17}")
    print(f"{'all':28}{sum(c['ours'] for c in counts.values()):>20}{sum(c['ecosystem'] for c in counts.values()):>17}")


if __name__ == "__main__":
    main()
