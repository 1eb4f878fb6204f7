"""What the bandit has learned, as data (``locoder rl status``, ``/rl status``): each tool's tries and mean
reward, and what the policy would suggest first in a few typical situations."""

from __future__ import annotations

from locoder.learn import bandit

# The policy in a few typical situations: what it would suggest first, and its expected reward.
SITUATIONS = {"start of a task": bandit.Situation(""),
              "start, errors in logs/": bandit.Situation("", error_in_logs=True),
              "after a failed tool": bandit.Situation("", last_tool="run_command", last_ok=False)}


def tool_rows(state: bandit.BanditState) -> list[dict]:
    """One row per tool, most tried first: ``tool``, ``count``, ``mean_reward`` (None before any try)."""
    rows = [{"tool": a, "count": state.counts.get(a, 0),
             "mean_reward": round(state.reward_sums.get(a, 0.0) / state.counts[a], 3) if state.counts.get(a) else None}
            for a in state.arms]
    rows.sort(key=lambda r: (-r["count"], r["tool"]))
    return rows


def typical_policy(state: bandit.BanditState, best: int = 3) -> dict[str, list[dict]]:
    """For each of ``SITUATIONS``, the ``best`` tools by expected reward (empty before any update)."""
    policy = {}
    for label, context in SITUATIONS.items():
        if state.arms and state.steps:
            table = bandit.scores(state, bandit.featurize(context, state.dim))
            first = sorted(table, key=lambda a: -table[a][0])[:best]
            policy[label] = [{"tool": a, "expected": round(table[a][0], 3)} for a in first]
    return policy


def cooling(state: bandit.BanditState, cooldowns: dict[str, float], now: float) -> dict[str, int]:
    """Seconds left for each tool on cooldown, rounded."""
    return {t: round(s) for t, s in bandit.on_cooldown(state, cooldowns, now).items()}
