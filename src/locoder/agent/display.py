"""What the user sees while the agent works: an EventSink that prints steps with rich."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.status import Status


class ConsoleView:
    def __init__(self, console: Console, verbose: bool = False) -> None:
        self.console = console
        self.verbose = verbose
        self._status: Status | None = None
        self._bar: Any = None
        self._bar_task: Any = None

    def _progress(self, event: dict[str, Any]) -> None:
        """A bar for long first-run work (indexing, embedding), gone when it completes."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._stop_status()
        if self._bar is None:
            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn(), console=self.console, transient=True)
            self._bar.start()
            self._bar_task = self._bar.add_task(event["label"], total=event["total"])
        self._bar.update(self._bar_task, completed=event["done"], total=event["total"], description=event["label"])
        if event["done"] >= event["total"]:
            self._bar.stop()
            self._bar = None
            self.console.print(f"[dim]{escape(event['label'])}: {event['total']} done[/]")

    def _stop_status(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def emit(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "progress":
            self._progress(event)
            return
        if kind == "thinking":
            self._stop_status()
            if self.console.is_terminal:
                self._status = self.console.status(f"step {event['step']}: thinking...")
                self._status.start()
            return
        self._stop_status()
        if kind == "step":
            self._step(event)
        elif kind == "result":
            self._result(event)
        elif kind == "suggestion":
            hint = "" if event.get("hint") else ", not given to the model"
            self.console.print(f"[dim]suggested tool: {escape(self._call(event))} ({escape(event['why'])}{hint})[/]")
        elif kind == "localised":
            self.console.print("[bold]likely places[/], best first:")
            for line in event.get("candidates", []):
                self.console.print(f"  [dim]{escape(line)}[/]", soft_wrap=True)
        elif kind == "warning":
            self.console.print(f"[yellow]warning: {escape(str(event['message']))}[/]")

    @staticmethod
    def _call(event: dict[str, Any]) -> str:
        args = ", ".join(f"{k}={v!r}"[:60] for k, v in (event.get("arguments") or {}).items())
        return f"{event['tool']}({args})" if args else event["tool"]

    def _step(self, event: dict[str, Any]) -> None:
        print_ = self.console.print
        phase = f" [magenta]{escape(event['phase'])}[/]" if event.get("phase") else ""
        head = f"[bold cyan]step {event['step']}[/]{phase}"
        if event.get("thought"):
            print_(f"{head} [italic]{escape(event['thought'])}[/]")
        else:
            print_(head)
        if event.get("format_error"):
            print_(f"  [yellow]unusable reply: {escape(event['format_error'])}[/]")
            if self.verbose:
                print_(f"  [dim]{escape(str(event.get('raw_output', ''))[:500])}[/]")
        for cite in event.get("retrieved", []):
            print_(f"  [dim]read {escape(cite)}[/]")
        for call, obs in zip(event.get("calls", []), event.get("observations", [])):
            args = ", ".join(f"{k}={v!r}"[:60] for k, v in call["arguments"].items())
            colour = "green" if obs["ok"] else "red"
            print_(f"  [{colour}]> {escape(call['tool'])}[/]({escape(args)})")
            lines = obs["output"].splitlines()
            shown = lines if self.verbose else lines[:6]
            for line in shown:
                print_(f"    [dim]{escape(line[:200])}[/]")
            if len(lines) > len(shown):
                print_(f"    [dim]... ({len(lines) - len(shown)} more lines)[/]")

    def _result(self, event: dict[str, Any]) -> None:
        status = event["status"]
        usage = event.get("usage") or {}
        footer = (f"{event['steps']} steps, {event['seconds']:.1f}s, "
                  f"{usage.get('prompt_tokens', 0)} prompt + {usage.get('completion_tokens', 0)} generated tokens")
        if status == "submitted":
            self.console.print(Panel(escape(event["answer"]), title="answer", subtitle=footer, border_style="green"))
        else:
            self.console.print(f"[bold red]{status}:[/] {escape(event['answer'])}  [dim]({footer})[/]")
