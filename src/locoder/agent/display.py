"""What the user sees while the agent works: an EventSink that prints steps with rich."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.status import Status

from locoder.events import (
    ApprovalAnswered,
    ChangesKept,
    Event,
    Localised,
    Progress,
    RunResult,
    Step,
    Suggested,
    TaskFinished,
    Thinking,
    ToolFinished,
    ToolStarted,
    Warned,
)


class ConsoleView:
    def __init__(self, console: Console, verbose: bool = False) -> None:
        self.console = console
        self.verbose = verbose
        self._status: Status | None = None
        self._bar: Any = None
        self._bar_task: Any = None
        self._running: ToolStarted | None = None
        """The call running now (its spinner comes back after the user approves it)."""

    def _progress(self, event: Progress) -> None:
        """A bar for long first-run work (indexing, embedding), gone when it completes."""
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as Bar

        self._stop_status()
        if self._bar is None:
            self._bar = Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn(), console=self.console, transient=True)
            self._bar.start()
            self._bar_task = self._bar.add_task(event.label, total=event.total)
        self._bar.update(self._bar_task, completed=event.done, total=event.total, description=event.label)
        if event.done >= event.total:
            self._bar.stop()
            self._bar = None
            self.console.print(f"[dim]{escape(event.label)}: {event.total} done[/]")

    def _stop_status(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def _start_status(self, text: str) -> None:
        self._stop_status()
        if self.console.is_terminal:
            self._status = self.console.status(text)
            self._status.start()

    def emit(self, event: Event) -> None:
        if isinstance(event, Progress):
            self._progress(event)
            return
        if isinstance(event, Thinking):
            self._start_status(f"step {event.step}: thinking...")
            return
        if isinstance(event, ToolStarted):
            self._running = event
            self._start_status(f"step {event.step}: running {event.call.name}...")
            return
        if isinstance(event, ApprovalAnswered) and self._running is not None:
            # Asked and answered: the call runs now (a declined one ends at once).
            self._start_status(f"step {self._running.step}: running {self._running.call.name}...")
            return
        self._stop_status()  # before anything is printed, and while the user is asked to approve a call
        if isinstance(event, ToolFinished):
            self._running = None
        elif isinstance(event, Step):
            self._step(event)
        elif isinstance(event, TaskFinished):
            self._result(event.result)
        elif isinstance(event, Suggested):
            hint = "" if event.hint else ", not given to the model"
            self.console.print(f"[dim]suggested tool: {escape(self._call(event))} ({escape(event.why)}{hint})[/]")
        elif isinstance(event, Localised):
            self.console.print("[bold]likely places[/], best first:")
            for line in event.candidates:
                self.console.print(f"  [dim]{escape(line)}[/]", soft_wrap=True)
        elif isinstance(event, ChangesKept):
            self._kept(event)
        elif isinstance(event, Warned):
            self.console.print(f"[yellow]warning: {escape(str(event.message))}[/]")

    def _kept(self, event: ChangesKept) -> None:
        from locoder.agent.changes import listed

        files = listed(event.files, 6)
        text = {"commit": f"committed {event.commit[:10]} {event.subject!r} ({files}); locoder undo reverts it",
                "checkpoint": f"checkpoint kept of {files}; locoder undo restores them",
                "uncommitted": f"not committed: {files}"}.get(event.kept_as, files)
        self.console.print(f"[dim]{escape(text)}[/]", soft_wrap=True)

    @staticmethod
    def _call(event: Suggested) -> str:
        args = ", ".join(f"{k}={v!r}"[:60] for k, v in (event.arguments or {}).items())
        return f"{event.tool}({args})" if args else event.tool

    def _step(self, event: Step) -> None:
        print_ = self.console.print
        phase = f" [magenta]{escape(event.phase)}[/]" if event.phase else ""
        head = f"[bold cyan]step {event.step}[/]{phase}"
        if event.thought:
            print_(f"{head} [italic]{escape(event.thought)}[/]")
        else:
            print_(head)
        if event.format_error:
            print_(f"  [yellow]unusable reply: {escape(event.format_error)}[/]")
            if self.verbose and event.turn is not None:
                print_(f"  [dim]{escape(event.turn.response.content[:500])}[/]")
        for cite in event.retrieved or []:
            print_(f"  [dim]read {escape(cite)}[/]")
        for observation in event.observations or []:
            call = observation.result.call
            args = ", ".join(f"{k}={v!r}"[:60] for k, v in call.arguments.items())
            colour = "green" if observation.result.ok else "red"
            print_(f"  [{colour}]> {escape(call.name)}[/]({escape(args)})")
            lines = observation.shown.splitlines()
            shown = lines if self.verbose else lines[:6]
            for line in shown:
                print_(f"    [dim]{escape(line[:200])}[/]")
            if len(lines) > len(shown):
                print_(f"    [dim]... ({len(lines) - len(shown)} more lines)[/]")

    def _result(self, result: RunResult) -> None:
        usage = result.usage
        footer = (f"{result.steps} steps, {result.seconds:.1f}s, "
                  f"{usage.prompt_tokens} prompt + {usage.completion_tokens} generated tokens")
        if result.status == "submitted" and not self.console.is_terminal:
            # Piped or redirected: plain lines, no box around the answer.
            self.console.print(f"answer:\n{result.answer}\n({footer})", markup=False, highlight=False, soft_wrap=True)
        elif result.status == "submitted":
            self.console.print(Panel(escape(result.answer), title="answer", subtitle=footer, border_style="green"))
        else:
            self.console.print(f"[bold red]{result.status}:[/] {escape(result.answer)}  [dim]({footer})[/]")
