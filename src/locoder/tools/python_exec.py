"""run_python: run a short Python snippet in the workspace, after a static check of what it uses.

``check_python`` is a speed bump, not a sandbox: it refuses the obvious ways a snippet could reach the
system (``import os``, ``eval``, ``().__class__.__bases__``, writing files) so that a model uses the tool
for computing and reading, and ``run_command`` for shell work. A determined snippet can still get past an
AST check (``getattr(x, '__cl' + 'ass__')``); the sandbox the command runs in is the real defence.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

from locoder.exceptions import ToolError
from locoder.tools.base import ToolContext, tool
from locoder.tools.paths import resolve_in_workspace

_SYSTEM = "run_python may not touch the system; use run_command for shell work"
_DYNAMIC = "run_python runs the code it is shown, not code loaded or built at run time; write the code out"
_UNPICKLE = "loading its data can run arbitrary code; use json"
_NETWORK = "run_python does not open network connections; use download_file or search_web"

# Module (or dotted prefix) -> why importing it is refused.
BLOCKED_MODULES: dict[str, str] = {
    **dict.fromkeys(["os", "posix", "nt", "subprocess", "_posixsubprocess", "sys", "shutil", "pty", "signal",
                     "multiprocessing", "ctypes", "_ctypes", "gc", "asyncio.subprocess"], _SYSTEM),
    **dict.fromkeys(["builtins", "importlib", "code", "codeop", "runpy", "pdb", "imp", "zipimport"], _DYNAMIC),
    **dict.fromkeys(["pickle", "_pickle", "marshal", "shelve", "dill"], _UNPICKLE),
    **dict.fromkeys(["socket", "_socket", "socketserver", "http.client", "http.server", "urllib.request",
                     "ftplib", "smtplib", "telnetlib"], _NETWORK),
}

# Builtins refused whenever they are named, called or not (``e = eval`` is as bad as ``eval(...)``).
BLOCKED_BUILTINS: dict[str, str] = {
    **dict.fromkeys(["eval", "exec", "compile", "__import__"], _DYNAMIC),
    **dict.fromkeys(["globals", "locals", "vars"], "it exposes the interpreter's namespaces, a way around "
                    "this check; use the variables directly"),
    "breakpoint": "there is no terminal to debug in; print what you want to see",
    "__builtins__": "it exposes every builtin, a way around this check",
    "__loader__": _DYNAMIC,
    "__spec__": _DYNAMIC,
}
# Builtins refused only when called, because programs commonly use the name for their own variables.
CALL_ONLY = {"input": "there is no terminal to answer it; put the data in the code or read it from a file"}

_INTERNALS = "it reaches interpreter internals, the usual way around this check"
BLOCKED_ATTRIBUTES: dict[str, str] = {
    **dict.fromkeys(["__builtins__", "__globals__", "__subclasses__", "__bases__", "__base__", "__mro__",
                     "__code__", "__getattribute__", "__import__", "__loader__", "__spec__", "__self__",
                     "__func__", "__closure__", "__reduce__", "__reduce_ex__", "f_globals", "f_locals",
                     "f_builtins", "f_back", "tb_frame", "gi_frame", "cr_frame", "ag_frame", "gi_code",
                     "co_code"], _INTERNALS),
    "__class__": f"{_INTERNALS}; use type(x) instead",
    "__dict__": f"{_INTERNALS}; use the attributes by name, or dataclasses.asdict",
    "create_subprocess_exec": _SYSTEM,
    "create_subprocess_shell": _SYSTEM,
    "subprocess_exec": _SYSTEM,
    "subprocess_shell": _SYSTEM,
}
# Names of refused modules that other modules re-export (``pathlib.os``); other refused names such as
# ``signal`` or ``code`` are too common as attributes (``scipy.signal``, ``err.code``) to refuse there.
LAUNDERED = {"os", "posix", "nt", "sys", "subprocess", "_posixsubprocess", "builtins", "importlib", "shutil",
             "ctypes"}
HARMLESS_DUNDERS = {"__name__", "__qualname__", "__doc__", "__module__", "__version__", "__file__",
                    "__annotations__"}
_WRITE_MODE = re.compile(r"^[rwxabt+U]{1,4}$")
_READ_ONLY = "run_python only reads files; use write_file or edit_file to change files"
_DUNDER = re.compile(r"^__\w+__$")


def _blocked_module(name: str) -> tuple[str, str] | None:
    for blocked, why in BLOCKED_MODULES.items():
        if name == blocked or name.startswith(blocked + "."):
            return blocked, why
    return None


def _import_problem(node: ast.Import | ast.ImportFrom) -> str | None:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif node.level or not node.module:
        return None  # a relative import cannot name a top-level module
    else:
        # ``from urllib import request`` is ``urllib.request``; ``from pathlib import os`` launders ``os``.
        names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        names += [a.name for a in node.names if a.name in LAUNDERED]
    for name in names:
        hit = _blocked_module(name)
        if hit:
            return f"imports {hit[0]}: {hit[1]}"
    return None


def _string(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _call_problem(node: ast.Call) -> str | None:
    func = node.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
    if isinstance(func, ast.Name) and name in CALL_ONLY:
        return f"calls {name}(): {CALL_ONLY[name]}"
    if name in ("getattr", "setattr", "delattr") and isinstance(func, ast.Name) and len(node.args) > 1:
        attr = _string(node.args[1])
        if attr and _DUNDER.match(attr) and attr not in HARMLESS_DUNDERS:
            return f"calls {name}() with {attr!r}: {BLOCKED_ATTRIBUTES.get(attr, _INTERNALS)}"
    if name == "open":
        modes = [_string(kw.value) for kw in node.keywords if kw.arg == "mode"]
        # builtin open(file, mode); Path.open(mode)
        modes.append(_string(node.args[1]) if isinstance(func, ast.Name) and len(node.args) > 1 else None)
        modes.append(_string(node.args[0]) if isinstance(func, ast.Attribute) and node.args else None)
        for mode in modes:
            if mode and _WRITE_MODE.match(mode) and set(mode) & set("wax+"):
                return f"opens a file with mode {mode!r}: {_READ_ONLY}"
    return None


def _node_problem(node: ast.AST) -> str | None:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return _import_problem(node)
    if isinstance(node, ast.Call):
        return _call_problem(node)
    if isinstance(node, ast.Name) and node.id in BLOCKED_BUILTINS:
        parent = getattr(node, "parent", None)
        use = "calls" if isinstance(parent, ast.Call) and parent.func is node else "uses"
        return f"{use} {node.id}: {BLOCKED_BUILTINS[node.id]}"
    if isinstance(node, ast.Attribute):
        if node.attr in BLOCKED_ATTRIBUTES:
            return f"uses .{node.attr}: {BLOCKED_ATTRIBUTES[node.attr]}"
        if node.attr in LAUNDERED:
            # ``pathlib.os.system`` reaches a refused module through one that is allowed.
            return f"uses .{node.attr}, the {node.attr} module: {BLOCKED_MODULES[node.attr]}"
    return None


def check_python(code: str) -> None:
    """Refuse a snippet that uses what ``run_python`` does not allow; raise ``ToolError`` saying what and why."""
    try:
        tree = ast.parse(code, filename="<snippet>")
    except SyntaxError as exc:
        where = f"line {exc.lineno}" + (f", column {exc.offset}" if exc.offset else "")
        text = f":\n    {exc.text.rstrip()}" if exc.text and exc.text.strip() else ""
        raise ToolError(f"syntax error on {where}: {exc.msg}{text}") from None
    except ValueError as exc:  # null bytes
        raise ToolError(f"the code cannot be parsed: {exc}") from None
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            child.parent = parent  # type: ignore[attr-defined]
    problems = []
    for node in ast.walk(tree):
        problem = _node_problem(node)
        if problem:
            problems.append((getattr(node, "lineno", 0), getattr(node, "col_offset", 0), problem))
    if problems:
        problems.sort()
        lines = [f"line {line}: {problem}" for line, _, problem in problems[:5]]
        more = f"\n(and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise ToolError("run_python refused this code:\n" + "\n".join(lines) + more)


# -I ignores PYTHON* variables and the user's site-packages, and leaves the script's folder off sys.path;
# the bootstrap puts the workspace (the working folder) first instead, so the snippet can import its modules,
# and compiles with the snippet's own file name so tracebacks show the snippet's line numbers.
_BOOTSTRAP = (
    "import sys; sys.path.insert(0, ''); p = sys.argv[1]; sys.argv = sys.argv[1:]; "
    "c = compile(open(p, encoding='utf-8').read(), p, 'exec'); "
    "exec(c, {'__name__': '__main__', '__file__': p, '__builtins__': __builtins__})"
)
_BOOTSTRAP_FRAME = '  File "<string>", line 1, in <module>\n'


def _preview(workspace: Any, args: dict[str, Any]) -> str:
    return str(args.get("code", ""))


@tool(effects="run", subject="code", preview=_preview, syntax="python")
def run_python(ctx: ToolContext, code: str, timeout: int | None = None) -> str:
    """Run a short Python snippet (not a file) and show its output, to compute or check something quickly.
    To run a file or a program, use run_command (e.g. python3 hello.py). It may not import os, subprocess
    or sys, write files or use eval/exec.

    Args:
        code: The Python code to run; print what you want to see.
        timeout: Seconds before the snippet is killed (default from settings).
    """
    check_python(code)
    tmp_dir = resolve_in_workspace(ctx.workspace, str(ctx.state_paths.scratch(ctx.workspace)))
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="snippet-", suffix=".py")
    script = Path(name)
    relative = script.relative_to(resolve_in_workspace(ctx.workspace, "."))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(code)
        command = f"{shlex.quote(sys.executable)} -I -c {shlex.quote(_BOOTSTRAP)} {shlex.quote(str(relative))}"
        result = ctx.run(command, float(timeout) if timeout else None)
    finally:
        script.unlink(missing_ok=True)
    output = result.output.replace(_BOOTSTRAP_FRAME, "").strip() or "(no output)"
    return f"[{result.status}]\n{output}"
