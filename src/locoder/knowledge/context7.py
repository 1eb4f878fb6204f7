"""A client for context7's documentation API: search libraries by name, fetch a library's docs for a topic.

The base URL and key come from settings (``CONTEXT7_URL``, ``CONTEXT7_API_KEY``), never from the code.
Endpoints, as documented: ``GET {base}/v1/search?query=Q`` answers ``{"results": [{"id": "/org/project",
"title": ..., "description": ..., ...}]}``; ``GET {base}/v1{id}?type=txt&tokens=N&topic=T`` answers the
docs as text, snippets separated by lines of dashes. Every failure is a ``Context7Error`` with a message
the model (or the user) can act on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SEPARATOR = re.compile(r"\n-{10,}\n")


class Context7Error(Exception):
    pass


@dataclass
class Library:
    id: str
    title: str
    description: str = ""


class Context7Client:
    def __init__(self, url: str, api_key: str = "", timeout: float = 15.0) -> None:
        if not url:
            raise Context7Error("context7 is not configured: set CONTEXT7_URL (or context7_url in .locoder.toml)")
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout

    def _get(self, path: str, params: dict) -> object:
        import httpx

        headers = {"Accept": "application/json, text/plain"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        try:
            response = httpx.get(f"{self.url}{path}", params=params, headers=headers, timeout=self.timeout,
                                 follow_redirects=False)
        except httpx.TimeoutException:
            raise Context7Error(f"context7 did not answer within {self.timeout:g}s ({self.url})") from None
        except httpx.HTTPError as exc:
            raise Context7Error(f"context7 is unreachable at {self.url}: {type(exc).__name__}") from None
        if response.status_code in (401, 403):
            raise Context7Error(f"context7 refused the request (HTTP {response.status_code}): check CONTEXT7_API_KEY")
        if response.status_code == 404:
            raise Context7Error("context7 has nothing at that address (HTTP 404): check the library id")
        if response.status_code == 429:
            raise Context7Error("context7 rate limit reached (HTTP 429): try again later")
        if response.status_code >= 400:
            raise Context7Error(f"context7 answered HTTP {response.status_code}")
        if "json" in response.headers.get("content-type", ""):
            try:
                return response.json()
            except ValueError:
                raise Context7Error("context7 sent malformed JSON") from None
        return response.text

    def search(self, query: str, limit: int = 5) -> list[Library]:
        data = self._get("/v1/search", {"query": query})
        if not isinstance(data, dict) or not isinstance(data.get("results"), list):
            raise Context7Error("context7's search answer has no results list")
        out = []
        for item in data["results"][:limit]:
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                out.append(Library(item["id"], str(item.get("title") or item["id"]), str(item.get("description") or "")))
        return out

    def docs(self, library_id: str, topic: str = "", tokens: int = 2000) -> list[str]:
        """The library's documentation for ``topic``, as separate snippets."""
        if not library_id.startswith("/"):
            library_id = "/" + library_id
        params = {"type": "txt", "tokens": str(tokens)}
        if topic:
            params["topic"] = topic
        data = self._get(f"/v1{library_id}", params)
        text = data if isinstance(data, str) else str(data.get("content", "")) if isinstance(data, dict) else ""
        return [s.strip() for s in SEPARATOR.split(text) if s.strip()]


def truncate(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: max(limit - 3, 0)].rstrip() + "..."
