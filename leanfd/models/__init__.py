"""Generation backends behind one interface: local transformers (`hf`), a local vLLM engine
(`vllm`), any OpenAI-compatible server (`openai`) and the Anthropic Messages API (`anthropic`).

    backend = load_backend("openai", "my-prover", base_url="http://127.0.0.1:8000/v1")
    samples = backend.generate(["theorem t : 1 + 1 = 2 := by"], SamplingConfig(n=4, stop=("```",)))
    samples[0][3].text  # the 4th sample for the first prompt

Importing this package imports neither torch nor vllm: each backend imports what it needs when built.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from leanfd.models.base import Backend, ChatMessage, Completion, Prompt, SamplingConfig
from leanfd.models.errors import BackendNotInstalled, ModelError, ModelHTTPError, ModelResponseError

BackendKind = Literal["hf", "vllm", "openai", "anthropic"]
BACKEND_KINDS: tuple[str, ...] = get_args(BackendKind)

__all__ = [
    "BACKEND_KINDS",
    "Backend",
    "BackendKind",
    "BackendNotInstalled",
    "ChatMessage",
    "Completion",
    "ModelError",
    "ModelHTTPError",
    "ModelResponseError",
    "Prompt",
    "SamplingConfig",
    "load_backend",
]


def load_backend(kind: BackendKind, model: Any, base_url: str | None = None, **opts: Any) -> Backend:
    """Build a backend.

    `model`: a hub id or path (`hf`, `vllm`; `hf` also takes a loaded model, with `tokenizer=`), or
    the server's model name (`openai`, `anthropic`). `base_url` is for the HTTP backends only.
    `opts` go to the backend's constructor: `HFBackend`, `VLLMBackend`, `OpenAIBackend`,
    `AnthropicBackend` list them.
    """
    if kind in ("hf", "vllm") and base_url is not None:
        raise ModelError(f"base_url is for the HTTP backends (openai, anthropic), not {kind!r}")
    if kind == "hf":
        from leanfd.models.hf import HFBackend

        return HFBackend(model, **opts)
    if kind == "vllm":
        from leanfd.models.vllm_backend import VLLMBackend

        return VLLMBackend(model, **opts)
    if kind == "openai":
        from leanfd.models.openai_api import OpenAIBackend

        return OpenAIBackend(model, base_url, **opts)
    if kind == "anthropic":
        from leanfd.models.anthropic_api import AnthropicBackend

        return AnthropicBackend(model, base_url, **opts)
    raise ModelError(f"unknown backend kind {kind!r}; choose one of {', '.join(BACKEND_KINDS)}")
