"""Generation backends behind one interface: local transformers (`hf`), a local vLLM engine
(`vllm`), any OpenAI-compatible server (`openai`) and the Anthropic Messages API (`anthropic`).

    backend = load_backend("openai", "my-prover", base_url="http://127.0.0.1:8000/v1")
    samples = backend.generate(["theorem t : 1 + 1 = 2 := by"], SamplingConfig(n=4, stop=("```",)))
    samples[0][3].text  # the 4th sample for the first prompt

Importing this package imports neither torch nor vllm: each backend imports what it needs when built.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
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
    "check_model",
    "load_backend",
]


# The files of a transformers model directory, by role (any one of a role's names will do).
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "spiece.model", "sentencepiece.bpe.model",
                   "tokenizer_config.json")
CHAT_TEMPLATE_FILES = ("chat_template.jinja", "chat_template.json")
# A hub id: `name` or `owner/name` (huggingface_hub's rule: letters, digits, `-`, `_`, `.`).
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(?:/[A-Za-z0-9][\w.-]*)?")
HUB_PROBE_SECONDS = 3.0


def check_model(kind: str, model: Any, *, option: str = "--model", chat: bool = False,
                chat_option: str = "--prompt-style chat") -> None:
    """Check, before anything loads, that `model` can be what a local backend (`hf`, `vllm`) loads; the
    HTTP backends take a served name, and a loaded model is taken as is. ModelError naming `option`.

    A path that exists is only ever read locally: a directory needs config.json (or a PEFT adapter's
    adapter_config.json), weights and a tokenizer; a file is refused. A name that is not a hub id, or
    looks like a path (`./m`, `/m`, `~/m`, `m.safetensors`), is a missing path. A hub id must be in the
    local cache when offline (HF_HUB_OFFLINE) or when the hub cannot be reached (then loading goes
    offline, instead of a minute of retries). With `chat`, the tokenizer must have a chat template
    (`chat_option` is refused otherwise), checked from its files before any weights load."""
    if kind not in ("hf", "vllm") or not isinstance(model, str):
        return
    for module in ("torch", "transformers") if kind == "hf" else ("vllm",):  # a missing extra is said first
        if _missing(module):
            raise ModuleNotFoundError(f"No module named {module!r}", name=module)
    if not model.strip():
        raise ModelError(f"{option}: give a model (a local directory or a hub id)")
    path = Path(model).expanduser()
    if path.exists():
        files = _local_model_files(path, option, model)
    elif model.startswith(("/", ".", "~")) or model.count("/") > 1 or path.suffix in (*WEIGHT_SUFFIXES, ".json") \
            or not _HUB_ID.fullmatch(model):
        raise ModelError(f"{option} {model}: no such directory (a local model is a directory with config.json, "
                         "weights and a tokenizer; a hub id is `owner/name`)")
    else:
        files = _cached_model_files(model, option)
        if files is None:  # online, not cached: the hub decides, and the template is checked on load
            return
    if chat and not _has_chat_template(files):
        raise ModelError(f"{chat_option}: the tokenizer of {option} {model} has no chat template (no chat_template "
                         f"in tokenizer_config.json, no {' or '.join(CHAT_TEMPLATE_FILES)}): use --prompt-style "
                         "completion, or an instruct model that has one")


def _missing(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is None
    except (ImportError, ValueError):  # a module set to None in sys.modules: made unimportable
        return True


def _local_model_files(path: Path, option: str, model: str) -> dict[str, Path]:
    """{file name: path} of a local model directory, once it is shown to hold a model."""
    if not path.is_dir():
        raise ModelError(f"{option} {model}: a file, not a model directory; give the directory that holds "
                         "config.json, the weights and the tokenizer")
    try:
        names = {p.name: p for p in path.iterdir() if p.is_file()}
    except OSError as e:
        raise ModelError(f"{option} {model}: cannot list the directory ({e.strerror or e})") from None
    if "adapter_config.json" in names:  # a PEFT adapter: its base model is named inside
        return names
    if "config.json" not in names:
        raise ModelError(f"{option} {model}: not a model directory: no config.json (a transformers model directory "
                         "holds config.json, the weights and the tokenizer)")
    try:
        config = json.loads(names["config.json"].read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelError(f"{option} {model}: {names['config.json']} is not readable JSON ({e})") from None
    if not isinstance(config, dict) or not isinstance(config.get("model_type"), str):
        raise ModelError(f"{option} {model}: {names['config.json']} has no `model_type`: not a transformers "
                         "model's config")
    if not any(n.endswith(WEIGHT_SUFFIXES) for n in names):
        wanted = ", ".join("*" + s for s in WEIGHT_SUFFIXES)
        raise ModelError(f"{option} {model}: no weights in the directory (no {wanted})")
    if not any(n in names for n in TOKENIZER_FILES):
        raise ModelError(f"{option} {model}: no tokenizer in the directory (none of {', '.join(TOKENIZER_FILES)}); "
                         "save the tokenizer beside the model (tokenizer.save_pretrained)")
    return names


def _hf_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _hub_reachable(timeout: float = HUB_PROBE_SECONDS) -> bool:
    """Whether the hub's host resolves and accepts a connection within `timeout` seconds."""
    import socket
    import threading
    from urllib.parse import urlparse

    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)
    if os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy"):
        return True  # through a proxy: the library's own requests decide
    ok: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            ok.append(True)
        except OSError:
            pass

    t = threading.Thread(target=probe, daemon=True)  # name resolution has no timeout of its own
    t.start()
    t.join(timeout)
    return bool(ok)


def _cached_model_files(model: str, option: str) -> dict[str, Path] | None:
    """{file name: path} of the cached snapshot of the hub id `model`; None when the hub is reachable
    (it may have the model); ModelError when neither the hub nor the cache can give it. An unreachable
    hub turns offline mode on for the load (cached files, no retries)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # transformers brings huggingface_hub; without it the backend names the extra
        return None
    cached = try_to_load_from_cache(model, "config.json")
    offline = _hf_offline()
    if not offline and not isinstance(cached, str):
        if _hub_reachable():
            return None
        raise ModelError(f"{option} {model}: no such local directory, the Hugging Face Hub cannot be reached, and "
                         "the model is not in the local cache: give a local model directory (or download it first)")
    if not isinstance(cached, str):
        raise ModelError(f"{option} {model}: no such local directory, and not in the Hugging Face cache; offline mode "
                         "is on (HF_HUB_OFFLINE): give a local model directory, or download it first")
    if not offline and not _hub_reachable():
        os.environ["HF_HUB_OFFLINE"] = "1"  # the library reads it as it loads: cached files, no retries
    snapshot = Path(cached).parent
    return {p.name: p for p in snapshot.iterdir()}


def _has_chat_template(files: dict[str, Path]) -> bool:
    if any(n in files for n in CHAT_TEMPLATE_FILES):
        return True
    config = files.get("tokenizer_config.json")
    if config is None:
        return False
    try:
        return bool(json.loads(config.read_text(encoding="utf-8")).get("chat_template"))
    except (OSError, ValueError, AttributeError):
        return False


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
