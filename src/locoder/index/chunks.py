"""Cutting a file into chunks: definitions (functions, classes, methods, types) with their signatures and
docstrings, from tree-sitter, for the languages below; windows of lines for everything else."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

MAX_LINES = 80
"""A definition longer than this is cut into parts, each headed by its signature."""
WINDOW = 40
"""Lines per plain-text window (and per window of top-level code between definitions)."""


@dataclass
class Chunk:
    path: str
    start: int
    """First line, 1-based."""
    end: int
    """Last line, inclusive."""
    kind: str
    """function, method, class, interface, type, impl, module (top-level code) or text."""
    name: str = ""
    qualname: str = ""
    signature: str = ""
    doc: str = ""
    text: str = ""


@dataclass(frozen=True)
class LanguageSpec:
    name: str
    module: str
    entry: str
    definitions: dict[str, str]
    """Node type -> kind."""
    containers: frozenset[str] = field(default_factory=frozenset)
    """Node types whose nested functions are methods."""


LANGUAGES: dict[str, LanguageSpec] = {}


def _register(spec: LanguageSpec, *suffixes: str) -> None:
    for suffix in suffixes:
        LANGUAGES[suffix] = spec


_JS_DEFS = {"function_declaration": "function", "generator_function_declaration": "function",
            "class_declaration": "class", "method_definition": "method", "variable_declarator": "function"}
_TS_DEFS = {**_JS_DEFS, "interface_declaration": "interface", "type_alias_declaration": "type",
            "enum_declaration": "type", "abstract_class_declaration": "class"}
_register(LanguageSpec("python", "tree_sitter_python", "language",
                       {"function_definition": "function", "class_definition": "class"},
                       frozenset({"class_definition"})), ".py", ".pyi")
_register(LanguageSpec("javascript", "tree_sitter_javascript", "language", _JS_DEFS,
                       frozenset({"class_declaration", "class"})), ".js", ".mjs", ".cjs", ".jsx")
_register(LanguageSpec("typescript", "tree_sitter_typescript", "language_typescript", _TS_DEFS,
                       frozenset({"class_declaration", "abstract_class_declaration", "interface_declaration"})), ".ts", ".mts", ".cts")
_register(LanguageSpec("tsx", "tree_sitter_typescript", "language_tsx", _TS_DEFS,
                       frozenset({"class_declaration", "abstract_class_declaration", "interface_declaration"})), ".tsx")
_register(LanguageSpec("go", "tree_sitter_go", "language",
                       {"function_declaration": "function", "method_declaration": "method", "type_spec": "type"}), ".go")
_register(LanguageSpec("rust", "tree_sitter_rust", "language",
                       {"function_item": "function", "struct_item": "type", "enum_item": "type", "trait_item": "interface",
                        "impl_item": "impl", "mod_item": "module", "macro_definition": "function",
                        "function_signature_item": "function"},
                       frozenset({"impl_item", "trait_item"})), ".rs")
_register(LanguageSpec("java", "tree_sitter_java", "language",
                       {"class_declaration": "class", "interface_declaration": "interface", "enum_declaration": "type",
                        "record_declaration": "class", "method_declaration": "method",
                        "constructor_declaration": "method"},
                       frozenset({"class_declaration", "interface_declaration", "enum_declaration", "record_declaration"})),
          ".java")

COMMENTS = frozenset({"comment", "line_comment", "block_comment"})
WRAPPERS = frozenset({"decorated_definition", "export_statement", "lexical_declaration", "variable_declaration",
                      "type_declaration"})
"""Nodes around a definition that belong to it: decorators, ``export``, ``const``, Go's ``type``."""
FUNCTION_VALUES = frozenset({"arrow_function", "function_expression", "function", "generator_function"})


def language_of(path: str) -> str:
    """The language name for a path ("" when it is chunked as plain text)."""
    dot = path.rfind(".")
    spec = LANGUAGES.get(path[dot:].lower()) if dot >= 0 else None
    return spec.name if spec else ""


@cache
def _parser(module: str, entry: str):
    """A tree-sitter parser, or None when the grammar's package is not installed."""
    import importlib

    try:
        from tree_sitter import Language, Parser

        grammar = importlib.import_module(module)
    except ImportError:
        return None
    return Parser(Language(getattr(grammar, entry)()))


def parse_errors(path: str, source: bytes) -> list[int] | None:
    """Lines where tree-sitter finds a syntax error in ``source``; None when the language has no grammar here."""
    dot = path.rfind(".")
    spec = LANGUAGES.get(path[dot:].lower()) if dot >= 0 else None
    parser = _parser(spec.module, spec.entry) if spec else None
    if parser is None:
        return None
    root = parser.parse(source).root_node
    if not root.has_error:
        return []
    lines: list[int] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node.type == "ERROR" or node.is_missing:
            lines.append(node.start_point[0] + 1)
        elif node.has_error:
            stack.extend(node.children)
    return sorted(set(lines)) or [root.start_point[0] + 1]


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Extractor:
    def __init__(self, path: str, source: bytes, spec: LanguageSpec) -> None:
        self.path, self.source, self.spec = path, source, spec
        self.lines = source.decode("utf-8", "replace").splitlines()
        self.defs: list[Chunk] = []

    def text(self, node) -> str:
        return self.source[node.start_byte:node.end_byte].decode("utf-8", "replace")

    def name_of(self, node) -> str:
        for field_name in ("name", "type"):
            child = node.child_by_field_name(field_name)
            if child is not None:
                return self.text(child).split("<", 1)[0].strip()
        return ""

    def receiver(self, node) -> str:
        """The type a Go method belongs to."""
        receiver = node.child_by_field_name("receiver")
        match = re.search(r"\*?\s*([A-Za-z_]\w*)\s*(?:\[[^\]]*\])?\s*\)", self.text(receiver)) if receiver else None
        return match.group(1) if match else ""

    def signature(self, node) -> str:
        body = node.child_by_field_name("body")
        if node.type == "variable_declarator":
            value = node.child_by_field_name("value")
            body = value.child_by_field_name("body") if value is not None else None
        end = body.start_byte if body is not None else node.end_byte
        head = self.source[node.start_byte:end].decode("utf-8", "replace")
        if body is None:
            head = head.split("\n", 1)[0]
        return _one_line(head.rstrip(" {:\n"))

    def docstring(self, node, outer) -> str:
        if self.spec.name == "python":
            body = node.child_by_field_name("body")
            first = body.named_children[0] if body is not None and body.named_children else None
            if first is not None and first.type == "expression_statement" and first.named_children \
                    and first.named_children[0].type == "string":
                raw = self.text(first.named_children[0])
                body = re.sub(r"^[rRbBuUfF]*(\"\"\"|'''|\"|')", "", raw)
                return re.sub(r"(\"\"\"|'''|\"|')$", "", body).strip()
            return ""
        comments = []
        sibling = outer.prev_sibling
        row = outer.start_point[0]
        while sibling is not None and sibling.type in COMMENTS and sibling.end_point[0] >= row - 1:
            comments.append(self.text(sibling))
            row = sibling.start_point[0]
            sibling = sibling.prev_sibling
        self.doc_row = row
        lines = [re.sub(r"^\s*(/\*\*?|\*/|\*|///?|//!|#)\s?", "", line).rstrip("*/ ").strip()
                 for c in reversed(comments) for line in c.splitlines()]
        return "\n".join(line for line in lines if line)

    def walk(self, node, parents: list[str], in_container: bool) -> None:
        for child in node.named_children:
            kind = self.spec.definitions.get(child.type)
            if child.type == "variable_declarator":
                value = child.child_by_field_name("value")
                if value is None or value.type not in FUNCTION_VALUES:
                    kind = None
            if kind is None:
                self.walk(child, parents, in_container)
                continue
            outer = child
            # Decorators, `export`, and `const` belong to the definition's range.
            while outer.parent is not None and outer.parent.type in WRAPPERS and len(outer.parent.named_children) <= 3:
                outer = outer.parent
            if kind == "function" and in_container:
                kind = "method"
            name = self.name_of(child)
            owner = self.receiver(child) if child.type == "method_declaration" and self.spec.name == "go" else ""
            qual = ".".join([*parents, *([owner] if owner else []), name]) if name else ".".join(parents)
            self.doc_row = outer.start_point[0]
            doc = self.docstring(child, outer)
            # A leading doc comment belongs to the definition's lines.
            self.defs.append(Chunk(self.path, self.doc_row + 1, outer.end_point[0] + 1, kind, name, qual,
                                   self.signature(child), doc))
            # Members of classes (impls, traits, modules) are chunks of their own; a function's inner
            # functions stay part of it.
            is_container = child.type in self.spec.containers
            if is_container or kind == "module":
                self.walk(child, [*parents, name] if name else parents, is_container)


def _windows(path: str, lines: list[str], start: int, end: int, kind: str, header: str = "") -> list[Chunk]:
    """Windows of at most WINDOW lines over lines[start-1:end], blank-only windows dropped."""
    out = []
    for first in range(start, end + 1, WINDOW):
        last = min(first + WINDOW - 1, end)
        body = "\n".join(lines[first - 1:last])
        if body.strip():
            text = f"{header}\n{body}" if header and first != start else body
            out.append(Chunk(path, first, last, kind, text=text))
    return out


DOC_SUFFIXES = (".md", ".markdown", ".rst", ".html", ".htm")
MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
HTML_HEADING = re.compile(r"<h([1-6])[^>]*>(.*?)</h\1>", re.I | re.S)
RST_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+:.])\1{2,}\s*$")


def _headings(path: str, lines: list[str]) -> list[tuple[int, int, str]]:
    """(line, level, title) of each heading of a Markdown, reStructuredText or HTML file."""
    out: list[tuple[int, int, str]] = []
    lower = path.lower()
    if lower.endswith((".md", ".markdown")):
        fenced = False
        for i, line in enumerate(lines, 1):
            if line.lstrip().startswith(("```", "~~~")):
                fenced = not fenced
            elif not fenced and (m := MD_HEADING.match(line)):
                out.append((i, len(m.group(1)), m.group(2)))
    elif lower.endswith(".rst"):
        levels: list[str] = []
        for i in range(1, len(lines)):
            title, under = lines[i - 1].strip(), lines[i]
            if title and RST_UNDERLINE.match(under) and len(under.strip()) >= len(title) and not RST_UNDERLINE.match(title):
                if under[0] not in levels:
                    levels.append(under[0])
                out.append((i, levels.index(under[0]) + 1, title))
    else:
        for i, line in enumerate(lines, 1):
            for m in HTML_HEADING.finditer(line):
                out.append((i, int(m.group(1)), re.sub(r"<[^>]+>", "", m.group(2)).strip()))
    return out


def _sections(path: str, lines: list[str]) -> list[Chunk]:
    """A document cut at its headings: each section (heading and text up to the next heading) is a chunk
    named by its heading's path ("Install > From source"); long sections become windows headed by it."""
    heads = _headings(path, lines)
    if not heads:
        return _windows(path, lines, 1, len(lines), "text")
    html = path.lower().endswith((".html", ".htm"))
    out: list[Chunk] = []
    if heads[0][0] > 1:
        out += _windows(path, lines, 1, heads[0][0] - 1, "text")
    trail: list[tuple[int, str]] = []
    for n, (line, level, title) in enumerate(heads):
        end = heads[n + 1][0] - 1 if n + 1 < len(heads) else len(lines)
        trail = [t for t in trail if t[0] < level] + [(level, title)]
        name = " > ".join(t for _, t in trail)
        parts = _windows(path, lines, line, end, "section", header=name)
        for part in parts:
            part.name, part.qualname, part.signature = title, name, name
            if html:
                part.text = re.sub(r"[ \t]+", " ", re.sub(r"<[^>]+>", " ", part.text)).strip()
        out += parts
    return out


def chunk_file(path: str, source: bytes) -> list[Chunk]:
    """The chunks of one file, in line order: definitions (and the parts of long ones), top-level code
    between them; sections of documents; or plain windows."""
    lines = source.decode("utf-8", "replace").splitlines()
    if path.lower().endswith(DOC_SUFFIXES):
        return _sections(path, lines)
    dot = path.rfind(".")
    spec = LANGUAGES.get(path[dot:].lower()) if dot >= 0 else None
    parser = _parser(spec.module, spec.entry) if spec else None
    if parser is None:
        return _windows(path, lines, 1, len(lines), "text")
    ex = _Extractor(path, source, spec)
    ex.walk(parser.parse(source).root_node, [], False)
    chunks: list[Chunk] = []
    for d in ex.defs:
        nested = [n for n in ex.defs if n is not d and d.start <= n.start and n.end <= d.end]
        if nested:
            # A class (impl, trait...) chunk: its own lines up to the first member, then member signatures.
            head_end = min(n.start for n in nested) - 1
            members = "\n".join(f"    {n.signature}" for n in nested if n.qualname.count(".") == d.qualname.count(".") + 1)
            d.text = "\n".join(lines[d.start - 1:max(head_end, d.start)]) + ("\n" + members if members else "")
            chunks.append(d)
        elif d.end - d.start + 1 > MAX_LINES:
            parts = _windows(path, lines, d.start, d.end, d.kind, header=d.signature)
            for i, part in enumerate(parts):
                part.name, part.qualname, part.signature = d.name, d.qualname, d.signature
                part.doc = d.doc if i == 0 else ""
            chunks += parts
        else:
            d.text = "\n".join(lines[d.start - 1:d.end])
            chunks.append(d)
    # Top-level code outside every definition (imports, constants, scripts).
    covered = bytearray(len(lines) + 2)
    for d in ex.defs:
        covered[d.start:d.end + 1] = b"\1" * (d.end - d.start + 1)
    run_start = None
    for line in range(1, len(lines) + 2):
        inside = line > len(lines) or covered[line]
        if not inside and run_start is None:
            run_start = line
        elif inside and run_start is not None:
            chunks += _windows(path, lines, run_start, line - 1, "module")
            run_start = None
    chunks.sort(key=lambda c: (c.start, -c.end))
    return chunks


IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def identifiers(text: str) -> dict[str, int]:
    """Identifiers used in a text (at least 3 characters), with counts: the references of the repo map."""
    counts: dict[str, int] = {}
    for name in IDENT.findall(text):
        if len(name) >= 3:
            counts[name] = counts.get(name, 0) + 1
    return counts
