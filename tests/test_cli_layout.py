"""The shape of the command line package, checked with ast: small modules, small functions, commands
registered once and dispatched through the table, and the session never importing the CLI."""

import ast
from pathlib import Path

import locoder
from locoder import cli
from locoder.cli.registry import COMMANDS

PACKAGE = Path(locoder.__file__).parent
CLI = PACKAGE / "cli"
MAX_MODULE_LINES = 250
MAX_FUNCTION_LINES = 50


def trees(folder: Path):
    for path in sorted(folder.glob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def test_cli_is_a_package_of_small_modules():
    assert not (PACKAGE / "cli.py").exists()
    modules = dict(trees(CLI))
    assert len(modules) >= 10
    long = {p.name: n for p in modules if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_no_function_in_cli_is_long():
    long = {}
    for path, tree in trees(CLI):
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                if node.end_lineno - start + 1 > MAX_FUNCTION_LINES:
                    long[f"{path.name}:{node.name}"] = node.end_lineno - start + 1
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_every_command_is_registered_once_and_in_the_help_order():
    assert sorted(cli.ORDER) == sorted(COMMANDS) and len(set(cli.ORDER)) == len(cli.ORDER)
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert list(sub.choices) == list(cli.ORDER)


def test_no_dispatch_by_comparing_command_names():
    """``args.command == "grep"`` or ``args.action in (...)`` chains picking a command: the table does that."""
    for path, tree in trees(CLI):
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare) and isinstance(node.left, ast.Attribute):
                assert node.left.attr != "command", f"{path.name}:{node.lineno} dispatches on args.command"


def test_workspace_is_defined_once():
    spelled = [(path.name, node.lineno) for path, tree in trees(CLI) for node in ast.walk(tree)
               if isinstance(node, ast.Constant) and node.value == "--workspace"]
    assert len(spelled) == 1, spelled


def test_the_session_never_imports_the_cli():
    for path, tree in trees(PACKAGE / "agent"):
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not [n for n in names if n == "locoder.cli" or n.startswith("locoder.cli.")], path.name


def test_help_imports_only_the_cli():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "locoder", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    imported = {line.split("|")[-1].strip().split(".")[0] for line in out.stderr.splitlines() if "|" in line}
    assert not imported & {"numpy", "httpx", "rich", "prompt_toolkit", "tree_sitter", "pathspec", "sqlite3"}
