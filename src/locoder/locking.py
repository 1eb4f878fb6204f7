"""One process at a time: ``locked`` holds an exclusive ``flock`` on a lock file for a block. Every part of
locoder that must not write at once with another process (the bandit's policy, the vector memory, the model
store, benchmark peer installs) takes it here.

The lowest layer: any part of locoder may import it, and it imports nothing of locoder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the file ``path`` (made, with its folder, if missing) for the block: one
    process at a time across the machine; the others wait. Closing the descriptor releases it."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
