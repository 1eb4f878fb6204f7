"""Stack traces found in log lines, parsed, and collapsed to what matters.

Each parser recognises where a trace starts and ends in a list of lines and returns a ``Trace``: the
exception (type and message, the whole chain for Python's causes and contexts, Java's "Caused by", every
member of an ExceptionGroup), the frames, and which frames are the user's code. Collapsing keeps every
exception line, the innermost user frames, and a count of the library frames left out: an exception line
is never dropped, whatever its name (``ValueError``, ``KeyboardInterrupt``, ``pkg.Boom``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class Frame:
    location: str
    """``path:line`` (or what the language prints)."""
    function: str
    user: bool
    exc: int = 0
    """Which exception of the trace this frame belongs to (an index into ``Trace.exceptions``)."""


@dataclass
class Trace:
    language: str
    start: int
    """Index of the first line of the trace in the lines given (0-based)."""
    end: int
    """Index one past its last line."""
    exceptions: list[str] = field(default_factory=list)
    """Every exception line, in the order printed (Python: the cause first, the one raised last)."""
    frames: list[Frame] = field(default_factory=list)

    @property
    def main(self) -> int:
        """Index of the exception that ended the program: Python prints it last (a group: the group),
        Java first."""
        if self.language == "python":
            groups = [i for i, e in enumerate(self.exceptions) if re.match(r"(Base)?ExceptionGroup\b", e)]
            return groups[0] if groups else len(self.exceptions) - 1
        return 0

    @property
    def headline(self) -> str:
        return self.exceptions[self.main] if self.exceptions else f"{self.language} trace"

    def _user_frames(self, exc: int) -> list[Frame]:
        """The user's frames of one exception, innermost first (Python prints the innermost last)."""
        user = [f for f in self.frames if f.user and f.exc == exc]
        return list(reversed(user)) if self.language == "python" else user

    def collapse(self, user_frames: int = 3) -> list[str]:
        """Lines to show: the headline, its innermost user frames, how many frames were left out, and
        every other exception of the chain or group with its innermost user frame."""
        out = [f"{self.headline}  ({self.language} trace, {len(self.frames)} frames)"]
        shown = self._user_frames(self.main)[:user_frames]
        out += [f"    at {f.location}" + (f" in {f.function}" if f.function else "") for f in shown]
        omitted = len(self.frames) - len(shown)
        if omitted:
            out.append(f"    ({omitted} more frames omitted, library and outer ones)")
        for i, e in enumerate(self.exceptions):
            if i != self.main:
                inner = self._user_frames(i)[:1]
                out.append(f"    also: {e}" + (f" (at {inner[0].location})" if inner else ""))
        return out


LIBRARY_PATHS = re.compile(r"(site-packages|dist-packages|/lib/python\d|/usr/lib/|<frozen |node:internal|"
                           r"node_modules|/rustc/|/usr/local/go/src|/go/pkg/mod/|\.cargo/registry|^internal/)")
JAVA_LIBRARY = re.compile(r"^(java|javax|jdk|sun|com\.sun|kotlin|kotlinx|scala|org\.junit|junit|org\.gradle|"
                          r"org\.apache\.maven|org\.springframework|reactor|io\.netty)\.")


# -- Python ---------------------------------------------------------------------------------------------
PY_START = re.compile(r"^(Exception Group )?Traceback \(most recent call last\):")
PY_CHAIN = ("During handling of the above exception, another exception occurred:",
            "The above exception was the direct cause of the following exception:")
PY_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+)(?:, in (.+))?')
PY_DECOR = re.compile(r"^\s*(?:[|+](?:-+(?: \d+ -+| \.\.\. -+)?)?(?:\+-+(?: \d+ -+)?)?\s?)+")


def _undecorate(line: str) -> tuple[str, bool]:
    """An ExceptionGroup member's line without its ``  | `` and ``+-+----`` drawing, and whether it had any."""
    m = PY_DECOR.match(line)
    if m and m.group(0).strip():
        return line[m.end():].rstrip("\n"), True
    return line.rstrip("\n"), False


def parse_python(lines: list[str], i: int) -> Trace | None:
    first, _ = _undecorate(lines[i])
    if not PY_START.match(first.strip()):
        return None
    trace = Trace("python", i, i + 1)
    j = i + 1
    while j < len(lines):
        line, decorated = _undecorate(lines[j])
        stripped = line.strip()
        if not stripped:
            if decorated:
                j += 1
                continue  # group drawing
            # A blank line ends the trace unless a chain or another traceback follows.
            k = j + 1
            while k < len(lines) and not lines[k].strip():
                k += 1
            nxt = _undecorate(lines[k])[0].strip() if k < len(lines) else ""
            if nxt in PY_CHAIN or PY_START.match(nxt):
                j = k
                continue
            break
        if PY_START.match(stripped) or stripped in PY_CHAIN:
            pass
        elif m := PY_FRAME.match(line):
            trace.frames.append(Frame(f"{m.group(1)}:{m.group(2)}", (m.group(3) or "").strip(),
                                      not LIBRARY_PATHS.search(m.group(1)), len(trace.exceptions)))
        elif line[:1].isspace():
            pass  # source lines, carets, notes
        else:
            # Unindented: the exception line, whatever the exception is called.
            trace.exceptions.append(stripped)
            k = j + 1
            while k < len(lines) and not lines[k].strip():
                k += 1
            if k < len(lines):
                nxt, nxt_decorated = _undecorate(lines[k])
                if nxt.strip() in PY_CHAIN or PY_START.match(nxt.strip()) or nxt_decorated:
                    j = k
                    continue
            j += 1
            break
        j += 1
    if not trace.exceptions:
        return None
    trace.end = j
    return trace


# -- Java / Kotlin -------------------------------------------------------------------------------------------
JAVA_EXC = re.compile(r"^(?:Exception in thread \"[^\"]*\" |Caused by: |Suppressed: |\s*)?"
                      r"((?:[a-zA-Z_$][\w$]*\.)+[A-Za-z_$][\w$]*(?:Exception|Error|Throwable|Failure)[\w$]*(?::.*)?)$")
JAVA_AT = re.compile(r"^\s+at ([\w$.<>/]+)\(([^)]*)\)")
JAVA_MORE = re.compile(r"^\s+\.\.\. (\d+) (?:more|common frames omitted)")


def parse_java(lines: list[str], i: int) -> Trace | None:
    m = JAVA_EXC.match(lines[i].rstrip())
    if not m or i + 1 >= len(lines) or not JAVA_AT.match(lines[i + 1]):
        return None
    trace = Trace("java", i, i + 1, [m.group(1).strip()])
    j = i + 1
    while j < len(lines):
        line = lines[j].rstrip()
        if at := JAVA_AT.match(line):
            method = at.group(1)
            trace.frames.append(Frame(at.group(2), method, not JAVA_LIBRARY.match(method.split("/")[-1]),
                                      len(trace.exceptions) - 1))
        elif more := JAVA_MORE.match(line):
            trace.frames += [Frame("(shared with the enclosing trace)", "", False, len(trace.exceptions) - 1)
                             for _ in range(int(more.group(1)))]
        elif (c := JAVA_EXC.match(line)) and line.lstrip().startswith(("Caused by:", "Suppressed:")):
            trace.exceptions.append(c.group(1).strip())
        else:
            break
        j += 1
    trace.end = j
    return trace


# -- JavaScript / Node -----------------------------------------------------------------------------------
JS_EXC = re.compile(r"^(?:Uncaught )?((?:[A-Z]\w*)?(?:Error|Exception)(?: \[[\w_]+\])?(?::.*)?)$")
JS_AT = re.compile(r"^\s+at (?:(.+?) \()?(.+?)(?::(\d+):(\d+))?\)?$")


def parse_node(lines: list[str], i: int) -> Trace | None:
    m = JS_EXC.match(lines[i].rstrip())
    if not m or i + 1 >= len(lines) or not JS_AT.match(lines[i + 1].rstrip()):
        return None
    trace = Trace("node", i, i + 1, [m.group(1)])
    j = i + 1
    while j < len(lines) and (at := JS_AT.match(lines[j].rstrip())):
        path = at.group(2)
        where = f"{path}:{at.group(3)}" if at.group(3) else path
        trace.frames.append(Frame(where, at.group(1) or "", not LIBRARY_PATHS.search(path) and "/" in path))
        j += 1
    # Node also prints "{ code: ... }" details after the frames; they stay as ordinary lines.
    trace.end = j
    return trace


# -- Go ------------------------------------------------------------------------------------------------------
GO_START = re.compile(r"^(panic: .*|fatal error: .*)$")
GO_FUNC = re.compile(r"^([\w./*()\[\]-]+)\(.*\)$")
GO_FILE = re.compile(r"^\t(.+\.go):(\d+)")


def parse_go(lines: list[str], i: int) -> Trace | None:
    m = GO_START.match(lines[i].rstrip())
    if not m:
        return None
    trace = Trace("go", i, i + 1, [m.group(1)])
    j = i + 1
    seen_goroutine = False
    func = ""
    while j < len(lines):
        line = lines[j].rstrip("\n")
        if line.startswith("goroutine ") and line.rstrip().endswith(":"):
            seen_goroutine = True
        elif line.startswith(("[recovered]", "\t[recovered]")) or (not line.strip() and not seen_goroutine):
            pass
        elif f := GO_FILE.match(line):
            trace.frames.append(Frame(f"{f.group(1)}:{f.group(2)}", func,
                                      not LIBRARY_PATHS.search(f.group(1)) and not func.startswith("runtime.")))
        elif (g := GO_FUNC.match(line.strip())) and seen_goroutine:
            func = g.group(1)
        elif line.startswith("exit status "):
            j += 1
            break
        elif seen_goroutine and not line.strip():
            break
        elif not seen_goroutine and line.strip():
            trace.exceptions[0] += " " + line.strip()  # a multi-line panic message
        else:
            break
        j += 1
    trace.end = j
    return trace


# -- Rust ----------------------------------------------------------------------------------------------------
RUST_NEW = re.compile(r"^thread '([^']*)'(?: \(\d+\))? panicked at (.+):$")
RUST_OLD = re.compile(r"^thread '([^']*)'(?: \(\d+\))? panicked at '(.*)', (.+)$")
RUST_SYMBOL = re.compile(r"^\s+\d+: (.+)$")
RUST_AT = re.compile(r"^\s+at (.+):(\d+):(\d+)$")


def parse_rust(lines: list[str], i: int) -> Trace | None:
    line = lines[i].rstrip()
    if m := RUST_NEW.match(line):
        message = lines[i + 1].strip() if i + 1 < len(lines) else ""
        trace = Trace("rust", i, i + 2, [f"panic in thread '{m.group(1)}': {message} (at {m.group(2)})"])
        j = i + 2
    elif m := RUST_OLD.match(line):
        trace = Trace("rust", i, i + 1, [f"panic in thread '{m.group(1)}': {m.group(2)} (at {m.group(3)})"])
        j = i + 1
    else:
        return None
    symbol = ""
    while j < len(lines):
        text = lines[j].rstrip()
        if text.startswith("note: ") or text == "stack backtrace:":
            pass
        elif s := RUST_SYMBOL.match(text):
            symbol = s.group(1)
        elif a := RUST_AT.match(text):
            user = not LIBRARY_PATHS.search(a.group(1)) and not symbol.startswith(("std::", "core::", "alloc::"))
            trace.frames.append(Frame(f"{a.group(1)}:{a.group(2)}", symbol, user))
        else:
            break
        j += 1
    trace.end = j
    return trace


PARSERS = (parse_python, parse_java, parse_node, parse_go, parse_rust)


def find_trace(lines: list[str], i: int) -> Trace | None:
    """The trace starting at ``lines[i]``, if one does."""
    for parse in PARSERS:
        trace = parse(lines, i)
        if trace is not None:
            return trace
    return None
