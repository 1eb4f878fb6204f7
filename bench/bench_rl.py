"""The tool-suggesting bandit: does it learn the right first tool, and does its hint help the model?

Run: .venv/bin/python bench/bench_rl.py [--model] [--limit N] [--json]

Data: ``bench/data/tool_requests.jsonl``, 136 realistic requests, each labelled with the best first tool
(8 for each of 17 tools), with the state flags a session would see (an index exists, errors in logs/).

1. **Learning.** The requests are split into 3 folds (every tool in every fold). For each fold and seed,
   a fresh bandit over the agent's 24 suggestible tools plays simulated interactions on the other two
   folds: a random training request, the bandit's suggestion (epsilon 0.05), reward 1 when it is the
   label and 0 otherwise, flipped with probability 0.05 (noise). After 0, 50, 200 and 500 interactions,
   its suggestion (no exploration) is scored on the held-out fold (requests it never saw) and on the
   training folds. Chance is 1/24.
2. **Cost.** Updates and suggestions per second, and the size of the saved state.
3. **With the model** (``--model``): the embedded default model's own first tool for each request, asked
   exactly as the agent asks it (the system prompt with all 25 tools, constrained decoding), without and
   with the hint. The hint comes from a bandit trained 500 interactions on the other folds (new requests),
   or on all requests (requests like this one were seen before), and is given under the loop's rule (the
   tool was tried at least 3 times and is expected to earn at least 0.5); otherwise the request is asked
   without one.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from locoder.agent.advisor import NOT_SUGGESTED, Suggestion, earns_hint
from locoder.learn import bandit
from locoder.learn.arguments import PATH, fill_arguments
from locoder.learn.persistence import save_state
from locoder.tools import all_tools

DATA = Path(__file__).parent / "data" / "tool_requests.jsonl"
DESCRIPTIONS = {t.name: t.description for t in all_tools()}
"""The prior every new tool starts from in the loop (its own description)."""
CHECKPOINTS = (0, 50, 200, 500)
FOLDS = 3
SEEDS = (0, 1, 2)
NOISE = 0.05
EPSILON = 0.05


def load() -> list[dict]:
    return [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]


def context(row: dict) -> bandit.Situation:
    return bandit.Situation(row["request"], index_exists=row.get("index_exists", False),
                          error_in_logs=row.get("error_in_logs", False),
                          files_mentioned=bool(PATH.search(row["request"])))


def folds(rows: list[dict]) -> list[int]:
    """Fold of each row: the rows of each tool dealt round-robin, so every fold has every tool."""
    seen: dict[str, int] = {}
    out = []
    for row in rows:
        out.append(seen.get(row["tool"], 0) % FOLDS)
        seen[row["tool"]] = seen.get(row["tool"], 0) + 1
    return out


def accuracy(state: bandit.BanditState, rows: list[dict], features: dict[int, object]) -> float:
    rng = random.Random(0)
    hits = sum(bandit.choose(state, features[id(r)], rng, epsilon=0.0)[0] == r["tool"] for r in rows)
    return hits / len(rows)


def interact(state: bandit.BanditState, rows: list[dict], n: int, rng: random.Random, features: dict) -> bandit.BanditState:
    """``n`` simulated interactions: a random request, the bandit's suggestion, a noisy 0/1 reward."""
    for _ in range(n):
        row = rng.choice(rows)
        x = features[id(row)]
        arm, _ = bandit.choose(state, x, rng, epsilon=EPSILON)
        reward = 1.0 if arm == row["tool"] else 0.0
        if rng.random() < NOISE:
            reward = 1.0 - reward
        state = bandit.update(state, arm, x, reward)
    return state


def trained_on_all(rows: list[dict], arms: list[str]) -> bandit.BanditState:
    """A bandit after 500 interactions over every request (the requests a user makes recur)."""
    features = {id(r): bandit.featurize(context(r)) for r in rows}
    return interact(bandit.with_prior(bandit.BanditState.fresh(arms), DESCRIPTIONS), rows, 500, random.Random(9), features)


def learning(rows: list[dict], arms: list[str]) -> tuple[dict, dict[int, bandit.BanditState]]:
    assignment = folds(rows)
    features = {id(r): bandit.featurize(context(r)) for r in rows}
    held: dict[int, list[float]] = {c: [] for c in CHECKPOINTS}
    seen: dict[int, list[float]] = {c: [] for c in CHECKPOINTS}
    trained: dict[int, bandit.BanditState] = {}
    hints: list[bool | None] = []
    hints_seen: list[bool | None] = []
    for fold in range(FOLDS):
        test = [r for r, f in zip(rows, assignment) if f == fold]
        train = [r for r, f in zip(rows, assignment) if f != fold]
        for seed in SEEDS:
            rng = random.Random(seed * 100 + fold)
            state = bandit.with_prior(bandit.BanditState.fresh(arms), DESCRIPTIONS)
            done = 0
            for checkpoint in CHECKPOINTS:
                state = interact(state, train, checkpoint - done, rng, features)
                done = checkpoint
                held[checkpoint].append(accuracy(state, test, features))
                seen[checkpoint].append(accuracy(state, train, features))
            for row in test:
                hint = hint_for(state, row)
                hints.append(None if hint is None else hint.tool == row["tool"])
            for row in train:
                hint = hint_for(state, row)
                hints_seen.append(None if hint is None else hint.tool == row["tool"])
            if seed == SEEDS[0]:
                trained[fold] = state
    given = [h for h in hints if h is not None]
    given_seen = [h for h in hints_seen if h is not None]
    return ({"held_out": {c: round(statistics.mean(v), 3) for c, v in held.items()},
             "hint_given_500": round(len(given) / len(hints), 3),
             "hint_right_500": round(sum(given) / len(given), 3) if given else None,
             "hint_given_500_seen": round(len(given_seen) / len(hints_seen), 3),
             "hint_right_500_seen": round(sum(given_seen) / len(given_seen), 3) if given_seen else None,
             "held_out_min": {c: round(min(v), 3) for c, v in held.items()},
             "seen": {c: round(statistics.mean(v), 3) for c, v in seen.items()},
             "chance": round(1 / len(arms), 3)}, trained)


def cost(arms: list[str], rows: list[dict]) -> dict:
    rng = random.Random(1)
    xs = [bandit.featurize(context(r)) for r in rows]
    state = bandit.BanditState.fresh(arms)
    n = 2000
    start = time.perf_counter()
    for i in range(n):
        state = bandit.update(state, arms[i % len(arms)], xs[i % len(xs)], float(i % 2))
    updates = n / (time.perf_counter() - start)
    start = time.perf_counter()
    for i in range(500):
        bandit.choose(state, xs[i % len(xs)], rng, epsilon=0.0)
    choices = 500 / (time.perf_counter() - start)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rl_state.json"
        start = time.perf_counter()
        save_state(path, state)
        save = time.perf_counter() - start
        size = path.stat().st_size
    return {"updates_per_s": round(updates), "suggestions_per_s": round(choices), "state_bytes": size,
            "save_ms": round(save * 1000, 1), "arms": len(arms), "dim": state.dim}


def hint_for(state: bandit.BanditState, row: dict) -> Suggestion | None:
    x = bandit.featurize(context(row))
    tool, why = bandit.choose(state, x, random.Random(0), epsilon=0.0)
    expected, tries = bandit.scores(state, x)[tool][0], state.counts.get(tool, 0)
    if not earns_hint(tries, expected):
        return None
    return Suggestion(tool, why, fill_arguments(tool, row["request"]), expected, tries, hint=True)


def with_model(rows: list[dict], trained: dict[int, bandit.BanditState], everything: bandit.BanditState,
               limit: int) -> dict:
    from locoder.agent.factory import build_agent
    from locoder.config import load_settings
    from locoder.messages import Message
    from locoder.models.parsing import action_schema

    assignment = folds(rows)
    picked = list(zip(rows, assignment))
    if limit:  # the first requests of every tool, in turn, so that each tool is asked about as often
        by_tool: dict[str, list] = {}
        for pair in picked:
            by_tool.setdefault(pair[0]["tool"], []).append(pair)
        picked = [group[i] for i in range(max(map(len, by_tool.values()))) for group in by_tool.values()
                  if i < len(group)][:limit]
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings({"workspace": tmp, "memory": False, "repo_map_tokens": 0, "docs_tokens": 0,
                                  "toolset": "all", "rl": False, "max_tokens": 256})
        agent = build_agent(settings)
        schema = action_schema(agent.schemas, 1)
        system = agent.messages[0]
        results = []
        start = time.perf_counter()
        try:
            for n, (row, fold) in enumerate(picked, 1):
                hint, seen = hint_for(trained[fold], row), hint_for(everything, row)
                chosen = {}
                for label, advice in (("plain", None), ("hinted", hint), ("hinted_seen", seen)):
                    if label != "plain" and advice is None:
                        chosen[label] = chosen["plain"]
                        continue
                    text = f"{row['request']}\n\n{advice.hint_text()}" if advice else row["request"]
                    response = agent.model.query([system, Message("user", text)], schema=schema)
                    try:
                        calls = agent.parse(response, {})
                        chosen[label] = calls[0].name if calls else ""
                    except Exception:  # an unusable reply counts as a wrong choice
                        chosen[label] = ""
                results.append({"request": row["request"], "label": row["tool"], "hint": hint.tool if hint else "",
                                "hint_seen": seen.tool if seen else "", **chosen})
                print(f"  {n}/{len(picked)} {row['tool']:<13} plain {chosen['plain']:<13} hinted {chosen['hinted']:<13}"
                      f" ({hint.tool if hint else '-'}) seen {chosen['hinted_seen']:<13} ({seen.tool if seen else '-'})",
                      file=sys.stderr, flush=True)
        finally:
            agent.model.close()
        seconds = time.perf_counter() - start
    hinted = [r for r in results if r["hint"]]
    hinted_seen = [r for r in results if r["hint_seen"]]
    queries = sum(1 + bool(r["hint"]) + bool(r["hint_seen"]) for r in results)
    return {
        "model": settings.model, "requests": len(results),
        "accuracy_without_hint": round(sum(r["plain"] == r["label"] for r in results) / len(results), 3),
        "accuracy_with_hint": round(sum(r["hinted"] == r["label"] for r in results) / len(results), 3),
        "hint_given": round(len(hinted) / len(results), 3),
        "hint_right": round(sum(r["hint"] == r["label"] for r in hinted) / len(hinted), 3) if hinted else None,
        "model_followed_hint": round(sum(r["hinted"] == r["hint"] for r in hinted) / len(hinted), 3) if hinted else None,
        "accuracy_with_hint_seen": round(sum(r["hinted_seen"] == r["label"] for r in results) / len(results), 3),
        "hint_given_seen": round(len(hinted_seen) / len(results), 3),
        "hint_right_seen": round(sum(r["hint_seen"] == r["label"] for r in hinted_seen) / len(hinted_seen), 3)
        if hinted_seen else None,
        "seconds_per_query": round(seconds / max(1, queries), 2),
        "rows": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="store_true", help="also ask the embedded model (minutes on a CPU)")
    parser.add_argument("--limit", type=int, default=0, help="with --model: only this many requests, spread evenly")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = load()
    arms = [t.name for t in all_tools() if t.name not in NOT_SUGGESTED]
    learned, trained = learning(rows, arms)
    report = {"requests": len(rows), "tools_labelled": len({r["tool"] for r in rows}), "learning": learned,
              "cost": cost(arms, rows)}
    if args.model:
        report["model"] = with_model(rows, trained, trained_on_all(rows, arms), args.limit)
    if args.json:
        print(json.dumps(report, indent=1))
        return
    print(f"{report['requests']} labelled requests over {report['tools_labelled']} tools; "
          f"{len(arms)} suggestible tools (chance {learned['chance']:.3f})")
    print("suggestion accuracy after N simulated interactions (mean of 3 folds x 3 seeds):")
    print("  N      held-out (min)     seen")
    for c in CHECKPOINTS:
        print(f"  {c:<5}  {learned['held_out'][c]:.3f} ({learned['held_out_min'][c]:.3f})     {learned['seen'][c]:.3f}")
    print(f"  hints after 500 (the loop's rule): new requests {learned['hint_given_500']:.0%} given, right "
          f"{learned['hint_right_500']}; seen requests {learned['hint_given_500_seen']:.0%} given, right "
          f"{learned['hint_right_500_seen']}")
    c = report["cost"]
    print(f"cost: {c['updates_per_s']} updates/s, {c['suggestions_per_s']} suggestions/s, state file "
          f"{c['state_bytes'] / 1024:.0f} KiB ({c['arms']} tools x {c['dim']} features), saved in {c['save_ms']} ms")
    if args.model:
        m = report["model"]
        print(f"model {m['model']} on {m['requests']} requests ({m['seconds_per_query']} s per query):")
        print(f"  first tool right without the hint: {m['accuracy_without_hint']:.3f}")
        print(f"  first tool right with the hint:    {m['accuracy_with_hint']:.3f}")
        print(f"    (new requests: hint given for {m['hint_given']:.0%}, right {m['hint_right']}, "
              f"followed {m['model_followed_hint']})")
        print(f"  first tool right with the hint, requests seen before: {m['accuracy_with_hint_seen']:.3f}")
        print(f"    (hint given for {m['hint_given_seen']:.0%}, right {m['hint_right_seen']})")


if __name__ == "__main__":
    main()
