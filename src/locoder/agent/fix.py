"""The bug-fix workflow: the harness does what a small model cannot plan, the model does one local step.

1. Reproduce: run the project's tests (traced, to see which functions each test runs); when none fail, run
   the task's example and ask the model for a test that reproduces the report, kept only if it fails now.
2. Localise without the model: rank candidate functions (``repair.localise``).
3. Repair: show the model the evidence and one whole function; take its reply in the configured form
   (``repair.forms``); a result that does not parse goes back to it, never to disk.
4. Validate: rerun the failing tests, then the whole suite; a repair stands only when the target tests pass
   and nothing that passed before fails. Otherwise the failure goes back to the model once, then the file is
   restored and the next attempt (another candidate, or a sample at a higher temperature) begins.

Every command goes through the session's guarded tools (sandbox, approvals, audit); the workflow emits
``task``, ``step`` and ``result`` events like the loop, so the summary, the audit log and the console see it.
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from locoder.agent.loop import Agent, RunResult
from locoder.atomic import write_atomic
from locoder.events import (
    Attempt,
    Checked,
    Localised,
    ModelTurn,
    Observation,
    Step,
    TaskFinished,
    TaskStarted,
    Thinking,
)
from locoder.exceptions import LocoderError
from locoder.index.files import workspace_files
from locoder.locations import TRACE_FILE, StatePaths
from locoder.messages import CommandRun, Message, ToolCall, ToolResult, Usage
from locoder.repair import forms, prompts, values
from locoder.repair.examples import examples
from locoder.repair.failures import (
    PYTEST_ARGS,
    Failure,
    TestReport,
    dotted_id,
    node_args,
    parse_pytest,
    parse_unittest,
)
from locoder.repair.localise import (
    Candidate,
    Definition,
    definitions,
    named_in,
    ochiai,
    project_definitions,
    rank,
)
from locoder.tools.edit import syntax_error, unified_diff

"""Where the traced test run writes what each test ran (in the workspace: commands can write only there)."""
REPRO_TEST = "test_locoder_repro.py"
BROKEN_TEST = ("NameError", "ImportError", "ModuleNotFoundError", "SyntaxError", "IndentationError", "fixture '")


def _exit_code(result: ToolResult) -> int | None:
    return result.data.exit_code if isinstance(result.data, CommandRun) else None


@dataclass
class FixConfig:
    attempts: int = 3
    """Candidate repairs to try (``--attempts``); the first that passes the tests is kept."""
    form: str = "fenced"
    """How the model writes a repair: ``function``, ``fenced``, ``search_replace`` or ``diff``."""
    rounds: int = 2
    """Model turns per attempt: the repair, then the same function again with the new failure."""
    candidates: int = 3
    """Functions tried in turn, best first (only those scoring at least half the best)."""
    sample_temperature: float = 0.7
    """Temperature for attempts after each candidate's first (which is greedy)."""
    trace: bool = True
    """Trace the test runs to rank functions by which tests run them (spectrum-based localisation)."""
    values: bool = True
    """Show the model what the candidate function did on the first failing test (``repair.values``)."""


@dataclass
class Reproduction:
    report: TestReport | None
    """The baseline run of the whole suite (None: no Python test setup)."""
    targets: list[str] = field(default_factory=list)
    """Test ids that must pass when the fault is fixed."""
    evidence: prompts.Evidence = field(default_factory=lambda: prompts.Evidence([]))
    spectrum: dict[str, list[int]] = field(default_factory=dict)
    totals: list[int] = field(default_factory=lambda: [0, 0])
    doctest: bool = False
    """The targets are doctests (the examples in the docstring of a function the task names)."""


class FixWorkflow:
    def __init__(self, agent: Agent, workspace: Path, state: StatePaths, python: str, config: FixConfig) -> None:
        self.agent, self.workspace, self.config, self.python = agent, workspace, config, python
        self.state = state
        self.harness = self.state.harness
        self.steps = 0
        self.runner = "pytest"
        self.ini = ""
        """Options overriding the project's pytest configuration (set when its addopts cannot run here)."""
        self._seen_values: dict[str, str] = {}
        """What each candidate did on the first failing test, recorded once (``_values``)."""
        self._touched: dict[str, str] = {}
        """Files this workflow changed, with their text before, restored unless a repair stands."""

    # -- plumbing -------------------------------------------------------------------------------------------
    def _harness_path(self) -> str:
        try:
            return str(self.harness.relative_to(self.workspace))
        except ValueError:
            return str(self.harness)

    def _tool(self, phase: str, name: str, **arguments) -> ToolResult:
        """Run one tool through the session's guarded toolbox and record it as a step."""
        self.steps += 1
        call = ToolCall(name, arguments)
        result = self.agent.toolbox.execute(call)
        shown = result.output if len(result.output) <= 4000 else result.output[:2600] + "\n...\n" + result.output[-1300:]
        self.agent.emit(Step(self.steps, phase, harness=True, calls=[call], observations=[Observation(result, shown)]))
        return result

    def _ask(self, phase: str, messages: list[Message], schema: dict | None, temperature: float) -> str:
        self.steps += 1
        self.agent.emit(Thinking(self.steps))
        response = self.agent.model.query(messages, schema=schema, temperature=temperature)
        self.agent.usage.add(response.usage)
        self.agent.emit(Step(self.steps, phase, harness=True, thought=forms.thought_of(response.content)[:300],
                             turn=ModelTurn(response, sum(len(m.content) for m in messages)), temperature=temperature))
        return response.content

    def _pytest(self, phase: str, args: list[str] | str = "", trace: bool = False,
                doctest: bool = False, values: str = "") -> tuple[TestReport, dict]:
        """Run the tests (all, or the ids in ``args``) with pytest, or with unittest where the project's
        Python has no pytest; ``trace`` records which functions each test runs (pytest only), ``values``
        (a ``trace_spec``) what one function did on each call."""
        ids = args if isinstance(args, list) else []
        if self.runner == "unittest":
            targets = " ".join(dotted_id(i) for i in ids) if ids else (args if isinstance(args, str) else "")
            output = self._tool(phase, "run_command",
                                command=f"PYTHONDONTWRITEBYTECODE=1 {self.python} -m unittest -v {targets}".rstrip()).output
            return parse_unittest(output, self.workspace), {}
        env = "PYTHONDONTWRITEBYTECODE=1"
        plugin = ""
        if trace:
            self._install_plugin()
            env += f" PYTHONPATH={self._harness_path()}${{PYTHONPATH:+:$PYTHONPATH}} LOCODER_TRACE_OUT={TRACE_FILE}"
            plugin = " -p locoder_trace"
            env += f" LOCODER_TRACE_VALUES={shlex.quote(values)}" if values else ""
        extra = node_args(ids) if ids else (args if isinstance(args, str) else "")
        extra = f"--doctest-modules {extra}" if doctest else extra
        result = self._tool(phase, "run_command",
                            command=f"{env} {self.python} -m pytest{plugin} {PYTEST_ARGS}{self.ini} {extra}".rstrip())
        output = result.output
        if not self.ini and _exit_code(result) == 4 and "unrecognized arguments" in output:
            # The project's addopts name a plugin its Python lacks (--cov without pytest-cov): run without them.
            self.ini = " -o addopts="
            return self._pytest(phase, args, trace, doctest, values)
        return parse_pytest(output), self._read_trace() if trace else {}

    def _choose_runner(self) -> None:
        """pytest when the project's Python can import it (it runs unittest suites too), else unittest."""
        result = self._tool("reproduce", "run_command", command=f"{self.python} -c 'import pytest'")
        self.runner = "pytest" if _exit_code(result) == 0 else "unittest"

    def _install_plugin(self) -> None:
        source = (Path(__file__).parent.parent / "repair" / "trace_plugin.py").read_text(encoding="utf-8")
        write_atomic(self.harness / "locoder_trace.py", source)

    def _read_trace(self) -> dict:
        path = self.workspace / TRACE_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        finally:
            path.unlink(missing_ok=True)
        return data if isinstance(data, dict) else {}

    # -- 1. reproduce ---------------------------------------------------------------------------------------
    def reproduce(self, task: str) -> Reproduction:
        self._choose_runner()
        report, trace = self._pytest("reproduce", trace=self.config.trace)
        if self.config.trace and not report.collected and not report.no_tests:
            # Tracing slows a suite two to three times; one that did not finish traced is run plain.
            report, trace = self._pytest("reproduce")
        repro = Reproduction(report, spectrum=dict(trace.get("functions") or {}),
                             totals=list(trace.get("tests") or [0, 0]))
        if report.failures:
            repro.targets = report.failing_ids
            repro.evidence = prompts.Evidence(report.failures)
            return repro
        if self.runner == "pytest" and self._doctests(task, repro):
            return repro
        example = next(iter(examples(task)), None)
        if example is not None:
            # Run as a script from the workspace root (the plugin's script mode puts it first on sys.path, as
            # the user's own `python example.py` would), traced: a crash counts as a failing run.
            self._install_plugin()
            write_atomic(self.harness / "example.py", example.source)
            harness = self._harness_path()
            output = self._tool("reproduce", "run_command",
                                command=f"PYTHONDONTWRITEBYTECODE=1 LOCODER_TRACE_OUT={TRACE_FILE} {self.python} "
                                        f"{harness}/locoder_trace.py {harness}/example.py").output
            trace = self._read_trace()
            if (trace.get("tests") or [0, 0])[1]:
                for key, (_, failed) in (trace.get("functions") or {}).items():
                    repro.spectrum.setdefault(key, [0, 0])[1] += failed
                repro.totals[1] += 1
            repro.evidence = prompts.Evidence([], example.shown, output.split("\n", 2)[-1])
        if self.runner == "pytest":
            self._write_repro_test(task, repro)
        return repro

    def _doctests(self, task: str, repro: Reproduction) -> bool:
        """The examples in the docstrings of the functions the task names, as the target tests, when they fail
        now (a function to write, or one whose documented behaviour broke)."""
        named = named_in(task)
        files = sorted({d.path for d in project_definitions(self.workspace, list(workspace_files(self.workspace, self.state)))
                        if d.name in named and ">>>" in d.source})
        if not files:
            return False
        report, trace = self._pytest("reproduce", " ".join(files), trace=self.config.trace, doctest=True)
        failing = [f for f in report.failures if f.kind == "failed"]
        if not failing:
            return False
        repro.targets, repro.doctest = [f.nodeid for f in failing], True
        repro.evidence = prompts.Evidence(failing)
        for key, (passed, failed) in (trace.get("functions") or {}).items():
            counts = repro.spectrum.setdefault(key, [0, 0])
            counts[0] += passed
            counts[1] += failed
        repro.totals = [a + b for a, b in zip(repro.totals, trace.get("tests") or [0, 0])]
        return True

    def _write_repro_test(self, task: str, repro: Reproduction) -> None:
        """Ask the model for a test of what the user expects; keep it when it fails now, as a real failure."""
        request = prompts.repro_request(task, repro.evidence)
        messages = [Message("system", prompts.REPRO_SYSTEM), Message("user", request)]
        for temperature in (0.0, self.config.sample_temperature):
            reply = self._ask("reproduce", messages, prompts.REPRO_SCHEMA, temperature)
            try:
                code = forms.code_of("function", reply)
            except forms.RepairError:
                continue
            if syntax_error(REPRO_TEST, code) is not None:
                continue
            write_atomic(self.harness / REPRO_TEST, code.rstrip() + "\n")
            report, trace = self._pytest("reproduce", f"{self._harness_path()}/{REPRO_TEST}", trace=self.config.trace)
            real = [f for f in report.failures if f.kind == "failed"
                    and not any(b in " ".join(f.error_lines) for b in BROKEN_TEST)]
            if real and report.collected:
                repro.targets = [f.nodeid for f in real]
                repro.evidence = prompts.Evidence(real, repro.evidence.example, repro.evidence.example_output)
                for key, (_, failed) in (trace.get("functions") or {}).items():
                    repro.spectrum.setdefault(key, [0, 0])[1] += failed
                repro.totals[1] += len(real)
                return

    # -- 2. localise ----------------------------------------------------------------------------------------
    def localise(self, task: str, repro: Reproduction) -> list[Candidate]:
        files = list(workspace_files(self.workspace, self.state))
        defs = project_definitions(self.workspace, files)
        spectrum = ochiai(repro.spectrum, repro.totals, defs) if repro.spectrum else {}
        ranked = rank(defs, repro.evidence.failures, self.workspace, task, spectrum, k=self.config.candidates * 2)
        if not ranked:
            return []
        best = ranked[0].score
        return [c for c in ranked if c.score >= best / 2][: self.config.candidates]

    # -- 3 and 4. repair and validate -------------------------------------------------------------------------
    def _current(self, target: Definition) -> tuple[str, Definition]:
        text = (self.workspace / target.path).read_text(encoding="utf-8")
        found = [d for d in definitions(target.path, text) if d.qualname == target.qualname]
        return text, (found[0] if found else target)

    def _validate(self, repro: Reproduction) -> tuple[bool, str, TestReport | None]:
        """Whether the repair stands, and if not the failure to show the model."""
        report, _ = self._pytest("validate", list(repro.targets), doctest=repro.doctest)
        still = [f for f in report.failures if f.nodeid in repro.targets] or \
            ([] if report.collected else [Failure("collection", summary="the tests could not run")])
        if still or not report.collected:
            return False, "\n\n".join(prompts.failure_text(f, self.workspace) for f in still[:2]), report
        if repro.report is None or not repro.report.collected:
            return True, "", report  # the project had no tests of its own to keep passing
        suite, _ = self._pytest("validate")
        before = set(repro.report.failing_ids) if repro.report else set()
        broken = [f for f in suite.failures if f.nodeid not in before and f.nodeid not in repro.targets]
        if broken or not suite.collected:
            text = "\n\n".join(prompts.failure_text(f, self.workspace) for f in broken[:2]) or "the suite could not run"
            return False, f"The target tests pass now, but tests that passed before fail:\n{text}", suite
        return True, "", suite

    def _apply(self, reply: str, target: Definition) -> str:
        """Write the reply's repair of ``target``; return the problem to show the model, or ""."""
        text, current = self._current(target)
        try:
            new = forms.new_text(self.config.form, reply, text, current)
        except forms.RepairError as exc:
            return f"That reply could not be used: {exc}."
        if new == text:
            return "That reply leaves the function unchanged; the tests still fail."
        error = syntax_error(target.path, new)
        if error:
            return f"That code was not saved: it does not parse ({error})."
        self._touched.setdefault(target.path, text)
        result = self._tool("repair", "write_file", path=target.path, content=new)
        if not result.ok:
            return f"The change was not saved: {result.output}"
        return ""

    def _restore(self) -> None:
        for path, text in self._touched.items():
            write_atomic(self.workspace / path, text)
        self._touched.clear()

    def _values(self, repro: Reproduction, target: Definition) -> str:
        """What ``target`` did when the first failing test ran it, for the request ("" when it did not run)."""
        if not (self.config.values and self.runner == "pytest" and repro.targets):
            return ""
        key = target.key
        if key not in self._seen_values:
            test = repro.targets[0]
            _, trace = self._pytest("localise", [test], trace=True, doctest=repro.doctest,
                                    values=values.trace_spec(target))
            self._seen_values[key] = values.values_text(list(trace.get("calls") or []), target, test)
        return self._seen_values[key]

    def attempt(self, task: str, repro: Reproduction, candidate: Candidate, temperature: float) -> tuple[bool, str]:
        target = candidate.definition
        request = prompts.repair_request(task, repro.evidence, target, self.workspace, self.config.form,
                                         self._values(repro, target))
        messages = [Message("system", prompts.REPAIR_SYSTEM), Message("user", request)]
        thought = ""
        for round_ in range(self.config.rounds):
            reply = self._ask("repair", messages, forms.FORMS[self.config.form].schema, temperature)
            thought = forms.thought_of(reply)
            problem = self._apply(reply, target)
            if not problem:
                ok, problem, _ = self._validate(repro)
                if ok:
                    return True, thought
                problem = f"After that change the tests still fail.\n{problem}"
            if round_ + 1 < self.config.rounds:
                _, current = self._current(target)
                messages += [Message("assistant", reply),
                             Message("user", prompts.retry_request(problem, current, self.config.form))]
        self._restore()
        return False, thought

    # -- the whole task -------------------------------------------------------------------------------------
    def run(self, task: str) -> RunResult | None:
        """Fix the task's fault; None when it cannot be reproduced (the caller hands the task to the loop)."""
        start, before = time.monotonic(), Usage(**asdict(self.agent.usage))
        self.agent.emit(TaskStarted(task, workflow="fix"))
        status, answer = "failed", ""
        self.stop = "no_repair"
        try:
            began = time.monotonic()
            repro = self.reproduce(task)
            self._checked(repro, time.monotonic() - began)
            candidates = self.localise(task, repro) if repro.targets else []
            if not repro.targets or not candidates:
                self.handover = self._handover_text(repro, candidates)
                return None
            self.agent.emit(Localised([c.describe() for c in candidates]))
            status, answer = self._repair(task, repro, candidates)
        except KeyboardInterrupt:
            status, answer, self.stop = "cancelled", "cancelled by the user", "cancelled"
        except LocoderError as exc:
            status, answer, self.stop = "error", str(exc), "error"
        finally:
            self._restore()
        return self._finish(task, status, answer, start, before)

    def _repair(self, task: str, repro: Reproduction, candidates: list[Candidate]) -> tuple[str, str]:
        seen: set[str] = set()
        for number in range(self.config.attempts):
            candidate = candidates[number % len(candidates)]
            key = candidate.definition.key
            temperature = self.config.sample_temperature if key in seen else 0.0
            seen.add(key)
            text_before = (self.workspace / candidate.definition.path).read_text(encoding="utf-8")
            ok, thought = self.attempt(task, repro, candidate, temperature)
            self.agent.emit(Attempt(number + 1, self.config.attempts, ok,
                                    f"{candidate.definition.path}:{candidate.definition.qualname}", temperature,
                                    self.config.form))
            if ok:
                self._touched.clear()
                self.stop = "answer"
                after = (self.workspace / candidate.definition.path).read_text(encoding="utf-8")
                diff = unified_diff(text_before, after, candidate.definition.path)
                return "submitted", (f"Fixed {candidate.definition.qualname} in {candidate.definition.path}"
                                     f"{': ' + thought if thought else ''}\n\n{diff}\n"
                                     f"The {len(repro.targets)} failing test(s) pass now, and the whole suite passes "
                                     f"as before ({self.python} -m {self.runner}).")
        tried = ", ".join(dict.fromkeys(c.definition.qualname for c in candidates[: self.config.attempts]))
        return "failed", (f"no repair made the failing tests pass after {self.config.attempts} attempt(s) "
                          f"(functions tried: {tried}); the files are as they were. Try --attempts 3 or more")

    def _checked(self, repro: Reproduction, seconds: float) -> None:
        """The reproduction's first test run is the checks at the start of the task (``agent/checks.py``): which
        tests failed before anything was touched, as an event for the summary and the audit log."""
        report = repro.report
        if report is None:
            return
        self.agent.emit(Checked("start", [f"{self.python} -m {self.runner}"], round(seconds, 3),
                                report.passed if report.collected else None,
                                report.failed if report.collected else None, report.failing_ids))

    def _handover_text(self, repro: Reproduction, candidates: list[Candidate]) -> str:
        parts = []
        report = repro.report
        if report is not None and report.collected:
            failing = f": {', '.join(report.failing_ids[:10])}" if report.failing_ids else ""
            parts.append(f"Before any change, the tests ({self.python} -m {self.runner}): {report.passed} passed, "
                         f"{report.failed} failed{failing}.")
        evidence = prompts.evidence_text(repro.evidence, self.workspace) if (repro.evidence.failures or
                                                                           repro.evidence.example) else ""
        if evidence:
            parts.append("What running the project showed:\n" + evidence)
        if candidates:
            parts.append("Likely places: " + "; ".join(c.describe().split(" (score")[0] for c in candidates))
        return "\n\n".join(parts)

    def _finish(self, task: str, status: str, answer: str, start: float, before: Usage) -> RunResult:
        used = Usage(**asdict(self.agent.usage))
        for name in ("prompt_tokens", "completion_tokens", "cached_tokens"):
            setattr(used, name, getattr(used, name) - getattr(before, name))
        result = RunResult(status, answer, self.steps, used, time.monotonic() - start, self.stop)
        # Follow-up questions in the same session see what was done.
        self.agent.messages += [Message("user", task), Message("assistant", f"[{status}] {answer}")]
        self.agent.emit(TaskFinished(result))
        return result
