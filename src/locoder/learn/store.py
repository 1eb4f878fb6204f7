"""Where the bandit's learning lives: ``.locoder/rl_state.json`` (the policy, written atomically after each
update) and ``.locoder/rl_events.jsonl`` (one schema-versioned line per reward). A state file that cannot
be read is moved aside with a warning and learning starts over; it never stops a session."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path

from locoder.learn.bandit import BanditState

SCHEMA = 1


def _round(value):
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, list):
        return [_round(v) for v in value]
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    return value


def save_state(path: Path, state: BanditState) -> None:
    from locoder.atomic import write_atomic

    write_atomic(path, json.dumps({"schema": SCHEMA, **_round(asdict(state))}, separators=(",", ":")))


def load_state(path: Path, arms: list[str]) -> tuple[BanditState, str]:
    """The saved state (with any new tools added), or a fresh one; and a warning when the file was bad."""
    if not path.exists():
        return BanditState.fresh(arms), ""
    try:
        data = json.loads(path.read_text())
        if data.pop("schema", None) != SCHEMA:
            raise ValueError("unknown schema")
        state = BanditState(**data)
        for arm in state.arms:
            if len(state.a_inv[arm]) != state.dim or len(state.b[arm]) != state.dim:
                raise ValueError(f"the matrices of {arm} have the wrong size")
    except (OSError, ValueError, TypeError, KeyError) as exc:
        aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
        try:
            os.replace(path, aside)
        except OSError:
            pass
        return BanditState.fresh(arms), f"the learned policy in {path.name} could not be read ({exc}); " \
                                        f"moved to {aside.name}, learning starts over"
    for arm in arms:
        state.ensure(arm)
    return state, ""


def append_event(path: Path, event: dict) -> None:
    """One line per event, written with a single append (concurrent sessions cannot interleave a line)."""
    line = json.dumps({"schema": SCHEMA, "ts": round(time.time(), 3), **event}, separators=(",", ":")) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode("utf-8"))
    finally:
        os.close(fd)


def read_events(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a torn last line after a crash
    return out
