"""Where the bandit's learning lives: ``StatePaths.rl_state`` (``rl_state.json`` in the state folder: the policy,
written atomically after each update) and ``StatePaths.rl_events`` (``rl_events.jsonl``: one schema-versioned
line per reward). A state file that cannot be read is moved aside with a warning and learning starts over; it
never stops a session."""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path

from locoder.learn.bandit import BanditState, with_prior
from locoder.regular_files import append_line, read_json_lines, read_text

SCHEMA = 2
"""Schema of the state file. 2: the matrices are stored as base64 float32 (the upper triangle of each symmetric
inverse), which keeps 24 tools x 128 features near 1 MB."""
EVENTS_SCHEMA = 1
"""Schema of each line of the events file."""


def _pack(array) -> str:
    import numpy as np

    return base64.b64encode(np.asarray(array, dtype="<f4").tobytes()).decode("ascii")


def _unpack(text: str, size: int):
    import numpy as np

    values = np.frombuffer(base64.b64decode(text, validate=True), dtype="<f4").astype(np.float64)
    if values.size != size:
        raise ValueError(f"a stored array has {values.size} values, not {size}")
    return values


def save_state(path: Path, state: BanditState) -> None:
    import numpy as np

    from locoder.atomic import write_atomic

    upper = np.triu_indices(state.dim)
    data = {"schema": SCHEMA, "arms": state.arms, "dim": state.dim, "alpha": state.alpha, "counts": state.counts,
            "reward_sums": {a: round(v, 6) for a, v in state.reward_sums.items()}, "steps": state.steps,
            "last_run": state.last_run, "hint_record": state.hint_record,
            "a_inv": {a: _pack(state.a_inv[a][upper]) for a in state.arms},
            "b": {a: _pack(state.b[a]) for a in state.arms}}
    write_atomic(path, json.dumps(data, separators=(",", ":")))


def _decode(data: dict) -> BanditState:
    import numpy as np

    if data.get("schema") != SCHEMA:
        raise ValueError(f"schema {data.get('schema')!r}, this locoder reads {SCHEMA}")
    dim = int(data["dim"])
    upper = np.triu_indices(dim)
    state = BanditState(list(data["arms"]), dim, float(data["alpha"]), counts=dict(data["counts"]),
                        reward_sums=dict(data["reward_sums"]), steps=int(data["steps"]),
                        last_run=dict(data.get("last_run", {})),
                        hint_record={str(k): [int(v[0]), int(v[1])] for k, v in data.get("hint_record", {}).items()})
    for arm in state.arms:
        matrix = np.zeros((dim, dim))
        matrix[upper] = _unpack(data["a_inv"][arm], len(upper[0]))
        state.a_inv[arm] = matrix + np.triu(matrix, 1).T
        state.b[arm] = _unpack(data["b"][arm], dim)
        state.counts.setdefault(arm, 0)
        state.reward_sums.setdefault(arm, 0.0)
    return state


def load_state(path: Path, arms: list[str], prior: dict[str, str] | None = None) -> tuple[BanditState, str]:
    """The saved state (with any new tools added), or a fresh one; and a warning when the file was bad.
    ``prior``: tool descriptions that new tools start from (``bandit.with_prior``)."""
    if not path.exists():
        return with_prior(BanditState.fresh(arms), prior or {}), ""
    try:
        state = _decode(json.loads(read_text(path, errors="strict")))
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
        try:
            os.replace(path, aside)
        except OSError:
            pass
        return with_prior(BanditState.fresh(arms), prior or {}), \
            f"the learned policy in {path.name} could not be read ({exc}); moved to {aside.name}, learning starts over"
    new = [arm for arm in arms if arm not in state.a_inv]
    for arm in new:
        state.ensure(arm)
    return with_prior(state, {a: d for a, d in (prior or {}).items() if a in new}), ""


def lock_path(path: Path) -> Path:
    """The file whose ``atomic.locked`` lets one session at a time change the state file ``path``: each one
    re-reads the state inside the lock and adds its own updates, so concurrent sessions in a workspace lose
    nothing."""
    return path.with_name(path.name + ".lock")


def append_event(path: Path, event: dict) -> None:
    """One line per event, written with a single append (concurrent sessions cannot interleave a line)."""
    line = json.dumps({"schema": EVENTS_SCHEMA, "ts": round(time.time(), 3), **event}, separators=(",", ":")) + "\n"
    append_line(path, line.encode("utf-8"), 0o644)  # a FIFO planted in its place is refused, not waited on


def read_events(path: Path) -> list[dict]:
    """Every complete event; none when the file is missing or cannot be read (a torn line is skipped)."""
    try:
        return read_json_lines(path)
    except OSError:
        return []
