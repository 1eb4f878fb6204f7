"""A command cannot fill the disk: many files, each under the file-size limit, together past ``disk_mb``
in the workspace or its scratch folders (/tmp, HOME, /dev/shm) stop the command, and the observation says why."""

import re
import time

import pytest

from locoder.sandbox import Sandbox, SandboxPolicy

FILLS = {
    "workspace": "for i in $(seq 1 100); do head -c 5000000 /dev/zero > fill$i.bin; done; sleep 4; echo finished",
    "tmp": "for i in $(seq 1 100); do head -c 5000000 /dev/zero > ${TMPDIR:-/tmp}/fill$i.bin; done; sleep 4; echo finished",
    "home": "for i in $(seq 1 100); do head -c 5000000 /dev/zero > ~/fill$i.bin; done; sleep 4; echo finished",
    "python": "python3 -c \"import time\nfor i in range(100):\n    open(f'p{i}.bin', 'wb').write(bytes(5000000))\n"
              "time.sleep(4)\nprint('finished')\"",
    "dev-shm": "for i in $(seq 1 100); do head -c 5000000 /dev/zero > /dev/shm/fill$i.bin; done; sleep 4; echo finished",
}


@pytest.mark.parametrize("where", sorted(FILLS))
def test_filling_the_disk_stops_the_command(world, where):
    sandbox = Sandbox(world["ws"], SandboxPolicy(runner=world["runner"], disk_mb=50, cpu_seconds=30))
    start = time.monotonic()
    result = sandbox.run(FILLS[where], timeout=30, max_output=4000)
    assert time.monotonic() - start < 15, "the command was not stopped in time"
    # Either the watch stopped it (and says so), or a scratch tmpfs of disk_mb ran out of room.
    assert result.stopped or re.search("No space left on device", result.output), result.output[-500:]
    if result.stopped:
        assert "disk cap of 50 MiB (disk_mb)" in result.output and result.status == "stopped by the sandbox"
        assert "finished" not in result.output and not result.ok
    used = sum(p.stat().st_size for p in world["ws"].glob("*.bin"))
    assert used < 400 * 1000000, "the command wrote far past the cap"  # 500 MB if nothing stopped it


def test_writing_under_the_cap_is_left_alone(world):
    sandbox = Sandbox(world["ws"], SandboxPolicy(runner=world["runner"], disk_mb=50))
    result = sandbox.run("head -c 10000000 /dev/zero > ok.bin && sleep 1 && echo finished", timeout=10,
                         max_output=1000)
    assert result.ok and "finished" in result.output


def test_deleting_then_writing_counts_only_growth(world):
    (world["ws"] / "old.bin").write_bytes(bytes(40_000_000))
    sandbox = Sandbox(world["ws"], SandboxPolicy(runner=world["runner"], disk_mb=50))
    result = sandbox.run("rm old.bin && head -c 60000000 /dev/zero > new.bin && sleep 1 && echo finished",
                         timeout=10, max_output=1000)
    assert result.ok and "finished" in result.output, result.output
