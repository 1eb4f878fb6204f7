"""The embedded default: llama.cpp's OpenAI-compatible server running inside this process
(xllamacpp), bound to 127.0.0.1 on a free port, driven by the same client as any external server."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from locoder.exceptions import BackendError
from locoder.messages import Message, ModelResponse
from locoder.models.openai_compat import OpenAICompatConfig, OpenAICompatModel


@dataclass
class EmbeddedConfig:
    model_path: Path
    context_window: int = 8192
    threads: int = 0
    """CPU threads; 0: all cores."""
    startup_timeout: float = 120.0
    port: int = 0
    """0: a free port."""
    host: str = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedServer:
    """Owns the in-process server; ``close`` (or garbage collection) stops it."""

    def __init__(self, config: EmbeddedConfig) -> None:
        try:
            import xllamacpp
        except ImportError:
            raise BackendError("the embedded runtime is missing: pip install xllamacpp==2026.10.11549") from None
        threads = config.threads or os.cpu_count() or 2
        params = xllamacpp.CommonParams()
        params.model.path = str(config.model_path)
        params.n_ctx = config.context_window
        params.n_parallel = 1
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        # No busy-waiting between work items: spinning threads starve anything else on a small machine
        # (another model, the test runner) and gain nothing measurable when the machine is idle.
        params.cpuparams.poll = 0
        params.cpuparams_batch.poll = 0
        params.hostnames = [config.host]
        params.port = config.port or _free_port()
        params.use_jinja = True
        params.verbosity = -1
        self.base_url = f"http://{config.host}:{params.port}/v1"
        try:
            self._server: Any = xllamacpp.Server(params)
        except Exception as exc:
            raise BackendError(f"the embedded model failed to load from {config.model_path}: {exc}") from None
        self._wait_ready(f"http://{config.host}:{params.port}/health", config.startup_timeout)

    def _wait_ready(self, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(url, timeout=2, trust_env=False).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.close()
        raise BackendError(f"the embedded model server did not become ready within {timeout:g}s")

    def close(self) -> None:
        self._server = None


class EmbeddedModel:
    """An ``OpenAICompatModel`` whose server lives and dies with it."""

    def __init__(self, config: EmbeddedConfig, client_config: OpenAICompatConfig, name: str) -> None:
        self.server = EmbeddedServer(config)
        client_config.base_url = self.server.base_url
        client_config.schema_style = "json_object"
        # Keep the KV cache of the shared prompt prefix between turns.
        client_config.extra_body = {"cache_prompt": True, **client_config.extra_body}
        client_config.model = client_config.model or name
        self.client = OpenAICompatModel(client_config)
        self.name = name

    def query(
        self,
        messages: Sequence[Message],
        *,
        schema: dict[str, Any] | None = None,
        tools: list[dict[str, Any]] | None = None,
        temperature: float | None = None,
    ) -> ModelResponse:
        return self.client.query(messages, schema=schema, tools=tools, temperature=temperature)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` by the model's tokenizer (the server's ``/tokenize``)."""
        return self.client.count_tokens(text)

    def close(self) -> None:
        self.client.close()
        self.server.close()
