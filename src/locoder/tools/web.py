"""download_file and search_web: the agent's two ways out to the web, both bounded.

Downloads are http(s) only, redirects included; they are size-capped while streaming and saved atomically
inside the workspace. Search talks to a SearxNG instance named by ``LOCODER_SEARCH_URL``; without one it
says so as an observation, so a model without web access learns that and carries on.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from locoder.exceptions import ToolError
from locoder.tools.base import ToolContext, tool
from locoder.tools.paths import check_writable, display, write_beneath

DEFAULT_MAX_DOWNLOAD = 5 * 1024 * 1024
MAX_REDIRECTS = 5
RETRIES = 3  # after the first try
RETRY_BACKOFF = 0.5  # seconds, doubled on each retry
MAX_RETRY_AFTER = 10.0  # seconds; a longer Retry-After is not waited for
# Errors worth another try: the connection failed or broke. A read timeout is not retried: it already waited.
_TRANSIENT = (httpx.NetworkError, httpx.ConnectTimeout, httpx.RemoteProtocolError)
RETRY_STATUS = {429, 500, 502, 503, 504}
REDIRECT_STATUS = {301, 302, 303, 307, 308}
ALLOWED_SCHEMES = {"http", "https"}
SEARCH_URL_VAR = "LOCODER_SEARCH_URL"
MAX_SEARCH_RESULTS = 20
SNIPPET_CHARS = 300
USER_AGENT = "locoder (a local coding agent)"


class _TooLarge(Exception):
    pass


@dataclass
class _Answer:
    url: str
    status: int
    headers: httpx.Headers
    size: int = 0


def _checked_url(url: str, what: str = "URL") -> str:
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:
        raise ToolError(f"bad {what} {url!r}: {exc}") from None
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        scheme = f"{parts.scheme}:" if parts.scheme else "no scheme"
        raise ToolError(f"refused {what} {url!r} ({scheme}): only http and https URLs can be downloaded")
    if not parts.hostname:
        raise ToolError(f"bad {what} {url!r}: it names no host")
    return url.strip()


def _fetch_once(client: httpx.Client, url: str, part: Path, cap: int) -> _Answer:
    """One GET; the body is saved to ``part`` only for a success, and the download stops past ``cap``."""
    with client.stream("GET", url) as response:
        answer = _Answer(str(response.url), response.status_code, response.headers)
        if response.status_code >= 300:
            return answer
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise _TooLarge(f"the server says it is {int(declared)} bytes")
        with open(part, "wb") as sink:
            for chunk in response.iter_bytes():
                answer.size += len(chunk)
                if answer.size > cap:
                    raise _TooLarge(f"stopped after {answer.size} bytes")
                sink.write(chunk)
        return answer


def _retry_delay(attempt: int, answer: _Answer | None) -> float:
    delay = RETRY_BACKOFF * 2**attempt
    wait = answer.headers.get("retry-after", "") if answer else ""
    return max(delay, min(float(wait), MAX_RETRY_AFTER)) if wait.isdigit() else delay


def _fetch(client: httpx.Client, url: str, part: Path, cap: int) -> _Answer:
    """``_fetch_once`` with retries for connection errors and for 5xx and 429 answers."""
    for attempt in range(RETRIES + 1):
        answer, error = None, ""
        try:
            answer = _fetch_once(client, url, part, cap)
            if answer.status not in RETRY_STATUS:
                return answer
        except _TRANSIENT as exc:
            error = f"{type(exc).__name__}: {exc}"
        except httpx.HTTPError as exc:
            raise ToolError(f"download of {url} failed: {type(exc).__name__}: {exc}") from None
        if attempt == RETRIES:
            if answer is not None:
                return answer
            raise ToolError(f"download of {url} failed after {RETRIES + 1} tries: {error}")
        time.sleep(_retry_delay(attempt, answer))
    raise AssertionError("unreachable")


def _download(url: str, part: Path, cap: int) -> _Answer:
    timeout = httpx.Timeout(30.0, connect=10.0)
    with httpx.Client(trust_env=False, follow_redirects=False, timeout=timeout,
                      headers={"user-agent": USER_AGENT}) as client:
        for _hop in range(MAX_REDIRECTS + 1):
            answer = _fetch(client, url, part, cap)
            if answer.status not in REDIRECT_STATUS:
                if answer.status >= 300:
                    raise ToolError(f"download of {url} failed: HTTP {answer.status}")
                return answer
            location = answer.headers.get("location")
            if not location:
                raise ToolError(f"{url} answered HTTP {answer.status} without saying where to go")
            url = _checked_url(urljoin(url, location), "redirect to")
    raise ToolError(f"too many redirects (more than {MAX_REDIRECTS}); last one to {url}")


@tool(effects=("write", "network"), subject="path")
def download_file(ctx: ToolContext, url: str, path: str, max_bytes: int | None = None) -> str:
    """Download an http(s) URL into a file of the workspace (at most 5 MB).

    Args:
        url: The http or https URL to download.
        path: Where to save it, relative to the workspace.
        max_bytes: Refuse files larger than this many bytes (at most the 5 MB default).
    """
    if not ctx.network_allowed:
        raise ToolError("network access is off for this session; the user can allow it with --allow-network")
    url = _checked_url(url)
    if max_bytes is not None and max_bytes <= 0:
        raise ToolError("max_bytes must be a positive number of bytes")
    cap = min(max_bytes or DEFAULT_MAX_DOWNLOAD, DEFAULT_MAX_DOWNLOAD)
    target = check_writable(ctx.workspace, path, ctx.protected)
    if target.is_dir():
        raise ToolError(f"{path} is a folder; give a file path")
    # Downloaded aside (outside the workspace), then written through the same race-free path as write_file.
    fd, name = tempfile.mkstemp(prefix="locoder-download-", suffix=".part")
    os.close(fd)
    part = Path(name)
    existed = target.exists()
    try:
        answer = _download(url, part, cap)
        write_beneath(ctx.workspace, target, path, part.read_bytes())
    except _TooLarge as exc:
        raise ToolError(f"refused {url}: larger than the cap of {cap} bytes ({exc}); nothing was saved") from None
    finally:
        part.unlink(missing_ok=True)
    kind = answer.headers.get("content-type", "unknown")
    verb = "replaced" if existed else "saved"
    return (f"{verb} {display(ctx.workspace, target)}: {answer.size} bytes\n"
            f"final URL: {answer.url}\ncontent-type: {kind}")


def _render(query: str, results: list[dict], limit: int) -> str:
    lines = []
    for n, item in enumerate(results[:limit], 1):
        title = " ".join(str(item.get("title") or "(no title)").split())
        snippet = " ".join(str(item.get("content") or "").split())
        if len(snippet) > SNIPPET_CHARS:
            snippet = snippet[:SNIPPET_CHARS].rstrip() + "..."
        lines.append(f"{n}. {title}\n   {item.get('url', '')}" + (f"\n   {snippet}" if snippet else ""))
    if not lines:
        return f"no web results for {query!r}"
    return f"web results for {query!r}:\n" + "\n".join(lines)


@tool(effects="network", subject="query")
def search_web(ctx: ToolContext, query: str, max_results: int = 5) -> str:
    """Search the web and list the results' titles, URLs and snippets (needs a configured search service).

    Args:
        query: What to search for.
        max_results: How many results to show (at most 20).
    """
    if not ctx.network_allowed:
        return "web search is off: network access is off for this session (the user can pass --allow-network)"
    if not query.strip():
        raise ToolError("a search query is required")
    base = ((ctx.env or {}).get(SEARCH_URL_VAR) or os.environ.get(SEARCH_URL_VAR, "")).strip()
    if not base:
        return f"web search is not configured: set {SEARCH_URL_VAR} to a SearxNG URL"
    if urlsplit(base).scheme.lower() not in ALLOWED_SCHEMES:
        return f"web search is not configured: {SEARCH_URL_VAR}={base!r} is not an http(s) URL"
    limit = min(max(max_results, 1), MAX_SEARCH_RESULTS)
    endpoint = base.rstrip("/") + "/search"
    try:
        with httpx.Client(trust_env=False, timeout=httpx.Timeout(20.0, connect=5.0),
                          headers={"user-agent": USER_AGENT, "accept": "application/json"}) as client:
            response = client.get(endpoint, params={"q": query, "format": "json"})
    except httpx.HTTPError as exc:
        return f"web search failed: could not reach {endpoint}: {type(exc).__name__}: {exc}"
    if response.status_code != 200:
        hint = " (is the json format enabled in SearxNG's settings.yml, search.formats?)" \
            if response.status_code == 403 else ""
        return f"web search failed: {endpoint} answered HTTP {response.status_code}{hint}"
    try:
        results = response.json().get("results")
    except (ValueError, AttributeError):
        return f"web search failed: {endpoint} did not answer with SearxNG's JSON"
    if not isinstance(results, list):
        return f"web search failed: {endpoint} answered JSON without a results list"
    return _render(query, [r for r in results if isinstance(r, dict)], limit)
