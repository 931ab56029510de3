"""Sampling from a local transformers causal LM, batched in one `model.generate` call.

The model is loaded with `AutoModelForCausalLM` / `AutoTokenizer.from_pretrained` exactly as a
user's would be, or handed over already loaded (training passes its live policy model, so sampling
always uses the current weights without a copy).

Choices, each for a reason:
- All `n` samples of all prompts go in one left-padded batch: sampling, not the losses, decides the
  speed of a training step, and `generate` throughput grows with the batch (measured on an H200 with a
  1.78B model, 256 new tokens: about 1.1k tokens/s at 64 rows, 4.1k at 256, 4.8k at 512; see also
  bench/README.md, where splitting 64 rows into two chunks cost two full decoding passes);
  `batch_size` caps the rows per call.
- Sampling ignores the model's own `generation_config.json` knobs (top_k, repetition penalty, ...):
  only `SamplingConfig` decides, so the four backends sample from the same distribution. The model's
  end-of-sequence ids are kept (Qwen-style checkpoints list several).
- `logprobs` are, by default, the raw model's: log-softmax of the logits at temperature 1 before
  top-p, the same as vLLM's default (`raw_logprobs`) and what a trainer recomputes for the policy.
  `logprobs_mode="processed"` gives the sampling distribution's instead (after temperature and
  top-p: tokens outside the nucleus get -inf; under greedy decoding the raw ones are returned).
  `logprobs_mode="tempered"`: log-softmax(logits / temperature), before top-p: what a trainer that
  scales its logits by the sampling temperature recomputes (TRL's convention, and leanfd's).
  They are recorded step by step, never as the full (steps, batch, vocab) score tensors that
  `output_scores` would keep (tens of GB for a real vocabulary and batch).
- A seed seeds a forked RNG: reproducible for the same prompts, config and batch, and the caller's
  global RNG (a training loop's) is left untouched. `seeds` (one per prompt) go further: each row
  draws its tokens from a generator of its own (seeded `seeds[i] + j` for sample j of prompt i), so
  a row's sample does not depend on which other rows share its batch (a resumed `prove` run).
- `on_sample` reports each sample the moment its row ends (an end-of-sequence token or a stop
  string), while the rest of the batch still decodes: a trainer verifies it meanwhile. The text
  reported is the one `generate` returns for that sample (its log-probs come only with the return).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, Literal

from leanfd.models.base import (
    Backend,
    Completion,
    Prompt,
    SampleCallback,
    SamplingConfig,
    check_prompts,
    check_seeds,
    copy_completion,
    cut_at_stop,
    encode_with_tokenizer,
)
from leanfd.models.errors import BackendNotInstalled, ModelError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

LogprobsMode = Literal["raw", "tempered", "processed"]


def _import_torch_transformers() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise BackendNotInstalled(
            f"the 'hf' backend needs torch and transformers ({exc.name} is missing): install torch for your "
            "platform first (e.g. `pip install torch==2.13.0`), then `pip install 'leanfd[train]'`"
        ) from exc
    return torch, transformers


class HFBackend(Backend):
    """A local transformers model.

    `model` is a hub id or local path (loaded here), or an already loaded `PreTrainedModel` (used
    as is, never copied; give its tokenizer too). `tokenizer` is a path/id or a loaded tokenizer;
    it defaults to the model's path. `device`: "auto" (cuda when available) or a torch device, for
    models loaded here; `dtype`: "auto" (bf16 on cuda, fp32 on cpu) or a torch dtype or its name.
    `synced_gpus`: for a model sharded across processes (FSDP2), whose every forward is a
    collective: each `generate` keeps running forwards until every process' rows are done
    (transformers' option for ZeRO-3/FSDP), under `no_grad` rather than `inference_mode`. Every
    process must then call `generate` as many times, with as many batches (`batch_size`).
    """

    kind = "hf"
    streams_samples = True  # generate(..., on_sample=...) reports rows as they end (see `Backend`)

    def __init__(
        self,
        model: str | Any,
        tokenizer: str | Any | None = None,
        *,
        device: str = "auto",
        dtype: str | torch.dtype = "auto",
        trust_remote_code: bool = False,
        batch_size: int | None = None,
        logprobs_mode: LogprobsMode = "raw",
        revision: str | None = None,
        synced_gpus: bool = False,
    ) -> None:
        torch, transformers = _import_torch_transformers()
        if logprobs_mode not in ("raw", "tempered", "processed"):
            raise ModelError(f"logprobs_mode must be 'raw', 'tempered' or 'processed', got {logprobs_mode!r}")
        if batch_size is not None and batch_size < 1:
            raise ModelError(f"batch_size must be at least 1 or None, got {batch_size}")
        self.batch_size = batch_size
        self.logprobs_mode: LogprobsMode = logprobs_mode
        self.synced_gpus = synced_gpus
        self._lock = threading.Lock()  # one generate at a time per model: memory, and seeded RNG order

        if isinstance(model, str):
            self.model_name = model
            if device == "auto":
                device = "cuda" if torch.cuda.is_available() else "cpu"
            if dtype == "auto":
                dtype = torch.bfloat16 if str(device).startswith("cuda") else torch.float32
            elif isinstance(dtype, str):
                dtype = getattr(torch, dtype)
            self.model = _load_model(transformers, model, dtype, trust_remote_code, revision).to(device)
            self.model.eval()
        else:
            if tokenizer is None:
                raise ModelError("pass the tokenizer along with an already loaded model")
            self.model = model
            self.model_name = getattr(getattr(model, "config", None), "name_or_path", "") or type(model).__name__

        if tokenizer is None or isinstance(tokenizer, str):
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(
                tokenizer or self.model_name, trust_remote_code=trust_remote_code, revision=revision
            )
        else:
            self.tokenizer = tokenizer

        self.eos_ids = _eos_ids(self.model, self.tokenizer)
        if not self.eos_ids:
            raise ModelError(f"{self.model_name}: neither the tokenizer nor the generation config names an eos token")
        pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = getattr(getattr(self.model, "generation_config", None), "pad_token_id", None)
        self.pad_id: int = pad if pad is not None else self.eos_ids[0]

    # -- prompts --------------------------------------------------------------------------------

    def encode_prompt(self, prompt: Prompt) -> list[int]:
        """The token ids the model is fed for `prompt` (see `encode_with_tokenizer`)."""
        return encode_with_tokenizer(self.tokenizer, prompt, self.model_name)

    # -- sampling -------------------------------------------------------------------------------

    def generate(self, prompts: Sequence[Prompt], sampling: SamplingConfig | None = None, *,
                 on_sample: SampleCallback | None = None,
                 seeds: Sequence[int] | None = None) -> list[list[Completion]]:
        import torch

        sampling = sampling or SamplingConfig()
        prompts = check_prompts(prompts)
        if not prompts:
            return []
        own = check_seeds(seeds, prompts)
        encoded = [self.encode_prompt(p) for p in prompts]
        for i, ids in enumerate(encoded):
            if not ids:
                raise ModelError(f"prompt {i} encodes to no tokens: the model needs at least one to condition on")
        # Each prompt n times, adjacent; greedy decoding gives n equal samples, so it runs once per prompt.
        per_prompt = 1 if sampling.greedy else sampling.n
        rows = [ids for ids in encoded for _ in range(per_prompt)]
        row_seeds = None if own is None or sampling.greedy else [
            (seed + j) % 2**63 for seed in own for j in range(per_prompt)]
        step = self.batch_size or len(rows)
        flat: list[Completion] = []
        # A sharded model's gather buffers outlive the call: made under inference_mode, they could not
        # be written by the next training forward ("inplace update to inference tensor").
        no_grad = torch.no_grad() if self.synced_gpus else torch.inference_mode()
        with self._lock, self._eval_mode(), self._seeded(sampling.seed), no_grad:
            for start in range(0, len(rows), step):
                notify = None
                if on_sample is not None:
                    def notify(row: int, done: Completion, start: int = start) -> None:
                        prompt_index, sample = divmod(start + row, per_prompt)
                        for j in range(sampling.n) if per_prompt == 1 else (sample,):
                            on_sample(prompt_index, j, done)
                chunk_seeds = None if row_seeds is None else row_seeds[start : start + step]
                flat.extend(self._generate_rows(rows[start : start + step], sampling, notify, chunk_seeds))
        if per_prompt == 1:
            return [[copy_completion(c) for _ in range(sampling.n)] for c in flat]
        n = sampling.n
        return [flat[i * n : (i + 1) * n] for i in range(len(prompts))]

    def _generate_rows(self, rows: list[list[int]], sampling: SamplingConfig,
                       notify: Callable[[int, Completion], None] | None = None,
                       row_seeds: list[int] | None = None) -> list[Completion]:
        import torch
        from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList

        device = _input_device(self.model)
        width = max(len(r) for r in rows)
        # Left padding: every row's last prompt token sits in the last column, where generation starts.
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            input_ids[i, width - len(r) :] = torch.tensor(r, dtype=torch.long)
            attention_mask[i, width - len(r) :] = 1

        recorder = _LogprobRecorder()
        processors: list[Any] = []
        if self.logprobs_mode == "raw" or sampling.greedy:
            processors.append(recorder)
        if not sampling.greedy:
            from transformers import TemperatureLogitsWarper, TopPLogitsWarper

            # Our own warpers, in our order, so the recorder's place relative to them is known on every
            # transformers version.
            if sampling.temperature != 1.0:
                processors.append(TemperatureLogitsWarper(sampling.temperature))
            if self.logprobs_mode == "tempered":
                processors.append(recorder)
            if sampling.top_p < 1.0:
                processors.append(TopPLogitsWarper(top_p=sampling.top_p))
            if self.logprobs_mode == "processed":
                processors.append(recorder)
            if row_seeds is not None:  # the draw itself, last; generate then takes the one token left
                processors.append(_RowSampler(row_seeds))

        # Our warpers replace generate's: keep its own off (temperature 1, top_p 1, top_k 0) when it samples.
        samples = not sampling.greedy and row_seeds is None
        warpers_off = {"temperature": 1.0, "top_p": 1.0, "top_k": 0} if samples else {}
        config = GenerationConfig(
            max_new_tokens=sampling.max_tokens,
            do_sample=samples,
            **warpers_off,
            num_beams=1,
            repetition_penalty=1.0,
            eos_token_id=self.eos_ids,
            pad_token_id=self.pad_id,
            stop_strings=list(sampling.stop) or None,
            use_cache=True,
        )
        with _generation_config_swapped(self.model, config):
            sequences = self.model.generate(
                input_ids=input_ids.to(device),
                attention_mask=attention_mask.to(device),
                generation_config=config,
                logits_processor=LogitsProcessorList(processors),
                stopping_criteria=StoppingCriteriaList([_EndWatcher(self, width, sampling, notify)] if notify else []),
                tokenizer=self.tokenizer if sampling.stop else None,
                synced_gpus=self.synced_gpus,
            )
        new = sequences[:, width:]  # (B, T)
        logprobs = recorder.finish(new)  # (B, T)
        new_list, lp_list = new.tolist(), logprobs.tolist()
        return [self._completion(ids, lps, sampling) for ids, lps in zip(new_list, lp_list, strict=True)]

    def _completion(self, ids: list[int], lps: list[float] | None, sampling: SamplingConfig) -> Completion:
        finish = "length"
        end = len(ids)
        for t, tok in enumerate(ids):
            if tok in self.eos_ids:
                end, finish = t + 1, "stop"
                break
        text_ids = ids[: end - 1] if finish == "stop" else ids[:end]
        text = self._decode(text_ids)
        if sampling.stop:
            cut, found = cut_at_stop(text, sampling.stop)
            if found:
                # Keep the tokens up to the one that completed the stop string: the fewest whose text
                # already holds it (the same as vLLM's token_ids), so a trainer sees what was sampled.
                lo, hi = 1, len(text_ids)
                while lo < hi:
                    mid = (lo + hi) // 2
                    if cut_at_stop(self._decode(text_ids[:mid]), sampling.stop)[1]:
                        hi = mid
                    else:
                        lo = mid + 1
                end, finish, text = lo, "stop", cut
        return Completion(text=text, token_ids=ids[:end], logprobs=None if lps is None else lps[:end],
                          finish_reason=finish)

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    @contextmanager
    def _eval_mode(self) -> Iterator[None]:
        """Dropout off while sampling, then the training mode the caller had (a live policy model)."""
        was_training = bool(getattr(self.model, "training", False))
        self.model.eval()
        try:
            yield
        finally:
            if was_training:
                self.model.train()

    def _seeded(self, seed: int | None):  # noqa: ANN202 (a context manager)
        import torch

        if seed is None:
            return nullcontext()
        devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []

        @contextmanager
        def forked() -> Iterator[None]:
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(seed)
                yield

        return forked()

    def __repr__(self) -> str:
        return f"HFBackend(model={self.model_name!r}, logprobs_mode={self.logprobs_mode!r})"


class _EndWatcher:
    """A stopping criterion that stops nothing: it tells `notify` about each row the step it ends
    (its newest token is an end-of-sequence id, or its tail holds a stop string), so the row can be
    verified while the others decode. Rows that run to `max_tokens` end with `generate` itself."""

    def __init__(self, backend: HFBackend, width: int, sampling: SamplingConfig,
                 notify: Callable[[int, Completion], None]) -> None:
        self.backend, self.width, self.sampling, self.notify = backend, width, sampling, notify
        self.eos = set(backend.eos_ids)
        # a stop string's characters come from at most this many of the newest tokens
        self.tail = max((len(s) for s in sampling.stop), default=0) + 2
        self.pending: set[int] | None = None
        self._completes: dict[int, bool] = {}  # token id -> may it complete a stop string?

    def _may_complete_stop(self, token: int) -> bool:
        """Whether `token` holds a stop string's last character (or bytes of a partial character):
        only then is a row's tail decoded, so a step costs a dictionary lookup per row."""
        known = self._completes.get(token)
        if known is None:
            piece = self.backend._decode([token])
            known = self._completes[token] = "\ufffd" in piece or any(s[-1] in piece for s in self.sampling.stop)
        return known

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        import torch

        new = input_ids[:, self.width :]
        if self.pending is None:
            self.pending = set(range(new.shape[0]))
        if self.pending and new.shape[1] < self.sampling.max_tokens:  # at the last step generate returns
            last = new[:, -1].tolist()
            for i in sorted(self.pending):
                ended = last[i] in self.eos
                if not ended and self.sampling.stop and self._may_complete_stop(last[i]):
                    tail = self.backend._decode(new[i, -self.tail :].tolist())
                    ended = any(s in tail for s in self.sampling.stop)
                if ended:
                    self.pending.discard(i)
                    self.notify(i, self.backend._completion(new[i].tolist(), None, self.sampling))
        return torch.zeros(new.shape[0], dtype=torch.bool, device=input_ids.device)


class _RowSampler:
    """A logits processor that samples each row from a generator of its own and leaves only the drawn
    token (every other score -inf), so that greedy decoding takes it: a row's tokens depend on its
    seed and its own logits, never on the other rows of the batch."""

    def __init__(self, seeds: list[int]) -> None:
        self.seeds = seeds
        self._generators: list[torch.Generator] | None = None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        import torch

        if self._generators is None:
            self._generators = [torch.Generator(device=scores.device).manual_seed(s) for s in self.seeds]
        probs = torch.softmax(scores.float(), dim=-1)  # (B, V)
        drawn = torch.cat([torch.multinomial(probs[r], 1, generator=g) for r, g in enumerate(self._generators)])
        only = torch.full_like(scores, float("-inf"))
        return only.scatter_(1, drawn[:, None], 0.0)


class _LogprobRecorder:
    """A logits processor that records the log-probability of each sampled token.

    At step t it sees the scores for token t but not the choice; the choice appears as the last
    column of `input_ids` at step t+1 (and in the output for the last step), so it keeps one step's
    log-softmax, (B, V), and gathers from it a step later.
    """

    def __init__(self) -> None:
        self._prev: torch.Tensor | None = None  # (B, V) log-softmax of the previous step
        self._out: list[torch.Tensor] = []  # T-1 tensors of shape (B,)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        import torch

        if self._prev is not None:
            self._out.append(self._prev.gather(1, input_ids[:, -1:]).squeeze(1))
        self._prev = torch.log_softmax(scores.float(), dim=-1)
        return scores

    def finish(self, new_tokens: torch.Tensor) -> torch.Tensor:
        """The (B, T) log-probs of `new_tokens`, the (B, T) generated ids."""
        import torch

        if self._prev is None:
            return torch.zeros(new_tokens.shape, dtype=torch.float32)
        steps = self._out + [self._prev.gather(1, new_tokens[:, -1:]).squeeze(1)]
        self._prev, self._out = None, []
        return torch.stack(steps, dim=1).cpu()


@contextmanager
def _generation_config_swapped(model: Any, config: Any) -> Iterator[None]:
    """Make `config` the model's generation config for one call.

    transformers 5 fills every field left None in the config passed to `generate` from the model's
    own `generation_config` (min_p, top_h, suppress_tokens, ...); swapping it in leaves no such
    leak, on any version.
    """
    # A PEFT wrapper delegates `generate` to the transformers model inside: swap it there.
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    old = getattr(inner, "generation_config", None)
    inner.generation_config = config
    try:
        yield
    finally:
        inner.generation_config = old


def _eos_ids(model: Any, tokenizer: Any) -> list[int]:
    ids: list[int] = []
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for v in ([gen_eos] if isinstance(gen_eos, int) else list(gen_eos or [])) + [tokenizer.eos_token_id]:
        if v is not None and v not in ids:
            ids.append(int(v))
    return ids


def _input_device(model: Any) -> Any:
    device = getattr(model, "device", None)
    if device is not None:
        return device
    return next(model.parameters()).device


def _load_model(transformers: Any, name: str, dtype: Any, trust_remote_code: bool, revision: str | None) -> Any:
    # transformers renamed `torch_dtype` to `dtype` in 4.56; the floor in pyproject is older.
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    dtype_kw = "dtype" if (major, minor) >= (4, 56) else "torch_dtype"
    try:
        return transformers.AutoModelForCausalLM.from_pretrained(
            name, trust_remote_code=trust_remote_code, revision=revision, **{dtype_kw: dtype}
        )
    except OSError as exc:
        raise ModelError(f"could not load model {name!r}: {exc}") from exc
