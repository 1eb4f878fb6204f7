"""Learning curves from the reward events: what ``locoder rl plot`` draws and ``rl status`` sums up.

- **reward**: the mean reward of the last ``window`` steps.
- **followed**: how often the model used the suggested tool.
- **suggestion accuracy**: among the steps where the right tool is known, how often the suggestion was it.
  A step tells which tool was right when its tool earned a good reward (at least ``GOOD``): that tool. When
  the model followed the suggestion and the reward was poor, the suggestion was wrong. When the model chose
  another tool and it did poorly, the step says nothing about the suggestion and is left out.
"""

from __future__ import annotations

GOOD = 0.5


def _judged(event: dict) -> bool | None:
    good = event.get("reward", 0.0) >= GOOD
    if event.get("followed"):
        return good
    return False if good else None


def _stats(rewards: list[dict]) -> dict:
    """Mean reward, share followed and suggestion accuracy of some reward events (None where undefined)."""
    judged = [j for j in map(_judged, rewards) if j is not None]
    return {"reward": sum(e["reward"] for e in rewards) / len(rewards) if rewards else None,
            "followed": sum(bool(e.get("followed")) for e in rewards) / len(rewards) if rewards else None,
            "accuracy": sum(judged) / len(judged) if judged else None, "judged": len(judged)}


def totals(events: list[dict]) -> dict:
    rewards = [e for e in events if e.get("type") == "reward"]
    stats = _stats(rewards)
    rounded = {k: None if stats[k] is None else round(stats[k], 3) for k in ("reward", "followed", "accuracy")}
    return {"steps": len(rewards), "mean_reward": rounded["reward"], "followed": rounded["followed"],
            "accuracy": rounded["accuracy"], "judged": stats["judged"]}


def curves(events: list[dict], window: int = 20) -> dict[str, list]:
    """Per reward event: its number, and the moving reward, followed rate and suggestion accuracy."""
    rewards = [e for e in events if e.get("type") == "reward"]
    out: dict[str, list] = {"step": [], "reward": [], "followed": [], "accuracy": []}
    for i in range(len(rewards)):
        stats = _stats(rewards[max(0, i + 1 - window): i + 1])
        out["step"].append(i + 1)
        for key in ("reward", "followed", "accuracy"):
            out[key].append(stats[key])
    return out


def plot(events: list[dict], path, window: int = 20) -> None:
    """A PNG of the curves (matplotlib, imported here: ``pip install 'locoder[plot]'``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = curves(events, window)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    raw = [e["reward"] for e in events if e.get("type") == "reward"]
    top.scatter(data["step"], raw, s=6, alpha=0.3, label="reward of each step")
    top.plot(data["step"], data["reward"], label=f"mean of the last {window}")
    top.set_ylabel("reward")
    top.set_ylim(-1.05, 1.05)
    top.legend(loc="lower right")
    top.set_title("What the tool-suggesting bandit has learned")
    accuracy = [(s, a) for s, a in zip(data["step"], data["accuracy"]) if a is not None]
    if accuracy:
        bottom.plot([s for s, _ in accuracy], [a for _, a in accuracy], label="suggestion accuracy")
    bottom.plot(data["step"], data["followed"], linestyle="--", label="suggestion followed")
    bottom.set_ylim(-0.05, 1.05)
    bottom.set_xlabel("step (reward event)")
    bottom.set_ylabel(f"share of the last {window}")
    bottom.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
