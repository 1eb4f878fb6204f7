"""The results of ``locoder bench`` side by side: a Markdown table (a row per task, a column per agent), the
totals per agent, and a plot."""

from __future__ import annotations

import statistics
from pathlib import Path


def _agents(results: list[dict]) -> list[str]:
    return list(dict.fromkeys(r["agent"] for r in results))


def totals(results: list[dict]) -> dict[str, dict]:
    """Per agent: tasks, solved, solve rate, median and total seconds, tokens."""
    out = {}
    for agent in _agents(results):
        mine = [r for r in results if r["agent"] == agent]
        seconds = [r["seconds"] for r in mine]
        out[agent] = {"tasks": len(mine), "solved": sum(r["solved"] for r in mine),
                      "rate": sum(r["solved"] for r in mine) / len(mine) if mine else 0.0,
                      "median_seconds": statistics.median(seconds) if seconds else 0.0,
                      "total_seconds": sum(seconds), "timed_out": sum(bool(r["timed_out"]) for r in mine),
                      "prompt_tokens": sum(r["prompt_tokens"] for r in mine),
                      "completion_tokens": sum(r["completion_tokens"] for r in mine)}
    return out


def table(results: list[dict]) -> str:
    agents = _agents(results)
    by = {(r["task"], r["agent"]): r for r in results}
    tasks = list(dict.fromkeys(r["task"] for r in results))
    lines = ["| task | " + " | ".join(agents) + " |", "|---|" + "---|" * len(agents)]
    for task in tasks:
        cells = []
        for agent in agents:
            r = by.get((task, agent))
            if r is None:
                cells.append("")
                continue
            mark = "solved" if r["solved"] else ("timeout" if r["timed_out"] else "no")
            tilde = "~" if r.get("estimated_requests") else ""  # a request cut mid-stream: its prompt is unknown
            cells.append(f"{mark} {r['seconds']:.0f}s {tilde}{(r['prompt_tokens'] + r['completion_tokens']) / 1000:.1f}k")
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    summary = totals(results)
    lines.append("| **solved** | " + " | ".join(
        f"**{summary[a]['solved']}/{summary[a]['tasks']} ({summary[a]['rate']:.0%})**" for a in agents) + " |")
    lines.append("| median time | " + " | ".join(f"{summary[a]['median_seconds']:.0f}s" for a in agents) + " |")
    lines.append("| tokens (prompt + generated) | " + " | ".join(
        f"{summary[a]['prompt_tokens']:,} + {summary[a]['completion_tokens']:,}" for a in agents) + " |")
    return "\n".join(lines)


def plot(results: list[dict], path: Path, title: str = "") -> Path:
    """Solve rate and time per task for each agent, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    agents = _agents(results)
    summary = totals(results)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.5))
    left.bar(agents, [summary[a]["rate"] for a in agents], color="#4878a8")
    left.set_ylim(0, 1)
    left.set_ylabel("solve rate")
    for i, a in enumerate(agents):
        left.text(i, summary[a]["rate"] + 0.02, f"{summary[a]['solved']}/{summary[a]['tasks']}", ha="center")
    right.boxplot([[r["seconds"] for r in results if r["agent"] == a] for a in agents])
    right.set_xticks(range(1, len(agents) + 1), agents)
    right.set_ylabel("seconds per task")
    fig.suptitle(title or "locoder bench")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
