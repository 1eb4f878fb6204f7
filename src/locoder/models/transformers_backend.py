"""Hugging Face transformers, in-process: the model's own chat template, any device, optional 4/8-bit.

An optional extra (``pip install 'locoder[transformers]'``): torch and transformers are imported only
here, when this backend is chosen. Tools are rendered by the chat template; the model writes its
family's tool-call syntax, which the parser reads. Generation streams from a worker thread and stops
on the family's stop strings, at the token limit, or when the user presses Ctrl-C.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from locoder.exceptions import BackendError
from locoder.messages import Message, ModelResponse, Usage

INSTALL_HINT = "pip install 'locoder[transformers]' (it pins torch==2.13.0)"


@dataclass
class TransformersConfig:
    model: str
    """A model folder, a hub id (needs the network or a filled cache), or a .gguf file."""
    gguf_file: str = ""
    device_map: str = "auto"
    torch_dtype: str = "auto"
    quantization: str = "none"
    trust_remote_code: bool = False
    low_cpu_mem_usage: bool = False
    context_window: int = 8192
    max_new_tokens: int = 1024
    temperature: float = 0.2
    threads: int = 0
    thinking: bool | None = None
    stop: tuple[str, ...] = ()


def _source(config: TransformersConfig) -> tuple[str, str]:
    """(folder or id, gguf file name): a path to a .gguf file is split into its folder and name."""
    path = Path(config.model).expanduser()
    if config.model.endswith(".gguf") and path.is_file():
        return str(path.parent), path.name
    return config.model, config.gguf_file


def _load_kwargs(config: TransformersConfig, torch: Any, transformers: Any) -> dict[str, Any]:
    cuda = torch.cuda.is_available()
    if config.device_map == "cuda" and not cuda:
        raise BackendError("--device-map cuda was asked for, but torch sees no CUDA device")
    if config.device_map == "mps" and not torch.backends.mps.is_available():
        raise BackendError("--device-map mps was asked for, but this machine has no MPS device")
    kwargs: dict[str, Any] = {
        "trust_remote_code": config.trust_remote_code,
        "low_cpu_mem_usage": config.low_cpu_mem_usage,
        "device_map": config.device_map if config.device_map != "auto" else ("auto" if cuda else "cpu"),
        "dtype": config.torch_dtype if config.torch_dtype == "auto" else getattr(torch, config.torch_dtype),
    }
    if config.quantization != "none":
        if not cuda:
            raise BackendError(f"--quantization {config.quantization} needs a CUDA GPU (bitsandbytes)")
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise BackendError("--quantization needs bitsandbytes: pip install bitsandbytes") from None
        bits = {"load_in_4bit": True} if config.quantization == "4bit" else {"load_in_8bit": True}
        kwargs["quantization_config"] = transformers.BitsAndBytesConfig(**bits)
    return kwargs


class TransformersModel:
    def __init__(self, config: TransformersConfig) -> None:
        try:
            import torch
            import transformers
        except ImportError:
            raise BackendError(f"the transformers backend is not installed: {INSTALL_HINT}") from None
        self.config = config
        self.name = config.model
        self._torch = torch
        self._transformers = transformers
        if config.threads:
            torch.set_num_threads(config.threads)
        source, gguf = _source(config)
        extra = {"gguf_file": gguf} if gguf else {}
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(
                source, trust_remote_code=config.trust_remote_code, **extra)
            self.model = transformers.AutoModelForCausalLM.from_pretrained(
                source, **_load_kwargs(config, torch, transformers), **extra)
        except BackendError:
            raise
        except (OSError, ValueError, ImportError) as exc:
            raise BackendError(f"transformers could not load {config.model}: {str(exc).splitlines()[0]}") from None
        self.model.eval()
        self.parameters = sum(p.numel() for p in self.model.parameters())
        """How big the model is: small ones get the core toolset under ``toolset = auto``."""

    def close(self) -> None:
        self.model = None

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` by the model's own tokenizer (no special tokens: the template adds those)."""
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def _prompt(self, messages: Sequence[Message], tools: list[dict[str, Any]] | None) -> str:
        extra = {"enable_thinking": self.config.thinking} if self.config.thinking is not None else {}
        return str(self.tokenizer.apply_chat_template(
            [m.to_wire() for m in messages], tools=tools or None, add_generation_prompt=True, tokenize=False, **extra))

    def query(
        self,
        messages: Sequence[Message],
        *,
        schema: dict[str, Any] | None = None,
        tools: list[dict[str, Any]] | None = None,
        temperature: float | None = None,
    ) -> ModelResponse:
        # ``schema`` cannot be enforced here; the prompt already describes the JSON reply.
        start = time.monotonic()
        inputs = self.tokenizer(self._prompt(messages, tools), return_tensors="pt").to(self.model.device)
        prompt_tokens = int(inputs["input_ids"].shape[1])
        room = self.config.context_window - prompt_tokens
        if room < 16:
            raise BackendError(
                f"the prompt ({prompt_tokens} tokens) fills the context window ({self.config.context_window}); "
                "raise --context-window or start a new session")
        limit = min(self.config.max_new_tokens, room)
        text, generated, first = self._generate(inputs, limit, start,
                                               self.config.temperature if temperature is None else temperature)
        return ModelResponse(
            content=text,
            finish_reason="length" if generated >= limit else "stop",
            usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=generated, prompt_processed=prompt_tokens),
            seconds=time.monotonic() - start,
            first_token_seconds=first,
        )

    def _generate(self, inputs: Any, limit: int, start: float, temperature: float) -> tuple[str, int, float | None]:
        transformers = self._transformers
        cancel = threading.Event()

        class Cancelled(transformers.StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
                return cancel.is_set()

        streamer = transformers.TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 \
            else {"do_sample": False}
        result: dict[str, Any] = {}

        def work() -> None:
            try:
                with self._torch.inference_mode():
                    result["ids"] = self.model.generate(
                        **inputs, max_new_tokens=limit, streamer=streamer, tokenizer=self.tokenizer,
                        stop_strings=list(self.config.stop) or None,
                        stopping_criteria=transformers.StoppingCriteriaList([Cancelled()]),
                        pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id, **sampling)
            except Exception as exc:  # reported to the caller below
                result["error"] = exc
                streamer.end()

        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        pieces: list[str] = []
        first = None
        try:
            for piece in streamer:
                if first is None and piece:
                    first = time.monotonic() - start
                pieces.append(piece)
        except KeyboardInterrupt:
            cancel.set()
            worker.join()
            raise
        worker.join()
        if "error" in result:
            raise BackendError(f"generation failed: {result['error']}")
        generated = int(result["ids"].shape[1] - inputs["input_ids"].shape[1])
        text = "".join(pieces)
        for stop in self.config.stop:
            text = text.split(stop, 1)[0]
        return text, generated, first
