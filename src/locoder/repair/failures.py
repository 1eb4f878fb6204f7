"""What a pytest run says went wrong: the failing tests, their error lines and traceback frames.

Pure functions over the text of ``pytest -q --tb=short -rfE``; nothing here runs anything.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

PYTEST_ARGS = "-q --tb=short -rfE -p no:cacheprovider --color=no"
"""How the harness runs pytest: short tracebacks (one frame a line, parseable) and the summary of failures."""

SECTION = re.compile(r"^_{3,} (.+?) _{3,}$", re.M)
BANNER = re.compile(r"^={3,} (.+?) ={3,}$", re.M)
SUMMARY_LINE = re.compile(r"^(FAILED|ERROR) (\S+?)(?: - (.*))?$", re.M)
FRAME = re.compile(r"^([^\s:][^:\n]*\.py):(\d+): in (\S+)$", re.M)
LAST_FRAME = re.compile(r"^([^\s:][^:\n]*\.py):(\d+): (\w+(?:Error|Exception|Warning|Exit)?\w*)$", re.M)
WHERE = re.compile(r"where .*? = (?:<[^>]*>\.)?([A-Za-z_][\w.]*)\(")
COUNTS = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)")


@dataclass
class Frame:
    path: str
    line: int
    function: str


@dataclass
class Failure:
    """One failing test (or a file that failed to collect: ``kind == "error"``)."""

    nodeid: str
    kind: str = "failed"
    summary: str = ""
    """The one-line reason pytest printed in its short summary."""
    text: str = ""
    """The failure's section: the traceback and the ``E`` lines."""
    frames: list[Frame] = field(default_factory=list)

    @property
    def test_file(self) -> str:
        return self.nodeid.split("::", 1)[0]

    @property
    def error_lines(self) -> list[str]:
        return [line[1:].strip() for line in self.text.splitlines() if line.startswith("E ")]

    def called_names(self) -> list[str]:
        """Names pytest's assertion rewriting shows as called (``where 3 = add(1, 2)``)."""
        return [m.group(1).rsplit(".", 1)[-1] for m in WHERE.finditer(self.text)]


@dataclass
class TestReport:
    failures: list[Failure]
    counts: dict[str, int]
    collected: bool
    """False when pytest found nothing to run or stopped on a usage or internal error."""
    no_tests: bool = False
    """The project has no tests to run (pytest said so); not the same as a run that did not finish."""

    @property
    def failing_ids(self) -> list[str]:
        return [f.nodeid for f in self.failures]

    @property
    def passed(self) -> int:
        return self.counts.get("passed", 0)

    @property
    def failed(self) -> int:
        return self.counts.get("failed", 0) + self.counts.get("error", 0)


def _sections(output: str) -> dict[str, str]:
    """Failure sections by their title (``test_x``, ``TestA.test_b``, ``ERROR collecting t.py``)."""
    banners = [(m.start(), m.group(1)) for m in BANNER.finditer(output)]
    out: dict[str, str] = {}
    matches = list(SECTION.finditer(output))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(output)
        later = [pos for pos, _ in banners if pos > m.end()]
        if later and later[0] < end:
            end = later[0]
        out.setdefault(m.group(1).strip(), output[m.end():end].strip("\n"))
    return out


def _title(nodeid: str) -> str:
    """The section title pytest gives a test id: ``t.py::A::test_b[1]`` -> ``A.test_b[1]``."""
    parts = nodeid.split("::")
    return ".".join(parts[1:]) if len(parts) > 1 else f"ERROR collecting {parts[0]}"


def _frames(text: str) -> list[Frame]:
    frames = [Frame(m.group(1), int(m.group(2)), m.group(3)) for m in FRAME.finditer(text)]
    last = list(LAST_FRAME.finditer(text))
    if last and (not frames or last[-1].start() > text.find(f"{frames[-1].path}:{frames[-1].line}: in ")):
        m = last[-1]
        frames.append(Frame(m.group(1), int(m.group(2)), ""))
    return frames


def parse_pytest(output: str) -> TestReport:
    """The failing tests of a pytest run, in the order of its short summary."""
    sections = _sections(output)
    failures: list[Failure] = []
    seen: set[str] = set()
    for m in SUMMARY_LINE.finditer(output):
        kind, nodeid, reason = m.group(1).lower(), m.group(2), (m.group(3) or "").strip()
        if nodeid in seen:
            continue
        seen.add(nodeid)
        text = sections.get(_title(nodeid), "")
        if not text and kind == "error":
            text = sections.get(f"ERROR at setup of {_title(nodeid)}", "")
        failures.append(Failure(nodeid, "error" if kind == "error" else "failed", reason, text, _frames(text)))
    tail = output[-2000:]
    counts: dict[str, int] = {}
    for number, word in COUNTS.findall(tail):
        counts["error" if word.startswith("error") else word] = int(number)
    no_tests = "no tests ran" in tail
    collected = bool(counts) and not no_tests
    return TestReport(failures, counts, collected, no_tests)


UNITTEST_HEAD = re.compile(r"^(FAIL|ERROR): (\w+) \(([\w.]+)\)\s*$", re.M)
UNITTEST_RAN = re.compile(r"^Ran (\d+) tests? in", re.M)
UNITTEST_END = re.compile(r"^(OK|FAILED)(?: \((.*)\))?\s*$", re.M)
PY_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+), in (\S+)', re.M)


def unittest_id(dotted: str, root) -> str:
    """``tests.test_x.TestA.test_b`` as a pytest-style id ``tests/test_x.py::TestA::test_b`` when the module
    file exists under ``root``, else unchanged."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        path = "/".join(parts[:cut]) + ".py"
        if (root / path).is_file():
            return "::".join([path, *parts[cut:]])
    return dotted


def dotted_id(nodeid: str) -> str:
    """A pytest-style id back in unittest's dotted form."""
    path, _, rest = nodeid.partition("::")
    module = path[:-3].replace("/", ".") if path.endswith(".py") else path
    return ".".join([module, *rest.split("::")]) if rest else module


def parse_unittest(output: str, root) -> TestReport:
    """The failing tests of a ``python -m unittest -v`` run (ids in pytest's form, see ``unittest_id``)."""
    from pathlib import Path

    heads = list(UNITTEST_HEAD.finditer(output))
    failures: list[Failure] = []
    for i, m in enumerate(heads):
        kind, method, where = m.groups()
        dotted = where if where.endswith("." + method) else f"{where}.{method}"
        end = heads[i + 1].start() if i + 1 < len(heads) else len(output)
        body = output[m.end():end]
        body = body.split("\n" + "-" * 70, 2)[1] if body.count("-" * 70) >= 1 else body
        body = re.split(r"^-{70}$|^={70}$", body.strip("\n"), flags=re.M)[0].strip("\n")
        lines = body.splitlines()
        error = next((line for line in reversed(lines) if line and not line.startswith(" ")), "")
        frames = [Frame(_relative_to(fm.group(1), Path(root)), int(fm.group(2)), fm.group(3))
                  for fm in PY_FRAME.finditer(body)]
        text = "\n".join(lines + ([f"E   {error}"] if error else []))
        failures.append(Failure(unittest_id(dotted, Path(root)), "error" if kind == "ERROR" and not frames else "failed",
                                error, text, frames))
    ran = UNITTEST_RAN.search(output)
    counts: dict[str, int] = {}
    if ran:
        failed = len(failures)
        counts = {"passed": int(ran.group(1)) - failed, "failed": failed}
    return TestReport(failures, counts, bool(ran) and int(ran.group(1)) > 0)


def _relative_to(path: str, root) -> str:
    from pathlib import Path

    try:
        return str(Path(path).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return path


def node_args(nodeids: list[str]) -> str:
    """Test ids as shell arguments."""
    return " ".join(shlex.quote(n) for n in nodeids)


def is_test_path(path: str) -> bool:
    """Whether a file holds tests rather than the code under test."""
    parts = path.replace("\\", "/").split("/")
    name = parts[-1]
    return (name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"
            or any(p in ("tests", "test", "testing") for p in parts[:-1]))
