"""Small, plausible bugs injected into Python source: find the sites, describe each as a ``Fault``, apply one.

Pure functions over source text. Sites are found with ``ast`` (operators located with ``tokenize``) and a
fault edits one exact span, so the rest of the file stays byte-identical. Positions are 1-based lines and
0-based *character* columns (not the UTF-8 byte offsets ``ast`` reports), so a ``Fault`` read back from
JSON applies to the text as any editor sees it.

Kinds (``KINDS``): ``boundary`` (``<`` <-> ``<=``, ``>`` <-> ``>=``), ``comparison`` (``==`` <-> ``!=``,
``is`` <-> ``is not``, ``in`` <-> ``not in``), ``arithmetic`` (``+`` <-> ``-``, ``*`` <-> ``//``, also in
``+=``/``-=``), ``constant`` (an integer literal off by one), ``slice`` (a slice bound off by one),
``boolean`` (``and`` <-> ``or``), ``negation`` (a ``not`` removed or added to an ``if``/``while`` test),
``default`` (a default argument's value changed), ``swap_args`` (two adjacent positional arguments of a
call swapped), ``delete`` (an augmented assignment or a one-line ``if`` guard deleted).
"""

from __future__ import annotations

import ast
import bisect
import io
import random
import re
import tokenize
from dataclasses import asdict, dataclass

KINDS = ("boundary", "comparison", "arithmetic", "constant", "slice", "boolean", "negation", "default",
         "swap_args", "delete")

_BOUNDARY = {ast.Lt: "<=", ast.LtE: "<", ast.Gt: ">=", ast.GtE: ">"}
_COMPARISON = {ast.Eq: "!=", ast.NotEq: "==", ast.Is: "is not", ast.IsNot: "is", ast.In: "not in",
               ast.NotIn: "in"}
_ARITHMETIC = {ast.Add: "-", ast.Sub: "+", ast.Mult: "//", ast.FloorDiv: "*"}
_BOOLEAN = {ast.And: "or", ast.Or: "and"}
# Swapping these arguments gives an error on the first call, not a bug anyone would write.
_NO_SWAP = {"isinstance", "issubclass", "getattr", "setattr", "hasattr", "super", "print", "format"}
_DECIMAL = re.compile(r"[0-9]+\Z")


class FaultMismatch(ValueError):
    """The text at a fault's span is not the fault's ``original``: the file is not the one it was made for."""


@dataclass(frozen=True)
class Fault:
    """One edit: replace ``original`` at [(line, col), (end_line, end_col)) of ``file`` by ``replacement``."""

    file: str
    kind: str
    line: int
    col: int
    end_line: int
    end_col: int
    original: str
    replacement: str

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Fault:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})

    def describe(self) -> str:
        return f"{self.kind} at {self.file}:{self.line}:{self.col}: {self.original!r} -> {self.replacement!r}"


def _line_starts(text: str) -> list[int]:
    starts = [0]
    starts.extend(match.end() for match in re.finditer(r"\r\n|\r|\n", text))
    return starts


def _offset(starts: list[int], line: int, col: int) -> int:
    if not 1 <= line <= len(starts):
        raise FaultMismatch(f"line {line} is outside the file ({len(starts)} lines)")
    return starts[line - 1] + col


def apply(text: str, fault: Fault) -> str:
    """``text`` with ``fault`` applied; raises ``FaultMismatch`` unless ``fault.original`` is at its span."""
    starts = _line_starts(text)
    start = _offset(starts, fault.line, fault.col)
    end = _offset(starts, fault.end_line, fault.end_col)
    found = text[start:end]
    if found != fault.original:
        raise FaultMismatch(
            f"{fault.file}:{fault.line}:{fault.col}: expected {fault.original!r}, found {found!r}"
        )
    return text[:start] + fault.replacement + text[end:]


def invert(fault: Fault) -> Fault:
    """The fault that undoes ``fault`` on the text it produced."""
    lines = fault.replacement.split("\n")
    end_line = fault.line + len(lines) - 1
    end_col = fault.col + len(lines[0]) if len(lines) == 1 else len(lines[-1])
    return Fault(fault.file, fault.kind, fault.line, fault.col, end_line, end_col, fault.replacement,
                 fault.original)


class _Source:
    """The text with position helpers: ast's byte columns to character columns, tokens by position."""

    def __init__(self, text: str, file: str):
        self.text = text
        self.file = file
        self.lines = text.splitlines(keepends=True)
        self.starts = _line_starts(text)
        self.tokens = [tok for tok in tokenize.generate_tokens(io.StringIO(text).readline)
                       if tok.type in (tokenize.OP, tokenize.NAME)]
        self.token_starts = [tok.start for tok in self.tokens]

    def char_col(self, line: int, byte_col: int) -> int:
        source = self.lines[line - 1] if line <= len(self.lines) else ""
        if source.isascii():
            return byte_col
        return len(source.encode("utf-8")[:byte_col].decode("utf-8", "replace"))

    def start(self, node: ast.AST) -> tuple[int, int]:
        return node.lineno, self.char_col(node.lineno, node.col_offset)

    def end(self, node: ast.AST) -> tuple[int, int]:
        return node.end_lineno, self.char_col(node.end_lineno, node.end_col_offset)

    def segment(self, start: tuple[int, int], end: tuple[int, int]) -> str:
        return self.text[_offset(self.starts, *start):_offset(self.starts, *end)]

    def fault(self, kind: str, start: tuple[int, int], end: tuple[int, int], replacement: str) -> Fault:
        return Fault(self.file, kind, start[0], start[1], end[0], end[1], self.segment(start, end), replacement)

    def node_fault(self, kind: str, node: ast.AST, replacement: str) -> Fault:
        return self.fault(kind, self.start(node), self.end(node), replacement)

    def operator(self, after: tuple[int, int], before: tuple[int, int]) -> tuple[tuple, tuple] | None:
        """The span of the operator tokens between two operands (parentheses skipped)."""
        found = []
        for tok in self.tokens[bisect.bisect_left(self.token_starts, after):]:
            if tok.start >= before:
                break
            if tok.end <= before and tok.string not in "()":
                found.append(tok)
        if not found:
            return None
        return found[0].start, found[-1].end


def _excluded(tree: ast.AST) -> set[int]:
    """Nodes never mutated: annotations, ``if TYPE_CHECKING``/``__main__`` blocks, ``__version__``/``__all__``."""
    skip: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.arg, ast.AnnAssign)) and node.annotation is not None:
            skip.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            skip.append(node.returns)
        elif _is_special(node):
            skip.append(node)
    return {id(inner) for outer in skip for inner in ast.walk(outer)}


def _is_special(node: ast.AST) -> bool:
    if isinstance(node, ast.If):
        test = ast.unparse(node.test)
        return "TYPE_CHECKING" in test or "__name__" in test
    return isinstance(node, ast.Assign) and any(
        isinstance(t, ast.Name) and t.id in ("__version__", "__all__", "__slots__") for t in node.targets)


def _is_int(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int


def _off_by_one(src: _Source, kind: str, node: ast.Constant) -> list[Fault]:
    start, end = src.start(node), src.end(node)
    literal = src.segment(start, end)
    if not _DECIMAL.match(literal):
        return []
    values = [node.value + 1] + ([node.value - 1] if node.value > 0 else [])
    return [src.fault(kind, start, end, str(value)) for value in values]


def _compare_faults(src: _Source, node: ast.Compare) -> list[Fault]:
    faults = []
    operands = [node.left, *node.comparators]
    for op, left, right in zip(node.ops, operands, operands[1:]):
        table = "boundary" if type(op) in _BOUNDARY else "comparison" if type(op) in _COMPARISON else None
        span = src.operator(src.end(left), src.start(right)) if table else None
        if span:
            new = (_BOUNDARY if table == "boundary" else _COMPARISON)[type(op)]
            faults.append(src.fault(table, span[0], span[1], new))
    return faults


def _is_text(node: ast.AST) -> bool:
    return isinstance(node, (ast.JoinedStr, ast.List, ast.Tuple)) or (
        isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)))


def _arithmetic_faults(src: _Source, node: ast.BinOp | ast.AugAssign) -> list[Fault]:
    if type(node.op) not in _ARITHMETIC:
        return []
    left = node.left if isinstance(node, ast.BinOp) else node.target
    right = node.right if isinstance(node, ast.BinOp) else node.value
    if _is_text(left) or _is_text(right):
        return []
    span = src.operator(src.end(left), src.start(right))
    if span is None:
        return []
    new = _ARITHMETIC[type(node.op)] + ("=" if isinstance(node, ast.AugAssign) else "")
    return [src.fault("arithmetic", span[0], span[1], new)]


def _slice_faults(src: _Source, node: ast.Slice) -> list[Fault]:
    faults = []
    for bound in (node.lower, node.upper):
        if bound is None:
            continue
        if _is_int(bound):
            faults.extend(_off_by_one(src, "slice", bound))
        elif isinstance(bound, ast.UnaryOp) and isinstance(bound.op, ast.USub) and _is_int(bound.operand):
            faults.extend(_off_by_one(src, "slice", bound.operand))
        elif isinstance(bound, (ast.Name, ast.Attribute, ast.Call, ast.Subscript)):
            text = src.segment(src.start(bound), src.end(bound))
            if "\n" not in text:
                faults += [src.node_fault("slice", bound, f"{text} + 1"), src.node_fault("slice", bound, f"{text} - 1")]
    return faults


def _boolean_faults(src: _Source, node: ast.BoolOp) -> list[Fault]:
    faults = []
    for left, right in zip(node.values, node.values[1:]):
        span = src.operator(src.end(left), src.start(right))
        if span:
            faults.append(src.fault("boolean", span[0], span[1], _BOOLEAN[type(node.op)]))
    return faults


def _negation_faults(src: _Source, node: ast.AST) -> list[Fault]:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        start = src.start(node)
        keyword = re.match(r"not\s*", src.segment(start, src.start(node.operand)))
        return [src.fault("negation", start, (start[0], start[1] + keyword.end()), "")] if keyword else []
    if isinstance(node, (ast.If, ast.While)) and isinstance(
        node.test, (ast.Name, ast.Attribute, ast.Call, ast.Subscript)
    ):
        text = src.segment(src.start(node.test), src.end(node.test))
        return [src.node_fault("negation", node.test, f"not {text}")]
    return []


def _default_faults(src: _Source, node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[Fault]:
    faults = []
    for default in [*node.args.defaults, *node.args.kw_defaults]:
        if isinstance(default, ast.Constant) and isinstance(default.value, bool):
            faults.append(src.node_fault("default", default, str(not default.value)))
        elif _is_int(default):
            faults.extend(_off_by_one(src, "default", default))
    return faults


def _swap_faults(src: _Source, node: ast.Call) -> list[Fault]:
    name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
    if name in _NO_SWAP or any(isinstance(arg, ast.Starred) for arg in node.args):
        return []
    faults = []
    for first, second in zip(node.args, node.args[1:]):
        a = src.segment(src.start(first), src.end(first))
        b = src.segment(src.start(second), src.end(second))
        if a != b and "\n" not in a + b:
            between = src.segment(src.end(first), src.start(second))
            faults.append(src.fault("swap_args", src.start(first), src.end(second), b + between + a))
    return faults


def _is_guard(node: ast.stmt) -> bool:
    return (isinstance(node, ast.If) and not node.orelse and len(node.body) == 1
            and isinstance(node.body[0], (ast.Return, ast.Raise, ast.Continue, ast.Break)))


def _delete_faults(src: _Source, body: list[ast.stmt]) -> list[Fault]:
    """Whole-line deletions of augmented assignments and one-statement ``if`` guards with siblings."""
    if len(body) < 2:
        return []
    faults = []
    for stmt in body:
        if not (isinstance(stmt, ast.AugAssign) or _is_guard(stmt)):
            continue
        line, col = src.start(stmt)
        end_line, end_col = src.end(stmt)
        before = src.lines[line - 1][:col]
        after = src.lines[end_line - 1][end_col:]
        if before.strip() or not re.fullmatch(r"\s*(#.*)?\s*", after):
            continue
        end = (end_line + 1, 0) if end_line < len(src.starts) else (end_line, len(src.lines[end_line - 1]))
        faults.append(src.fault("delete", (line, 0), end, ""))
    return faults


def _node_faults(src: _Source, node: ast.AST) -> list[Fault]:
    faults: list[Fault] = []
    if isinstance(node, ast.Compare):
        faults += _compare_faults(src, node)
    elif isinstance(node, (ast.BinOp, ast.AugAssign)):
        faults += _arithmetic_faults(src, node)
    elif isinstance(node, ast.Slice):
        faults += _slice_faults(src, node)
    elif isinstance(node, ast.BoolOp):
        faults += _boolean_faults(src, node)
    elif isinstance(node, ast.Call):
        faults += _swap_faults(src, node)
    elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        faults += _default_faults(src, node)
    faults += _negation_faults(src, node)
    for field in ("body", "orelse", "finalbody"):
        block = getattr(node, field, None)
        if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
            faults += _delete_faults(src, block)
    return faults


def _constant_nodes(tree: ast.AST, skip: set[int]) -> list[ast.Constant]:
    """Integer literals that are neither slice bounds nor defaults (those have kinds of their own)."""
    owned: set[int] = set(skip)
    for node in ast.walk(tree):
        if isinstance(node, ast.Slice):
            owned.update(id(n) for b in (node.lower, node.upper, node.step) if b is not None for n in ast.walk(b))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            owned.update(id(d) for d in [*node.args.defaults, *node.args.kw_defaults] if d is not None)
    return [node for node in ast.walk(tree) if _is_int(node) and id(node) not in owned]


def sites(text: str, file: str = "") -> list[Fault]:
    """Every candidate fault in ``text`` (a Python module), in source order; raises SyntaxError if it is not one."""
    tree = ast.parse(text)
    src = _Source(text, file)
    skip = _excluded(tree)
    faults = []
    for node in ast.walk(tree):
        if id(node) not in skip:
            faults += _node_faults(src, node)
    for node in _constant_nodes(tree, skip):
        faults += _off_by_one(src, "constant", node)
    # Delete faults inside excluded blocks came from their parent's body: drop them too.
    faults = [f for f in faults if f.kind != "delete" or not _inside_excluded(tree, skip, f)]
    return sorted(set(faults), key=lambda f: (f.line, f.col, f.end_line, f.end_col, f.kind, f.replacement))


def _inside_excluded(tree: ast.AST, skip: set[int], fault: Fault) -> bool:
    return any(isinstance(n, ast.stmt) and id(n) in skip and n.lineno == fault.line for n in ast.walk(tree))


def changes_code(text: str, fault: Fault) -> bool:
    """Whether applying ``fault`` gives a module that parses and means something else (not an equivalent edit)."""
    try:
        after = ast.parse(apply(text, fault))
    except (SyntaxError, FaultMismatch):
        return False
    return ast.dump(after) != ast.dump(ast.parse(text))


def sample(faults: list[Fault], k: int, seed: int) -> list[Fault]:
    """Up to ``k`` faults spread over kinds and files, round-robin; the same seed gives the same choice."""
    rng = random.Random(seed)
    by_kind: dict[str, list[Fault]] = {}
    for fault in faults:
        by_kind.setdefault(fault.kind, []).append(fault)
    for kind, group in by_kind.items():
        rng.shuffle(group)
        seen: dict[str, int] = {}
        ranked = []
        for fault in group:
            seen[fault.file] = seen.get(fault.file, 0) + 1
            ranked.append((seen[fault.file], fault))
        # The first fault of every file, then the second of every file...: files take turns.
        by_kind[kind] = [fault for _, fault in sorted(ranked, key=lambda pair: pair[0])]
    chosen: list[Fault] = []
    kinds = sorted(by_kind)
    while len(chosen) < k and any(by_kind.values()):
        for kind in kinds:
            if by_kind[kind] and len(chosen) < k:
                chosen.append(by_kind[kind].pop(0))
    return chosen
