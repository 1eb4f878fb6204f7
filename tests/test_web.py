import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from locoder.messages import ToolCall
from locoder.tools import ToolBox, ToolContext, web
from locoder.tools.extra import extra_tools


class Site:
    """A real HTTP server on 127.0.0.1. ``routes[path]`` is a list of answers (status, headers, body),
    served in turn (the last one repeats); a body of ``None`` streams ``stream_bytes`` without a length."""

    def __init__(self):
        self.routes: dict[str, list[tuple[int, dict[str, str], bytes | None]]] = {}
        self.hits: list[str] = []
        self.stream_bytes = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.hits.append(self.path)
                answers = outer.routes.get(self.path.split("?")[0]) or [(404, {}, b"not found")]
                status, headers, body = answers.pop(0) if len(answers) > 1 else answers[0]
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                if body is not None:
                    self.send_header("content-length", str(len(body)))
                self.end_headers()
                try:
                    if body is None:  # HTTP/1.0 without a length: the body ends when the connection closes
                        for _ in range(outer.stream_bytes // 1024):
                            self.wfile.write(b"x" * 1024)
                    else:
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def site():
    server = Site()
    yield server
    server.close()


@pytest.fixture
def box(tmp_path: Path, monkeypatch) -> ToolBox:
    monkeypatch.setattr(web, "RETRY_BACKOFF", 0.01)
    monkeypatch.delenv(web.SEARCH_URL_VAR, raising=False)
    ws = tmp_path / "ws"
    ws.mkdir()
    return ToolBox(extra_tools(), ToolContext(workspace=ws, command_timeout=10))


def download(box, **args):
    return box.execute(ToolCall("download_file", args))


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- download_file ---

def test_download_saves_the_file_and_reports(box, site):
    site.routes["/data.json"] = [(200, {"content-type": "application/json"}, b'{"a": 1}')]
    result = download(box, url=f"{site.url}/data.json", path="data/a.json")
    assert result.ok, result.output
    assert result.output == (f"saved data/a.json: 8 bytes\nfinal URL: {site.url}/data.json\n"
                             "content-type: application/json")
    ws = box.context.workspace
    assert (ws / "data/a.json").read_bytes() == b'{"a": 1}'
    assert files_in(ws) == ["data", "data/a.json"]  # no temporary file left


def test_download_replaces_an_existing_file(box, site):
    (box.context.workspace / "a.txt").write_text("old")
    site.routes["/a"] = [(200, {"content-type": "text/plain"}, b"new")]
    assert download(box, url=f"{site.url}/a", path="a.txt").output.startswith("replaced a.txt: 3 bytes")
    assert (box.context.workspace / "a.txt").read_text() == "new"


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "data:text/plain,hi",
                                 "javascript:alert(1)", "example.com/x", "http:///nohost"])
def test_only_http_urls_are_downloaded(box, url):
    result = download(box, url=url, path="x")
    assert not result.ok and ("only http and https" in result.output or "names no host" in result.output)
    assert files_in(box.context.workspace) == []


def test_follows_an_http_redirect(box, site):
    site.routes["/old"] = [(301, {"location": "/hop"}, b"")]
    site.routes["/hop"] = [(302, {"location": f"{site.url}/new"}, b"")]
    site.routes["/new"] = [(200, {"content-type": "text/plain"}, b"moved here")]
    result = download(box, url=f"{site.url}/old", path="a.txt")
    assert result.ok and f"final URL: {site.url}/new" in result.output
    assert (box.context.workspace / "a.txt").read_text() == "moved here"


def test_refuses_a_redirect_to_file(box, site):
    site.routes["/sneaky"] = [(302, {"location": "file:///etc/passwd"}, b"")]
    result = download(box, url=f"{site.url}/sneaky", path="a.txt")
    assert not result.ok and "refused redirect to 'file:///etc/passwd'" in result.output
    assert files_in(box.context.workspace) == []


def test_too_many_redirects(box, site):
    site.routes["/loop"] = [(302, {"location": "/loop"}, b"")]
    result = download(box, url=f"{site.url}/loop", path="a.txt")
    assert not result.ok and "too many redirects" in result.output
    assert len(site.hits) == web.MAX_REDIRECTS + 1


def test_aborts_over_the_cap_and_leaves_no_file(box, site):
    site.routes["/big"] = [(200, {}, b"x" * 2000)]
    result = download(box, url=f"{site.url}/big", path="big.bin", max_bytes=1000)
    assert not result.ok and "larger than the cap of 1000 bytes" in result.output
    assert files_in(box.context.workspace) == []


def test_aborts_a_stream_without_length_over_the_cap(box, site):
    site.routes["/stream"] = [(200, {}, None)]
    site.stream_bytes = 64 * 1024
    result = download(box, url=f"{site.url}/stream", path="big.bin", max_bytes=10_000)
    assert not result.ok and "stopped after" in result.output and "nothing was saved" in result.output
    assert files_in(box.context.workspace) == []


def test_max_bytes_cannot_raise_the_default_cap(box, site, monkeypatch):
    monkeypatch.setattr(web, "DEFAULT_MAX_DOWNLOAD", 1000)
    site.routes["/big"] = [(200, {}, b"x" * 2000)]
    result = download(box, url=f"{site.url}/big", path="big.bin", max_bytes=10**9)
    assert not result.ok and "cap of 1000 bytes" in result.output


def test_retries_after_a_503_then_succeeds(box, site):
    site.routes["/flaky"] = [(503, {}, b"busy"), (429, {}, b"slow down"), (200, {}, b"ok")]
    result = download(box, url=f"{site.url}/flaky", path="a.txt")
    assert result.ok, result.output
    assert site.hits == ["/flaky"] * 3
    assert (box.context.workspace / "a.txt").read_text() == "ok"


def test_gives_up_after_three_retries(box, site):
    site.routes["/down"] = [(503, {}, b"busy")]
    result = download(box, url=f"{site.url}/down", path="a.txt")
    assert not result.ok and "HTTP 503" in result.output
    assert len(site.hits) == 1 + web.RETRIES
    assert files_in(box.context.workspace) == []


def test_a_404_is_not_retried(box, site):
    result = download(box, url=f"{site.url}/missing", path="a.txt")
    assert not result.ok and "HTTP 404" in result.output and len(site.hits) == 1


def test_a_dead_server_is_retried_then_reported(box):
    result = download(box, url=f"http://127.0.0.1:{dead_port()}/x", path="a.txt")
    assert not result.ok and "failed after 4 tries" in result.output and "ConnectError" in result.output


@pytest.mark.parametrize("path", ["../outside.txt", "/tmp/outside.txt", "sub/../../x"])
def test_refuses_a_path_outside_the_workspace(box, site, path):
    site.routes["/a"] = [(200, {}, b"data")]
    result = download(box, url=f"{site.url}/a", path=path)
    assert not result.ok and "outside the workspace" in result.output
    assert site.hits == []  # refused before any request


def test_refuses_a_folder_as_target(box, site):
    (box.context.workspace / "sub").mkdir()
    result = download(box, url=f"{site.url}/a", path="sub")
    assert not result.ok and "is a folder" in result.output


# --- search_web ---

def search(box, **args):
    return box.execute(ToolCall("search_web", args))


def test_search_without_configuration_says_so(box):
    result = search(box, query="python asyncio")
    assert result.ok
    assert result.output == "web search is not configured: set LOCODER_SEARCH_URL to a SearxNG URL"


def test_search_against_a_searxng_like_server(box, site, monkeypatch):
    results = [{"title": f"Result {n}", "url": f"https://example.com/{n}", "content": f"about   thing {n}\n"}
               for n in range(1, 8)]
    results[1]["content"] = ""
    site.routes["/search"] = [(200, {"content-type": "application/json"}, json.dumps({"results": results}).encode())]
    monkeypatch.setenv("LOCODER_SEARCH_URL", site.url + "/")
    result = search(box, query="thing & more", max_results=3)
    assert result.ok
    assert result.output == (
        "web results for 'thing & more':\n"
        "1. Result 1\n   https://example.com/1\n   about thing 1\n"
        "2. Result 2\n   https://example.com/2\n"
        "3. Result 3\n   https://example.com/3\n   about thing 3"
    )
    assert site.hits == ["/search?q=thing+%26+more&format=json"]


def test_search_url_may_come_from_the_tool_environment(box, site):
    site.routes["/search"] = [(200, {}, b'{"results": []}')]
    box.context.env = {"LOCODER_SEARCH_URL": site.url}
    assert search(box, query="nothing").output == "no web results for 'nothing'"


def test_search_against_a_dead_port(box, monkeypatch):
    monkeypatch.setenv("LOCODER_SEARCH_URL", f"http://127.0.0.1:{dead_port()}")
    result = search(box, query="x")
    assert result.ok and result.output.startswith("web search failed: could not reach")


@pytest.mark.parametrize(("status", "body", "message"), [
    (403, b"forbidden", "HTTP 403 (is the json format enabled"),
    (500, b"oops", "HTTP 500"),
    (200, b"<html>not json</html>", "did not answer with SearxNG's JSON"),
    (200, b'{"answers": []}', "without a results list"),
])
def test_search_reports_bad_answers(box, site, monkeypatch, status, body, message):
    site.routes["/search"] = [(status, {}, body)]
    monkeypatch.setenv("LOCODER_SEARCH_URL", site.url)
    result = search(box, query="x")
    assert result.ok and result.output.startswith("web search failed") and message in result.output


def test_search_ignores_proxy_variables(box, site, monkeypatch):
    site.routes["/search"] = [(200, {}, b'{"results": [{"title": "T", "url": "u"}]}')]
    monkeypatch.setenv("LOCODER_SEARCH_URL", site.url)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead_port()}")
    monkeypatch.setenv("ALL_PROXY", f"http://127.0.0.1:{dead_port()}")
    assert search(box, query="x").output == "web results for 'x':\n1. T\n   u"
