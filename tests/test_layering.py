"""The folder READMEs' "May import:" rules hold, and no two folders import each other.

Each ``src/locoder/<folder>/README.md`` has a paragraph starting ``May import:``; every ``locoder.*`` name
written in backticks there is allowed to that folder's modules (a name allows its submodules too:
``locoder.index`` allows ``locoder.index.store``). The paragraph ends at a blank line or at a sentence starting
with "Never" or "Not", so what a folder must never import can be said beside it without being allowed.
Every ``locoder.*`` import of every module in the folder (at module level, inside functions, under
``TYPE_CHECKING``; absolute or relative) must be allowed or be of the folder itself. The CLI is the top of the
house and may import anything.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
TOP = {"cli"}
"""Folders that stand above every other and are not checked against a README (the CLI)."""

_RULE_START = re.compile(r"^May import:", re.MULTILINE)
_RULE_STOP = re.compile(r"(?:[.;]\s+|\n)(?:Never|Not)\b")
_NAME = re.compile(r"`(locoder(?:\.[A-Za-z_][A-Za-z0-9_]*)+)`")


def allowed_imports(readme: str) -> set[str] | None:
    """The ``locoder.*`` names a README's "May import:" paragraphs allow; None when it states no rule."""
    allowed: set[str] | None = None
    for start in _RULE_START.finditer(readme):
        paragraph = readme[start.start():].split("\n\n", 1)[0]
        stop = _RULE_STOP.search(paragraph)
        allowed = (allowed or set()) | set(_NAME.findall(paragraph[: stop.start() if stop else None]))
    return allowed


def _package_of(path: Path, src: Path) -> list[str]:
    parts = list(path.relative_to(src).with_suffix("").parts)
    return parts[:-1]


def imported_names(path: Path, src: Path) -> Iterator[tuple[int, list[str]]]:
    """Each import in a module as (line, candidates); the import is allowed when any candidate
    is. ``from a.b import c`` gives ``a.b.c`` and ``a.b`` (c may be a submodule or a name in a.b)."""
    package = _package_of(path, src)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, [alias.name]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                yield node.lineno, [f"{module}.{alias.name}", module]


def _locoder_only(candidates: list[str]) -> list[str]:
    return [name for name in candidates if name == "locoder" or name.startswith("locoder.")]


def _folders(src: Path) -> list[Path]:
    root = src / "locoder"
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name != "__pycache__" and any(p.rglob("*.py")))


def _modules(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _allows(rules: set[str], name: str) -> bool:
    return any(name == rule or name.startswith(rule + ".") for rule in rules)


def violations(src: Path) -> list[str]:
    """Every import a folder's README does not allow, and every folder without a rule, one line each."""
    found: list[str] = []
    for folder in _folders(src):
        if folder.name in TOP:
            continue
        readme = folder / "README.md"
        rules = allowed_imports(readme.read_text(encoding="utf-8")) if readme.is_file() else None
        if rules is None:
            found.append(f"{folder.relative_to(src)}: no README.md with a 'May import:' line")
            continue
        own = f"locoder.{folder.name}"
        for module in _modules(folder):
            for line, candidates in sorted(imported_names(module, src)):
                names = _locoder_only(candidates)
                if not names or any(_allows(rules | {own}, name) for name in names):
                    continue
                shown = names[-1] if names[-1] != "locoder" else names[0]
                found.append(f"{module.relative_to(src)}:{line} imports {shown}, "
                             f"which {readme.relative_to(src)} does not allow")
    return found


def _node_of(name: str, root: Path) -> str | None:
    """The folder or top-level module a ``locoder.*`` name belongs to; "locoder" for the package's face."""
    parts = name.split(".")
    if parts[0] != "locoder":
        return None
    if len(parts) == 1:
        return "locoder"
    head = parts[1]
    return head if (root / head).is_dir() or (root / f"{head}.py").is_file() else "locoder"


def folder_graph(src: Path) -> dict[str, set[str]]:
    """Which folder (or top-level module) imports which, from every module of the package."""
    root = src / "locoder"
    graph: dict[str, set[str]] = {}
    for module in sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts):
        rel = module.relative_to(root)
        here = rel.parts[0] if len(rel.parts) > 1 else ("locoder" if rel.stem == "__init__" else rel.stem)
        targets = graph.setdefault(here, set())
        for _, candidates in imported_names(module, src):
            names = _locoder_only(candidates)
            if names:  # the longest candidate names the module itself, not the package it comes from
                node = _node_of(names[0], root)
                if node and node != here:
                    targets.add(node)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path that returns to its start, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


# The house itself.

def test_every_folder_imports_only_what_its_readme_allows() -> None:
    found = violations(SRC)
    assert not found, "imports the folder READMEs do not allow (fix the import, or the README):\n" + "\n".join(found)


def test_no_import_cycle_between_folders() -> None:
    graph = folder_graph(SRC)
    assert {"agent", "tools", "index", "events"} <= set(graph)
    cycle = find_cycle(graph)
    assert cycle is None, "folders import each other: " + " -> ".join(cycle or [])


# The checker, on a small fake house.

def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_rules_end_at_a_blank_line_or_a_never_sentence() -> None:
    readme = ("# x/\n\nText naming `locoder.agent`.\n\nMay import: the standard library, `locoder.atomic`\n"
              "(`write_atomic`, `locoder.x.y` named in passing), `locoder.index.files`.\n"
              "Never `locoder.agent` or `locoder.cli`.\n\nMore text about `locoder.tools`.\n")
    assert allowed_imports(readme) == {"locoder.atomic", "locoder.x.y", "locoder.index.files"}
    inline = "May import: `locoder.tasks` (`peers.py`). Not `locoder.agent`\nor `locoder.cli`.\n"
    assert allowed_imports(inline) == {"locoder.tasks"}
    assert allowed_imports("May import: the standard library only.\n") == set()
    assert allowed_imports("# x/\n\nNo rule here.\n") is None


def test_checker_catches_imports_the_readme_does_not_allow(tmp_path: Path) -> None:
    src = _write(tmp_path, {
        "locoder/__init__.py": "",
        "locoder/kernel.py": "",
        "locoder/high/README.md": "May import: `locoder.low`.\n",
        "locoder/high/__init__.py": "from locoder.low import a\n",
        "locoder/low/README.md": "May import: `locoder.kernel` and `locoder.other.ok`.\nNever `locoder.high`.\n",
        "locoder/low/__init__.py": "",
        "locoder/low/a.py": ("from . import b\nfrom ..kernel import thing\nfrom locoder.other import ok\n"
                             "def f():\n    from locoder.high import x\n    return x\n"),
        "locoder/low/b.py": "import locoder.other.bad\nfrom ..high import y\nfrom locoder import kernel\n",
        "locoder/other/__init__.py": "",
        "locoder/cli.py": "from locoder.high import a\nfrom locoder.low import a\n",
    })
    found = violations(src)
    assert found == [
        "locoder/low/a.py:5 imports locoder.high, which locoder/low/README.md does not allow",
        "locoder/low/b.py:1 imports locoder.other.bad, which locoder/low/README.md does not allow",
        "locoder/low/b.py:2 imports locoder.high, which locoder/low/README.md does not allow",
        "locoder/other: no README.md with a 'May import:' line",
    ]
    graph = folder_graph(src)
    assert graph["cli"] == {"high", "low"}
    assert find_cycle(graph) == ["high", "low", "high"]


def test_checker_passes_a_fake_house_that_keeps_its_rules(tmp_path: Path) -> None:
    src = _write(tmp_path, {
        "locoder/kernel.py": "",
        "locoder/high/README.md": "May import: `locoder.low`, `locoder.kernel`.\n",
        "locoder/high/h.py": "from locoder.low.a import f\nfrom locoder import kernel\n",
        "locoder/low/README.md": "May import: the standard library only.\n",
        "locoder/low/a.py": "import os\nfrom .b import g\n",
        "locoder/low/b.py": "def g():\n    from locoder.low import a\n",
    })
    assert violations(src) == []
    assert find_cycle(folder_graph(src)) is None
