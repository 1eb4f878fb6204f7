"""What a model server says about its model: parameter count and context window, read from its model list
(llama.cpp: ``/v1/models`` -> ``data[i].meta.n_params`` and ``n_ctx``; vLLM: ``data[i].max_model_len``) or
Ollama's ``/api/show`` (``model_info``: ``general.parameter_count``, ``<arch>.context_length``). They choose
the toolset and the context window when the user has not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class ModelFacts:
    parameters: int = 0
    """0: the server did not say."""
    context: int = 0
    """Tokens; 0: the server did not say."""


def _int(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: JSON's Infinity
        return 0
    return number if number > 0 else 0


def from_model_list(listing: Any, model: str = "") -> ModelFacts:
    """Facts from an OpenAI-style ``/v1/models`` reply, for ``model`` (or the first entry)."""
    entries = listing.get("data") if isinstance(listing, dict) else None
    if not isinstance(entries, list):
        return ModelFacts()
    entries = [e for e in entries if isinstance(e, dict)]
    chosen = next((e for e in entries if e.get("id") == model), entries[0] if entries else None)
    if chosen is None:
        return ModelFacts()
    meta = chosen.get("meta") if isinstance(chosen.get("meta"), dict) else {}
    return ModelFacts(parameters=_int(meta.get("n_params")),
                      context=_int(meta.get("n_ctx")) or _int(chosen.get("max_model_len")))


def from_ollama_show(show: Any) -> ModelFacts:
    info = show.get("model_info") if isinstance(show, dict) else None
    if not isinstance(info, dict):
        return ModelFacts()
    context = next((_int(v) for k, v in info.items() if str(k).endswith(".context_length")), 0)
    return ModelFacts(parameters=_int(info.get("general.parameter_count")), context=context)
