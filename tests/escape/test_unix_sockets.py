"""Host services listening on unix sockets (a tmux server, a database, an agent) cannot be reached: pathname
sockets under /var/tmp (visible to commands), /run and the hidden /tmp, and abstract sockets. The servers are
real and outside the workspace; each writes a marker the moment anything connects."""

import os
import socket
import threading
import uuid
from pathlib import Path

import pytest

from escape.world import run
from locoder.sandbox import Sandbox, SandboxPolicy


class Listener:
    """A unix-socket server in a thread; ``touched`` is set when a client connects."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.touched = threading.Event()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(address)
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.done = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while not self.done:
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.touched.set()
            try:
                conn.sendall(b"HOST-SERVICE-REACHED\n")
            finally:
                conn.close()

    def close(self) -> None:
        self.done = True
        self.thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def listeners():
    folders = []
    made = {}
    for place in ("/var/tmp", "/tmp", "/run"):
        folder = Path(place) / f"locoder-sock-{uuid.uuid4().hex[:8]}"
        folder.mkdir(mode=0o755)
        folders.append(folder)
        made[place] = Listener(str(folder / "server.sock"))
    made["abstract"] = Listener(f"\0locoder-sock-{uuid.uuid4().hex[:8]}")
    yield made
    for listener in made.values():
        listener.close()
    for folder in folders:
        for child in folder.iterdir():
            child.unlink()
        folder.rmdir()


CLIENTS = [
    "python3 -c \"import socket; s=socket.socket(socket.AF_UNIX); s.connect({addr!r}); print(s.recv(100))\"",
    "curl -s -m 3 --unix-socket {addr} http://localhost/ ; echo rc=$?",
    "perl -MIO::Socket::UNIX -e '$s = IO::Socket::UNIX->new(Peer => \"{addr}\") or die \"cannot: $!\"; print <$s>'",
]


CASES = [pytest.param(place, client, id=f"{place}-{name}")
         for place in ("/var/tmp", "/tmp", "/run") for name, client in zip(("python", "curl", "perl"), CLIENTS)]
CASES.append(pytest.param("abstract", CLIENTS[0], id="abstract-python"))  # only python names abstract addresses


@pytest.mark.parametrize("place,client", CASES)
def test_host_unix_sockets_cannot_be_reached(world, listeners, place, client):
    listener = listeners[place]
    out = run(world, client.replace("{addr!r}", repr(listener.address)).replace("{addr}", listener.address))
    assert not listener.touched.wait(0.3), f"a command reached the host service at {listener.address!r}: {out}"
    assert "HOST-SERVICE-REACHED" not in out


def test_io_uring_is_refused(world):
    # io_uring does socket and file work without the system calls the seccomp filter sees.
    out = run(world, "python3 -c \"import ctypes; libc = ctypes.CDLL(None, use_errno=True); "
                     "r = libc.syscall(425, 8, ctypes.create_string_buffer(120)); print('uring', r, ctypes.get_errno())\"")
    assert "uring -1 1" in out, out


def test_unix_sockets_inside_the_command_need_the_setting(world):
    forkserver = ("python3 -c \"import multiprocessing as mp\nif __name__ == '__main__':\n"
                  "    mp.set_start_method('forkserver')\n    print('sum', sum(mp.Pool(2).map(abs, [-1, -2])))\"")
    assert "sum 3" not in run(world, forkserver)
    sandbox = Sandbox(world["ws"], SandboxPolicy(runner=world["runner"], unix_sockets=True))
    out = sandbox.run(forkserver, timeout=30, max_output=4000).output
    assert "sum 3" in out, out


def test_the_fork_start_method_and_socketpair_still_work(world):
    out = run(world, "python3 -c \"import multiprocessing as mp, socket\nif __name__ == '__main__':\n"
                     "    mp.set_start_method('fork')\n    a, b = socket.socketpair()\n    a.send(b'x')\n"
                     "    print('pair', b.recv(1), sum(mp.Pool(2).map(abs, [-1, -2])))\"")
    assert "pair b'x' 3" in out, out


def test_the_setting_widens_it_for_host_sockets_too(world, listeners):
    # Documented: with unix_sockets on, a host socket in a folder commands can see is reachable again.
    listener = listeners["/var/tmp"]
    sandbox = Sandbox(world["ws"], SandboxPolicy(runner=world["runner"], unix_sockets=True))
    sandbox.run(f"python3 -c \"import socket; s=socket.socket(socket.AF_UNIX); s.connect({listener.address!r})\"",
                timeout=10, max_output=1000)
    assert listener.touched.wait(2)
    assert os.path.exists(listener.address)


@pytest.fixture(params=["/var/tmp", "/tmp"])
def tmux_server(request):
    import shutil
    import subprocess

    if not shutil.which("tmux"):
        pytest.skip("tmux is not installed")
    folder = Path(request.param) / f"locoder-tmux-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    sock = folder / "default"
    subprocess.run(["tmux", "-S", str(sock), "new-session", "-d", "sleep 120"], check=True,
                   env={"PATH": "/usr/bin:/bin", "TERM": "xterm"})
    yield {"sock": sock, "marker": folder / "pwned"}
    subprocess.run(["tmux", "-S", str(sock), "kill-server"], capture_output=True)
    shutil.rmtree(folder, ignore_errors=True)


def test_a_tmux_server_cannot_run_commands_for_the_model(world, tmux_server):
    # `tmux run-shell` runs its command in the server, outside the sandbox, as the user.
    sock, marker = tmux_server["sock"], tmux_server["marker"]
    out = run(world, f"tmux -S {sock} run-shell 'touch {marker}'; tmux -S {sock} send-keys 'touch {marker}' Enter;"
                     f" echo rc=$?")
    import time

    time.sleep(0.5)
    assert not marker.exists(), f"the tmux server ran a command for the model: {out}"
