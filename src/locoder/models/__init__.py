"""Model backends, chosen by name through a table of lazy imports (heavy runtimes load only when used)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from locoder.exceptions import ConfigError

if TYPE_CHECKING:
    from locoder.config import Settings
    from locoder.protocols import Model


def backend_kind(model: str) -> str:
    """``openai`` (a URL), ``scripted`` (a replies file), or ``embedded`` (a catalog name or a .gguf path)."""
    if model.startswith(("http://", "https://")):
        return "openai"
    if model.startswith("scripted:"):
        return "scripted"
    return "embedded"


def open_model(settings: Settings, progress=None) -> Model:
    """Build the model the settings name. The embedded model is pulled and verified first if needed."""
    from locoder.models.openai_compat import OpenAICompatConfig

    kind = backend_kind(settings.model)
    client = OpenAICompatConfig(
        base_url=settings.model,
        model=settings.model_name,
        api_key=settings.api_key,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        timeout=settings.request_timeout,
        retries=settings.connect_retries,
    )
    if kind == "scripted":
        from locoder.models.scripted import ScriptedModel

        return ScriptedModel.from_file(settings.model.removeprefix("scripted:"))
    if kind == "openai":
        from locoder.models.openai_compat import OpenAICompatModel

        return OpenAICompatModel(client)
    from locoder.models.embedded import EmbeddedConfig, EmbeddedModel
    from locoder.models.store import CATALOG, ModelStore

    if settings.model in CATALOG:
        store = ModelStore(Path(settings.models_dir) if settings.models_dir else None)
        path = store.ensure(settings.model, progress=progress, prune=settings.prune_chunks)
    elif settings.model.endswith(".gguf") and Path(settings.model).expanduser().is_file():
        path = Path(settings.model).expanduser()
    else:
        raise ConfigError(
            f"unknown model '{settings.model}': use one of {', '.join(CATALOG)}, a .gguf file, "
            "or an http(s)://HOST/v1 URL"
        )
    config = EmbeddedConfig(model_path=path, context_window=settings.context_window, threads=settings.threads)
    return EmbeddedModel(config, client, name=settings.model)
