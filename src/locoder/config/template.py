"""Config files with comments, written from the settings' own field docstrings (one source of truth)."""

from __future__ import annotations

import ast
import inspect
import json
from dataclasses import fields

from locoder.config.settings import Settings


def field_docs() -> dict[str, str]:
    """The docstring written under each field of ``Settings``."""
    tree = ast.parse(inspect.getsource(Settings))
    body = tree.body[0].body
    docs = {}
    for node, following in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) \
                and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant) \
                and isinstance(following.value.value, str):
            docs[node.target.id] = inspect.cleandoc(following.value.value)
    return docs


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def settings_toml(names: list[str], header: str) -> str:
    """A TOML fragment with each setting in ``names`` at its default, under its description as comments."""
    docs, defaults = field_docs(), {f.name: f.default for f in fields(Settings)}
    out = [f"# {line}".rstrip() for line in header.splitlines()]
    for name in names:
        out.append("")
        out += [f"# {line}".rstrip() for line in docs.get(name, "").splitlines()]
        out.append(f"{name} = {toml_value(defaults[name])}")
    return "\n".join(out) + "\n"
