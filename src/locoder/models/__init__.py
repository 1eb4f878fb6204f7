"""Model backends, chosen by name through a table of lazy imports (heavy runtimes load only when used)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from locoder.exceptions import ConfigError
from locoder.models.profiles import Profile, profile_for

if TYPE_CHECKING:
    from locoder.config import Settings
    from locoder.protocols import Model

EMBEDDED_CONTEXT = 8192
AUTO_CONTEXT_CAP = 16384


def backend_kind(settings: Settings) -> str:
    """``embedded``, ``openai``, ``ollama``, ``transformers`` or ``scripted``."""
    if settings.backend != "auto":
        return settings.backend
    model = settings.model
    if model.startswith(("http://", "https://")):
        return "openai"
    if model.startswith("ollama:"):
        return "ollama"
    if model.startswith("scripted:"):
        return "scripted"
    return "embedded"


def model_id(settings: Settings) -> str:
    """The model's own name, as profiles know it."""
    if backend_kind(settings) == "openai":
        return settings.model_name
    return settings.model.removeprefix("ollama:")


def context_window(settings: Settings, profile: Profile) -> int:
    if settings.context_window:
        return settings.context_window
    if backend_kind(settings) == "embedded":
        return EMBEDDED_CONTEXT
    return min(profile.context_window, AUTO_CONTEXT_CAP)


def _thinking(settings: Settings) -> bool | None:
    return {"on": True, "off": False}.get(settings.thinking)


def _open_scripted(settings: Settings, profile: Profile, progress: Any) -> Model:
    from locoder.models.scripted import ScriptedModel

    return ScriptedModel.from_file(settings.model.removeprefix("scripted:"))


def _openai_config(settings: Settings, base_url: str):
    from locoder.models.openai_compat import OpenAICompatConfig

    return OpenAICompatConfig(base_url=base_url, model=settings.model_name, api_key=settings.api_key,
                              temperature=settings.temperature, max_tokens=settings.max_tokens,
                              timeout=settings.request_timeout, retries=settings.connect_retries,
                              thinking=_thinking(settings))


def _open_openai(settings: Settings, profile: Profile, progress: Any) -> Model:
    from locoder.models.openai_compat import OpenAICompatModel

    return OpenAICompatModel(_openai_config(settings, settings.model))


def _open_ollama(settings: Settings, profile: Profile, progress: Any) -> Model:
    from locoder.models.ollama import OllamaConfig, OllamaModel

    return OllamaModel(OllamaConfig(
        model=model_id(settings), base_url=settings.ollama_url, context_window=context_window(settings, profile),
        temperature=settings.temperature, max_tokens=settings.max_tokens,
        first_token_timeout=settings.first_token_timeout, request_timeout=settings.request_timeout,
        retries=settings.connect_retries,
        thinking=_thinking(settings)))


def _open_transformers(settings: Settings, profile: Profile, progress: Any) -> Model:
    from locoder.models.transformers_backend import TransformersConfig, TransformersModel

    return TransformersModel(TransformersConfig(
        model=settings.model, gguf_file=settings.gguf_file, device_map=settings.device_map,
        torch_dtype=settings.torch_dtype, quantization=settings.quantization,
        trust_remote_code=settings.trust_remote_code, low_cpu_mem_usage=settings.low_cpu_mem_usage,
        context_window=context_window(settings, profile), max_new_tokens=settings.max_tokens,
        temperature=settings.temperature, threads=settings.threads, thinking=_thinking(settings),
        stop=profile.stop))


def _open_embedded(settings: Settings, profile: Profile, progress: Any) -> Model:
    from locoder.models.embedded import EmbeddedConfig, EmbeddedModel
    from locoder.models.installer import CATALOG, ModelStore

    if settings.model in CATALOG:
        store = ModelStore(Path(settings.models_dir) if settings.models_dir else None)
        path = store.ensure(settings.model, progress=progress, prune=settings.prune_chunks)
    elif settings.model.endswith(".gguf") and Path(settings.model).expanduser().is_file():
        path = Path(settings.model).expanduser()
    else:
        raise ConfigError(
            f"unknown model '{settings.model}': use one of {', '.join(CATALOG)}, a .gguf file, "
            "an http(s)://HOST/v1 URL, ollama:NAME, or --backend transformers with a model folder"
        )
    config = EmbeddedConfig(model_path=path, context_window=context_window(settings, profile), threads=settings.threads)
    return EmbeddedModel(config, _openai_config(settings, ""), name=settings.model)


BACKENDS: dict[str, Callable[[Settings, Profile, Any], Model]] = {
    "embedded": _open_embedded,
    "openai": _open_openai,
    "ollama": _open_ollama,
    "transformers": _open_transformers,
    "scripted": _open_scripted,
}


def open_model(settings: Settings, progress: Any = None) -> Model:
    """Build the model the settings name. The embedded model is pulled and verified first if needed."""
    profile = profile_for(model_id(settings))
    model = BACKENDS[backend_kind(settings)](settings, profile, progress)
    if settings.disable_system_prompt or not profile.system_role:
        from locoder.models.wrappers import FoldSystemPrompt

        model = FoldSystemPrompt(model)
    return model
