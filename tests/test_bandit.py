"""The bandit: known-answer updates, persistence, recovery from a bad file, and learning in a simulated
environment where one tool is best for each kind of request."""

import json
import random

import numpy as np
import pytest

from locoder.learn.bandit import BanditState, Situation, choose, featurize, scores, update
from locoder.learn.persistence import append_event, load_state, read_events, save_state

TOOLS = ["context", "codectx", "grep", "esearch", "plan", "tree", "ls", "index", "emb-index", "intel", "vretr",
         "read_file", "edit_file", "run_command", "run_tests"]


def test_an_update_matches_the_closed_form():
    state = BanditState.fresh(["a", "b"], dim=4)
    x = np.array([0.6, 0.8, 0.0, 1.0])
    after = update(state, "a", x, 1.0)
    expected_inv = np.linalg.inv(np.eye(4) + np.outer(x, x))
    assert np.allclose(after.a_inv["a"], expected_inv) and np.allclose(after.b["a"], x)
    assert after.counts == {"a": 1, "b": 0} and after.steps == 1
    assert np.allclose(state.a_inv["a"], np.eye(4)), "update changed the old state"
    mean, bound = scores(after, x)["a"]
    assert mean == pytest.approx(float(x @ expected_inv @ x)) and bound > mean
    twice = update(after, "a", x, 0.0)
    assert np.allclose(twice.a_inv["a"], np.linalg.inv(np.eye(4) + 2 * np.outer(x, x)))


def test_features_are_unit_length_plus_a_bias_and_depend_on_the_state():
    a = featurize(Situation("why does the parser crash?"))
    b = featurize(Situation("why does the parser crash?", error_in_logs=True))
    assert a[-1] == 1.0 and np.linalg.norm(a[:-1]) == pytest.approx(1.0) and not np.allclose(a, b)


def test_choose_skips_unavailable_tools_and_explains_itself():
    state = BanditState.fresh(["grep", "index"], dim=8)
    x = featurize(Situation("find the config loader"), 8)
    arm, why = choose(state, x, random.Random(1), epsilon=0.0, unavailable=frozenset({"grep"}))
    assert arm == "index" and "tried 0 times" in why
    with pytest.raises(ValueError):
        choose(state, x, random.Random(1), unavailable=frozenset({"grep", "index"}))


def test_state_round_trips_and_a_bad_file_is_moved_aside(tmp_path):
    path = tmp_path / "rl_state.json"
    state = update(BanditState.fresh(TOOLS), "grep", featurize(Situation("find x")), 1.0)
    save_state(path, state)
    loaded, warning = load_state(path, TOOLS + ["new_tool"])
    assert not warning and loaded.counts["grep"] == 1 and "new_tool" in loaded.arms
    assert np.allclose(loaded.a_inv["grep"], state.a_inv["grep"], atol=1e-5)
    path.write_text("{not json")
    fresh, warning = load_state(path, TOOLS)
    assert "moved to rl_state.json.corrupt-" in warning and fresh.steps == 0
    assert any(p.name.startswith("rl_state.json.corrupt-") for p in tmp_path.iterdir())
    events = tmp_path / "rl_events.jsonl"
    append_event(events, {"tool": "grep", "reward": 1.0})
    with open(events, "a") as f:
        f.write('{"torn')
    assert [e["tool"] for e in read_events(events)] == ["grep"] and read_events(events)[0]["schema"] == 1


KINDS = {  # request templates -> the best first tool
    "context": ["the service keeps crashing, what do the logs say", "errors in the logs since this morning"],
    "grep": ["find where MAX_RETRIES is defined", "which files mention the string 'deprecated'"],
    "codectx": ["what does the function parse_args in cli.py do", "explain the class Settings in settings.py"],
    "run_tests": ["run the test suite and tell me what fails", "do the tests pass now"],
    "plan": ["plan how to add a caching layer to the api", "propose steps to migrate the database"],
    "tree": ["show me how the project is laid out", "what folders does this repository have"],
}


def test_the_suggestion_learns_the_best_tool_for_each_kind_of_request():
    rng = random.Random(7)
    state = BanditState.fresh(TOOLS)
    hits = []
    for _ in range(500):
        best = rng.choice(sorted(KINDS))
        x = featurize(Situation(rng.choice(KINDS[best]) + f" #{rng.randrange(1000)}"))
        arm, _ = choose(state, x, rng, epsilon=0.05)
        hits.append(arm == best)
        reward = 1.0 if arm == best else 0.0
        if rng.random() < 0.05:
            reward = 1.0 - reward  # noisy outcomes
        state = update(state, arm, x, reward)
    early, late = sum(hits[:50]) / 50, sum(hits[-100:]) / 100
    assert early < 0.5 and late > 0.9, (early, late)


def test_rl_status_and_reset(tmp_path):
    import subprocess
    import sys

    state_dir = tmp_path / ".locoder"
    state = update(BanditState.fresh(["grep", "context"]), "grep", featurize(Situation("find x")), 1.0)
    save_state(state_dir / "rl_state.json", state)

    def rl(*args):
        return subprocess.run([sys.executable, "-m", "locoder", "rl", *args, "-w", str(tmp_path)], capture_output=True,
                              text=True, timeout=60)

    status = json.loads(rl("status", "--json").stdout)
    assert status["steps"] == 1 and status["tools"][0] == {"tool": "grep", "count": 1, "mean_reward": 1.0}
    (state_dir / "rl_state.json").write_text("garbage")
    assert "could not be read" in rl("status").stdout
    save_state(state_dir / "rl_state.json", state)
    assert "learning reset" in rl("reset").stdout and not (state_dir / "rl_state.json").exists()
    assert "nothing learned yet" in rl("status").stdout
