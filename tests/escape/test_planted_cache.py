"""Caches in the state folder that a command could overwrite (Landlock cannot keep ``.locoder/`` read-only
inside a writable workspace) are data, never code: a planted pickle in the BM25 cache is not loaded, and a
FIFO in its place does not block. The cache is planted by a command where the runner lets it, and by hand
otherwise; then the model's next search_code call runs in locoder itself, outside the sandbox."""

import io
import os
import pickle

import numpy as np
import pytest

from escape.world import RUNNERS
from locoder.index.store import CodeIndex
from locoder.messages import ToolCall
from locoder.sandbox import Sandbox, SandboxPolicy
from locoder.tools import ToolBox, ToolContext, all_tools


class Planted:
    """Unpickling this creates the marker file: proof that code from the cache ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(params=RUNNERS)
def ws(request, tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "shop.py").write_text("def restock(item):\n    return item\n")
    sandbox = Sandbox(workspace, SandboxPolicy(runner=request.param, cpu_seconds=5, memory_mb=2048))
    box = ToolBox(all_tools(), ToolContext(workspace=workspace, command_timeout=10, command_output_chars=4000,
                                           sandbox=sandbox))
    index = CodeIndex(workspace)
    index.update()
    index.lexical()
    index.close()
    return workspace, box, tmp_path / "PWNED"


def payloads(marker: str) -> list[bytes]:
    evil = pickle.dumps({"generation": 10**9, "schema": 2, "bm25": Planted(marker), "ids": []})
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.asarray([Planted(marker)], dtype=object))  # an object array: pickled inside
    return [evil, buffer.getvalue()]


@pytest.mark.parametrize("which", [0, 1], ids=["raw-pickle", "npz-with-objects"])
def test_a_planted_pickle_in_the_bm25_cache_never_runs(ws, which):
    workspace, box, marker = ws
    cache_dir = workspace / ".locoder" / "index"
    payload = payloads(str(marker))[which]
    for name in ("bm25.npz", "bm25.pickle"):
        (workspace / "payload.bin").write_bytes(payload)
        planted = box.execute(ToolCall("run_command", {"command": f"cp payload.bin .locoder/index/{name}"}))
        if "[exit code 0]" not in planted.output:  # bubblewrap keeps .locoder read-only: plant it by hand
            (cache_dir / name).write_bytes(payload)
    result = box.execute(ToolCall("search_code", {"query": "restock"}))
    assert result.ok and "restock" in result.output, result.output
    assert not marker.exists(), "code planted in the cache ran in locoder"


def test_a_fifo_in_place_of_the_cache_does_not_block(ws):
    workspace, box, _ = ws
    cache = workspace / ".locoder" / "index" / "bm25.npz"
    cache.unlink()
    os.mkfifo(cache)
    (workspace / "more.py").write_text("def other():\n    return 2\n")  # a new generation: the cache is read
    result = box.execute(ToolCall("search_code", {"query": "other"}))
    assert result.ok and "other" in result.output, result.output
