"""A local vLLM engine (the optional extra `leanfd[vllm]`), behind the same interface as `hf`.

vllm is imported only when this backend is built, so the rest of leanfd never needs it. Prompts
are rendered to token ids here (chat template through the engine's tokenizer, as the hf backend
does) and passed as `prompt_token_ids`, so a template's BOS is never doubled by a second
tokenization. `logprobs=0` asks vLLM for the sampled token's log-probability only; by vLLM's
default these are the raw model's (before temperature and top-p), the same as the hf backend's.

`colocated_engine` and `load_weights` serve training: the engine lives in the trainer's process
on the trainer's GPU (vLLM's `external_launcher` executor, one engine per rank) and takes the
policy's new weights after every optimizer step. They follow the calls TRL's colocate mode makes;
vLLM cannot be installed where leanfd's tests run, so this path has not been run by them.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterable, Sequence
from typing import Any

from leanfd.models.base import (
    Backend,
    Completion,
    Prompt,
    SampleCallback,
    SamplingConfig,
    check_prompts,
    check_seeds,
    copy_completion,
    encode_with_tokenizer,
    normalize_finish_reason,
)
from leanfd.models.errors import BackendNotInstalled, ModelError

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'leanfd[vllm]'"


def import_vllm() -> Any:
    try:
        import vllm
    except ImportError as exc:
        raise BackendNotInstalled(
            f"the 'vllm' backend needs the vllm package, which is not installed ({exc}); "
            f"install it with `{INSTALL_HINT}` on a machine with a supported GPU, "
            "or use the 'hf' backend"
        ) from exc
    return vllm


class VLLMBackend(Backend):
    """A vLLM `LLM` engine: built here from a hub id or path (remaining options go to `vllm.LLM`),
    or handed over already built as `engine=`."""

    kind = "vllm"

    def __init__(
        self,
        model: str,
        *,
        engine: Any = None,
        tokenizer: str | None = None,
        dtype: str = "auto",
        gpu_memory_utilization: float = 0.9,
        tensor_parallel_size: int = 1,
        max_model_len: int | None = None,
        trust_remote_code: bool = False,
        **engine_options: Any,
    ) -> None:
        self._vllm = import_vllm()
        self.model_name = model
        if engine is None:
            kwargs: dict[str, Any] = dict(
                model=model,
                tokenizer=tokenizer,
                dtype=dtype,
                gpu_memory_utilization=gpu_memory_utilization,
                tensor_parallel_size=tensor_parallel_size,
                trust_remote_code=trust_remote_code,
                **engine_options,
            )
            if max_model_len is not None:
                kwargs["max_model_len"] = max_model_len
            engine = self._vllm.LLM(**kwargs)
        self.engine = engine
        self.tokenizer = engine.get_tokenizer()

    def encode_prompt(self, prompt: Prompt) -> list[int]:
        """The token ids the model is fed for `prompt` (see `encode_with_tokenizer`)."""
        return encode_with_tokenizer(self.tokenizer, prompt, self.model_name)

    def generate(self, prompts: Sequence[Prompt], sampling: SamplingConfig | None = None, *,
                 on_sample: SampleCallback | None = None,
                 seeds: Sequence[int] | None = None) -> list[list[Completion]]:
        s = sampling or SamplingConfig()
        prompts = check_prompts(prompts)
        if not prompts:
            return []
        own = check_seeds(seeds, prompts)
        # Greedy decoding gives n equal samples: ask once (older vLLM rejects n > 1 when greedy).
        per_prompt = 1 if s.greedy else s.n

        def params_for(seed: int | None) -> Any:
            return self._vllm.SamplingParams(
                n=per_prompt,
                temperature=s.temperature,  # vLLM samples greedily at temperature 0
                top_p=s.top_p,
                max_tokens=s.max_tokens,
                seed=seed,
                stop=list(s.stop) or None,
                logprobs=0,
            )

        # One seed per prompt: vLLM gives each request its own generator, whatever else is batched.
        params = params_for(s.seed) if own is None else [params_for(seed) for seed in own]
        inputs = [{"prompt_token_ids": self.encode_prompt(p)} for p in prompts]
        outputs = self.engine.generate(inputs, params, use_tqdm=False)
        results = [[_completion(o) for o in request.outputs] for request in outputs]
        if per_prompt == 1:
            return [[copy_completion(r[0]) for _ in range(s.n)] for r in results]
        return results

    def load_weights(self, weights: Iterable[tuple[str, Any]]) -> int:
        """Replace the engine's weights in place with `(checkpoint name, tensor)` pairs, one tensor at a
        time, then drop the prefix cache (its KV entries were computed with the old weights)."""
        try:
            model = self.engine.llm_engine.model_executor.driver_worker.model_runner.model
        except AttributeError as exc:
            raise ModelError(
                "this vLLM engine does not run its model in this process, so its weights cannot be "
                "replaced: build it with `colocated_engine` (distributed_executor_backend='external_launcher')"
            ) from exc
        count = 0
        for name, tensor in weights:
            model.load_weights([(name, tensor)])
            count += 1
        self.engine.reset_prefix_cache()
        return count

    def __repr__(self) -> str:
        return f"VLLMBackend(model={self.model_name!r})"


def colocated_engine(model: str, *, rank: int, local_rank: int, world_size: int, gpu_memory_utilization: float,
                     max_model_len: int | None, dtype: str, seed: int) -> VLLMBackend:
    """A vLLM engine inside this training process, on its GPU, sharing it with the trainer.

    `external_launcher` makes vLLM use the process group the launcher (accelerate) set up instead of
    spawning workers, so each rank holds one engine with the whole model (tensor parallel size 1).
    """
    os.environ.setdefault("RANK", str(rank))
    os.environ.setdefault("LOCAL_RANK", str(local_rank))
    os.environ.setdefault("WORLD_SIZE", str(world_size))
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    if "MASTER_PORT" not in os.environ:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            os.environ["MASTER_PORT"] = str(s.getsockname()[1])
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # the engine core in this process
    # Log-probs after temperature (vLLM's "processed": also after top-p/top-k, which the trainer
    # refuses with vLLM), the same distribution the trainer's losses take at the sampling temperature.
    return VLLMBackend(model, dtype=dtype, gpu_memory_utilization=gpu_memory_utilization, max_model_len=max_model_len,
                       distributed_executor_backend="external_launcher", seed=seed, logprobs_mode="processed_logprobs")


def _completion(out: Any) -> Completion:
    ids = list(out.token_ids)
    logprobs = None
    if out.logprobs is not None:
        # One dict per position, {token_id: Logprob}; it always holds the sampled token.
        logprobs = [float(step[tok].logprob) for step, tok in zip(out.logprobs, ids, strict=True)]
    return Completion(
        text=out.text,
        token_ids=ids,
        logprobs=logprobs,
        finish_reason=normalize_finish_reason(out.finish_reason),
    )
