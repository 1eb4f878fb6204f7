"""Commands and paths that try to write, read or reach outside the workspace, hog resources, or outlive
their command."""

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from escape.world import SECRET, run
from locoder.messages import ToolCall
from locoder.sandbox import Sandbox, SandboxPolicy

REFUSED = r"Read-only file system|Permission denied|No such file|not permitted|Operation not permitted|cannot|Invalid cross-device"

WRITES_OUTSIDE = [
    "rm -rf {canary}",
    "rm -f {canary}/file.txt",
    "find {canary} -delete",
    "find {canary} -name '*.txt' -exec rm {{}} +",
    "bash -c 'rm -rf {canary}/sub'",
    "sh -c 'echo pwned > {canary}/file.txt'",
    "python3 -c \"open('{canary}/file.txt', 'w').write('pwned')\"",
    "python3 -c \"import shutil; shutil.rmtree('{canary}')\"",
    "python3 -c \"import os; os.remove('{canary}/file.txt')\"",
    "perl -e 'unlink \"{canary}/file.txt\" or die \"cannot: $!\"'",
    "perl -e 'open(F, \">{canary}/file.txt\") or die \"cannot: $!\"; print F \"x\"'",
    "echo pwned > {canary}/file.txt",
    "echo pwned >> {canary}/file.txt",
    "echo pwned | tee {canary}/file.txt",
    "cp /etc/hostname {canary}/copied.txt",
    "mv {canary}/file.txt ./stolen.txt",
    "touch {canary}/new.txt",
    "chmod 777 {canary}/file.txt",
    "truncate -s 0 {canary}/file.txt",
    "dd if=/dev/zero of={canary}/file.txt bs=1 count=1",
    "sed -i s/precious/pwned/ {canary}/file.txt",
    "mkdir {canary}/newdir",
    "git -C {canary} init",
    "ln -s {canary} escape && echo pwned > escape/file.txt",
    "ln -s {canary}/file.txt link.txt && echo pwned > link.txt",
    "ln {canary}/file.txt hard.txt && echo pwned > hard.txt",
    "cd .. && cd .. && echo pwned > {canary}/file.txt",
    "echo pwned > /proc/self/root{canary}/file.txt",
    "tar -C {canary} -xf /dev/null && touch {canary}/tar.txt",
    "rsync -a /etc/hostname {canary}/ 2>&1 || cp /etc/hostname {canary}/",
    "echo pwned > /etc/locoder-test; echo pwned > /usr/bin/locoder-test",
    "echo pwned > .locoder/audit.jsonl",
    "rm -rf .locoder",
    "mv .locoder gone",
    "unshare -rm sh -c 'mount -o remount,rw / && echo pwned > {canary}/file.txt'",
    "mount -t tmpfs none {canary}",
]


@pytest.mark.parametrize("command", WRITES_OUTSIDE)
def test_writes_and_deletes_outside_the_workspace_fail(world, command):
    out = run(world, command)
    assert "[exit code 0]" not in out or "cannot" in out or "No such file" in out, out
    import re

    assert re.search(REFUSED + r"|Device or resource busy|No space left|error", out, re.I), out


HIDDEN_HOME = [
    "rm -rf {home}",
    "echo pwned > {home}/id_rsa",
    "echo 'alias ls=rm' >> ~/.bashrc && rm -rf ~/{home.name}",
    "git config --global user.name pwned && rm -f {home}/id_rsa",
    "rm -rf ~/* ~/.[a-z]*",
]


@pytest.mark.parametrize("command", HIDDEN_HOME)
def test_the_home_folder_is_hidden_so_changes_go_nowhere(world, command):
    # Commands see an empty private home; the real one is compared byte for byte after the test.
    run(world, command)


READS = [
    ("cat {home}/id_rsa", "No such file|Permission denied"),
    ("cat ~/.ssh/id_rsa", "No such file|Permission denied"),
    ("cat /etc/shadow", "Permission denied|No such file|^\\s*$"),
    ("ls -la /root", ""),
    ("cat /proc/1/environ | tr '\\0' '\\n'", ""),
    ("python3 -c \"import os; print(os.environ.get('OPENAI_API_KEY'))\"", ""),
    ("env", ""),
    ("cat /proc/$PPID/environ | tr '\\0' '\\n'", ""),
]


@pytest.mark.parametrize("command,expected", READS)
def test_secrets_cannot_be_read(world, command, expected):
    out = run(world, command)
    assert "fake" not in out and "PRIVATE KEY" not in out
    assert SECRET not in out, "an API key from the user's environment reached a model-run command"
    if expected:
        import re

        assert re.search(expected, out, re.M), out


@pytest.fixture
def host_server():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"EXFILTRATED")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


NETWORK = [
    "curl -s -m 3 http://127.0.0.1:{port}/ ; echo rc=$?",
    "python3 -c \"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:{port}/', timeout=3).read())\"",
    "exec 3<>/dev/tcp/127.0.0.1/{port} && echo -e 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3",
    "python3 -c \"import socket; s=socket.create_connection(('127.0.0.1', {port}), 3); print('connected')\"",
    "curl -s -m 3 http://example.com/ ; echo rc=$?",
    "python3 -c \"import socket; print(socket.gethostbyname('example.com'))\"",
    "getent hosts example.com; echo rc=$?",
    "curl -s -m 3 http://10.0.0.1/ ; echo rc=$?",
]


@pytest.mark.parametrize("command", NETWORK)
def test_network_egress_is_blocked(world, host_server, command):
    out = run(world, command.replace("{port}", str(host_server)))
    assert "EXFILTRATED" not in out and "connected" not in out and "93.184" not in out, out


def test_network_can_be_allowed_by_policy(world, host_server):
    sandbox = Sandbox(world["ws"], SandboxPolicy(runner=world["runner"], network=True))
    result = sandbox.run(f"curl -s -m 3 http://127.0.0.1:{host_server}/", timeout=10, max_output=1000)
    assert "EXFILTRATED" in result.output


RESOURCE = [
    (":(){{ :|:& }};: ; echo done", r"Resource temporarily unavailable|fork|done|timed out"),
    ("python3 -c \"import os\nwhile True:\n    os.fork()\"", r"BlockingIOError|Resource temporarily unavailable|timed out"),
    ("while true; do sleep 100 & done", r"fork|Resource temporarily unavailable|timed out"),
    ("python3 -c \"x = bytearray(20 * 1024**3)\"", r"MemoryError"),
    ("python3 -c \"while True: pass\"", r"timed out|CPU time limit|killed|exit code 1[35][27]"),
    ("yes", r"bytes of output omitted"),
    ("head -c 100000000 /dev/urandom | base64", r"bytes of output omitted"),
    ("sleep 1000", r"timed out"),
    ("dd if=/dev/zero of=big.bin bs=1M count=3000", r"File size limit exceeded|exit code 153|timed out"),
]


@pytest.mark.parametrize("command,expected", RESOURCE)
def test_resource_abuse_is_contained(world, command, expected):
    import re
    import time

    start = time.monotonic()
    out = run(world, command)
    assert time.monotonic() - start < 15, "the command was not stopped in time"
    assert re.search(expected, out), out[-500:]
    assert len(out) < 6000


BACKGROUND = [
    "nohup sleep 1000 > /dev/null 2>&1 & echo started",
    "setsid sleep 1000 > /dev/null 2>&1 < /dev/null & echo started",
    "(sleep 1000 &) ; echo started",
    "python3 -c \"import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(1000)\nprint('started')\"",
    "sleep 1000 & disown; echo started",
]


@pytest.mark.parametrize("command", BACKGROUND)
def test_background_processes_do_not_outlive_the_command(world, command):
    import subprocess
    import time
    import uuid

    # A sleep of its own length: the suite may run beside other copies of itself on the same machine.
    seconds = str(10000 + uuid.uuid4().int % 90000)
    marker = f"sleep {seconds}"
    assert "started" in run(world, command.replace("sleep 1000", marker).replace("sleep(1000)", f"sleep({seconds})"))
    time.sleep(0.3)
    left = subprocess.run(["pgrep", "-f", f"sleep.{seconds}"], capture_output=True, text=True).stdout.split()
    for pid in left:
        subprocess.run(["kill", "-9", pid])
    assert not left, "a background process outlived the command"


FILE_TOOL_PATHS = [
    ("read_file", {"path": "../../etc/passwd"}),
    ("read_file", {"path": "/etc/passwd"}),
    ("read_file", {"path": "{canary}/file.txt"}),
    ("read_file", {"path": "~/.ssh/id_rsa"}),
    ("read_file", {"path": "/proc/self/root/etc/passwd"}),
    ("read_file", {"path": "sub/../../outside.txt"}),
    ("write_file", {"path": "../escape.txt", "content": "x"}),
    ("write_file", {"path": "{canary}/file.txt", "content": "pwned"}),
    ("write_file", {"path": "/tmp/locoder-escape.txt", "content": "x"}),
    ("edit_file", {"path": "{canary}/file.txt", "search": "precious", "replace": "pwned"}),
    ("list_files", {"path": ".."}),
    ("grep", {"pattern": "root", "path": "/etc"}),
    ("write_file", {"path": "a\x00b", "content": "x"}),
]


@pytest.mark.parametrize("tool,args", FILE_TOOL_PATHS)
def test_file_tools_refuse_paths_outside(world, tool, args):
    args = {k: v.format(**world) if isinstance(v, str) else v for k, v in args.items()}
    result = world["box"].execute(ToolCall(tool, args))
    assert not result.ok and ("outside the workspace" in result.output or "path is required" in result.output)


def test_file_tools_refuse_symlinks_a_command_planted(world):
    run(world, "ln -s {canary} planted && ln -s {canary}/file.txt planted.txt")
    for tool, args in [("write_file", {"path": "planted/new.txt", "content": "x"}),
                       ("edit_file", {"path": "planted.txt", "search": "precious", "replace": "pwned"}),
                       ("read_file", {"path": "planted/sub/deep.txt"})]:
        result = world["box"].execute(ToolCall(tool, args))
        assert not result.ok and "outside the workspace" in result.output


def test_python_and_the_users_tools_still_run(world):
    # Interpreters under a hidden home (pyenv, a venv) come back read-only, so these cases above really ran.
    out = run(world, "python3 -c 'print(6 * 7)' && perl -e 'print 6*7' && git --version")
    assert out.startswith("[exit code 0]") and "42\n42" in out and "git version" in out, out


def test_the_workspace_itself_stays_writable(world):
    out = run(world, "echo fine > ok.txt && mkdir -p pkg && cp ok.txt pkg/ && cat pkg/ok.txt")
    assert "fine" in out and "[exit code 0]" in out
    assert (world["ws"] / "pkg" / "ok.txt").read_text() == "fine\n"




def test_toolchains_under_hidden_folders_come_back_read_only(tmp_path):
    from locoder.sandbox.runners import toolchain_paths

    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    pyenv = tmp_path / "home" / ".pyenv"
    (pyenv / "shims").mkdir(parents=True)
    (pyenv / "versions").mkdir()
    exposed = toolchain_paths([tmp_path / "home", Path("/tmp")], f"{venv / 'bin'}:{pyenv / 'shims'}:/usr/bin")
    assert venv / "bin" in exposed and pyenv in exposed and Path("/usr/bin") not in exposed


def test_a_virtualenv_on_path_comes_back_whole(tmp_path):
    from locoder.sandbox.runners import toolchain_paths

    venv = tmp_path / "home" / ".cache" / "tool-1.0"
    (venv / "bin").mkdir(parents=True)
    (venv / "lib").mkdir()
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    exposed = toolchain_paths([tmp_path / "home", Path("/tmp")], f"/usr/bin:{venv / 'bin'}")
    assert venv in exposed and venv / "bin" not in exposed
