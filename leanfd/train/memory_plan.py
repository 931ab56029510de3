"""Per-GPU memory of a training config, planned before any model is loaded (`leanfd train --dry-run`).

`read_shape` reads the model's transformers config (a local path, the local Hugging Face cache,
or `known_models.KNOWN_MODELS`) and counts its parameters exactly by building the model on the
meta device (no weights allocated). `plan` turns a shape and a `TrainConfig` into named lines in
bytes per GPU; `check_fits` refuses a plan that does not fit and says which change would.

What is counted, per GPU (GB = 1e9 bytes), N processes:

- weights: the policy in float32 (fp32 master weights; with LoRA the frozen base too, plus the
  adapters). `ddp` replicates it, `fsdp2` shards it (/N).
- gradients, AdamW state: float32, for the trained parameters only (all of them, or LoRA's
  adapters): 4 and 8 bytes per parameter (+ a 4-byte `step` per tensor), /N under `fsdp2`. Under
  `ddp` with N > 1, DDP's all-reduce buckets hold another copy of the gradients (torch's default
  `gradient_as_bucket_view=False`).
- FD teacher (methods fd, fd+grpo) and KL reference (grpo, fd+grpo with `--kl-beta > 0`): copies in
  `--teacher-dtype`, /N under `fsdp2`.
- colocated vLLM: `--vllm-gpu-memory-utilization` of the GPU, with `--rollout-backend vllm`.
- CUDA context, cuBLAS workspace and NCCL buffers: a fixed `CONTEXT_GB`.
- activations of one micro-batch, `--micro-batch` x (prompt + `--max-new-tokens`) tokens, the
  prompt being `plan.prompt_tokens` (+ (T - 1) x `--max-new-tokens` with `--turns T`: a revision's
  prompt carries the earlier attempts). An ESTIMATE after Korthikanti et al. 2022 (arXiv
  2205.05198, section 4.1: what autograd saves per layer, there 34 s b h + 5 a s^2 b bytes for a
  GPT layer in 16-bit), redone for these models, per token and decoder layer, with e the compute
  dtype's bytes (2 with --bf16) and r the residual stream's (4 when the weights the forward sees
  are fp32, as under autocast; 2 under fsdp2 with --bf16):

      A_layer = 2 (4 + r + e) h          two RMSNorms: fp32 input copy, normalised x, the cast fed on
              + e (q + 2 kv)             q, k, v kept by flash/SDPA attention (GQA: kv = kv_heads x head_dim)
              + 2 e q                    attention output and o_proj's input
              + 4 e i                    SwiGLU: gate, silu(gate), up, their product (down_proj's input)
              + 4 heads                  attention's log-sum-exp

  Flash / memory-efficient attention keeps no s x s scores (Korthikanti's 5 a s^2 b term is gone);
  no dropout masks (these models use none). Without checkpointing all L layers keep A_layer; with
  `--gradient-checkpointing` (per decoder layer) only each layer's input (r h) is kept, plus one
  layer's A_layer recomputed in backward. Both add the final norm, (4 + r + e) h, and a backward
  working set of 2 r h + 3 e i (the residual's gradient in and out, the MLP's gradients).
  Checked against the bytes autograd saves for a small Qwen2 layer on CPU (tests): A_layer is 5%
  above them in fp32 and 7.5% below under bf16 autocast. Not measured on a GPU yet.
- autocast (ddp with --bf16) caches a bf16 copy of every weight a matmul uses until backward: all
  linear weights, or with checkpointing one layer's plus the LM head's.
- fsdp2: the root module's parameters (embeddings, final norm, LM head) stay gathered through
  forward and backward (torch keeps the root unsharded after forward), plus two decoder layers in
  flight (the one computing, the one prefetched) and, in backward, one layer's unsharded gradient
  and its float32 copy for the reduce-scatter; gathered weights are bf16 with --bf16
  (MixedPrecisionPolicy param_dtype), else fp32. The teacher and reference reshard after their
  forward, so only the policy's gathered layers are counted.
- the loss's logits: the LM head runs on `--loss-chunk` completion tokens at a time; a chunk holds
  `LOGIT_COPIES` float32 (chunk, V) tensors, measured on the losses (2026-12-01, bench/loss_memory.py: FD
  held 7 fp32 logits tensors beyond its 2 inputs, GRPO 6 beyond its 1; the reference's logits are
  one more input), plus the frozen model's completion hidden states the chunks are taken from.
- AdamW's step: torch's foreach implementation allocates one float32 temporary the size of the
  trained parameters (sqrt of the second moment); it exists when activations are already freed.
- sampling with `--rollout-backend hf`: the KV cache of one generate call's rows (problems per
  step / --gen-chunks, times --group-size) at full length, layers x 2 x kv_heads x head_dim per
  token, and a prefill's working set (3 i + 2 h per prompt token), both in r's dtype: the sampler
  runs without autocast (models/hf.py), so on the fp32 weights under ddp, bf16 ones under fsdp2.
- allocator fragmentation: `FRAGMENTATION` of the peak (vLLM's share aside).

Each line is held in some of three phases: sampling, the loss's forward/backward, the optimizer
step (gradients exist from backward until zero_grad, so not while sampling). The planned peak is
the largest phase's sum. Not counted: the teacher's own forward activations (freed layer by layer
under no_grad), LoRA's small adapter activations, the EMA update's one-parameter temporaries.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from leanfd.config import ConfigError
from leanfd.train.config import TrainConfig
from leanfd.train.known_models import KNOWN_MODELS

__all__ = ["Line", "MemoryPlan", "ModelShape", "check_fits", "layer_activation_bytes", "plan", "plan_for",
           "read_shape", "format_plan", "shape_of", "suggestions"]

GB = 1e9
CONTEXT_GB = 1.5  # CUDA context (~0.5-1 GB with lazy module loading) + cuBLAS workspace + NCCL buffers
FRAGMENTATION = 0.05  # the caching allocator's unusable share, a margin rather than a measurement
DRY_RUN_GPU_GB = 80.0  # the GPU assumed by --dry-run on a machine without one
# fp32 (chunk, V) tensors a loss holds at once: inputs + what bench/loss_memory.py found beyond them
LOGIT_COPIES = {"fd": 2 + 7, "grpo": 1 + 6}

# When a line's memory is held: sampling (the rollout), the loss's forward/backward, the optimizer step.
Phase = Literal["sample", "backward", "step"]
PHASES: tuple[Phase, ...] = ("sample", "backward", "step")
ALWAYS: tuple[Phase, ...] = PHASES


@dataclass(frozen=True)
class ModelShape:
    """What sets a causal LM's memory, read from its transformers config; `params` exact."""

    name: str
    architecture: str
    params: int  # every parameter, tied embeddings counted once
    param_tensors: int
    layers: int
    layer_params: int  # one decoder layer's
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied_embeddings: bool
    # (module name, in_features, out_features) of every nn.Linear
    linears: tuple[tuple[str, int, int], ...] = dataclasses.field(repr=False)

    @property
    def root_params(self) -> int:
        """Parameters outside the decoder layers: embeddings, final norm, LM head (when untied)."""
        return self.params - self.layers * self.layer_params

    def lora_linears(self, targets: str) -> list[tuple[str, int, int]]:
        """The linears PEFT adapts for `target_modules=targets`: "all-linear" (every linear but the
        LM head) or a regex that must match the whole module name."""
        if targets == "all-linear":
            return [lin for lin in self.linears if lin[0].split(".")[-1] != "lm_head"]
        return [lin for lin in self.linears if re.fullmatch(targets, lin[0])]

    def lora_params(self, r: int, targets: str) -> int:
        """Adapter parameters PEFT adds: r (in + out) per adapted linear (lora_A and lora_B)."""
        return sum(r * (n_in + n_out) for _, n_in, n_out in self.lora_linears(targets)) if r > 0 else 0


def _model_source(config: TrainConfig) -> tuple[str, str]:
    """(where the weights come from, the option that names it), as the trainer resolves them:
    --init-from DIR (its config.json or final/'s) before --model."""
    if not config.init_from:
        return config.model, "--model"
    p = Path(config.init_from)
    for d in (p, p / "final"):
        if (d / "config.json").is_file() or (d / "adapter_config.json").is_file():
            return str(d), "--init-from"
    raise ConfigError(f"--init-from {config.init_from}: no model there (expected config.json, or final/config.json)")


def _read_config(name: str, option: str) -> Any:
    from transformers import AutoConfig

    path = Path(name)
    if path.is_file() and path.name == "config.json":
        path = path.parent
    if (path / "config.json").is_file():
        return AutoConfig.from_pretrained(str(path))
    adapter = path / "adapter_config.json"  # a saved LoRA adapter: the base model's shape
    if adapter.is_file() and json.loads(adapter.read_text()).get("base_model_name_or_path"):
        return _read_config(json.loads(adapter.read_text())["base_model_name_or_path"], option)
    if not path.exists():
        try:
            return AutoConfig.from_pretrained(name, local_files_only=True)
        except (OSError, ValueError):
            pass
        if name in KNOWN_MODELS:
            fields = dict(KNOWN_MODELS[name])
            return AutoConfig.for_model(fields.pop("model_type"), **fields)
    raise ConfigError(f"{option} {name}: cannot read its config offline; give a local path "
                      "(a directory with config.json)")


def shape_of(hf_config: Any, name: str) -> ModelShape:
    """Count a transformers config's model exactly, built on the meta device (no memory)."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(hf_config)
    params = list(model.parameters())  # tied weights appear once
    decoder = model.get_decoder()
    layers = decoder.layers
    c = hf_config.get_text_config() if hasattr(hf_config, "get_text_config") else hf_config
    heads = c.num_attention_heads
    linears = tuple((n, m.in_features, m.out_features) for n, m in model.named_modules()
                    if isinstance(m, torch.nn.Linear))
    return ModelShape(
        name=name,
        architecture=type(model).__name__,
        params=sum(p.numel() for p in params),
        param_tensors=len(params),
        layers=len(layers),
        layer_params=sum(p.numel() for p in layers[0].parameters()),
        hidden=c.hidden_size,
        intermediate=c.intermediate_size,
        heads=heads,
        kv_heads=getattr(c, "num_key_value_heads", None) or heads,
        head_dim=getattr(c, "head_dim", None) or c.hidden_size // heads,
        vocab=c.vocab_size,
        tied_embeddings=bool(getattr(c, "tie_word_embeddings", False)),
        linears=linears,
    )


def read_shape(name: str, option: str = "--model") -> ModelShape:
    """The shape of `name`: a local path's config.json, else the local HF cache (never the
    network), else the built-in table; otherwise a ConfigError naming `option`."""
    hf_config = _read_config(name, option)
    try:
        return shape_of(hf_config, name)
    except (ValueError, AttributeError, IndexError) as e:  # not a decoder-only causal LM transformers builds
        raise ConfigError(f"{option} {name}: cannot plan its memory ({type(e).__name__}: {e}); the plan "
                          "knows decoder-only causal LMs") from None


@dataclass(frozen=True)
class Line:
    name: str
    bytes: int
    phases: tuple[Phase, ...]  # when it is held; () = shown, not counted (the alternative not chosen)


@dataclass(frozen=True)
class MemoryPlan:
    """Per-GPU memory of one config: named lines, the planned peak and what the GPU has."""

    shape: ModelShape
    config: TrainConfig = dataclasses.field(repr=False)
    processes: int
    gpu_memory_gb: float
    lines: tuple[Line, ...]
    capacity: int

    def held(self, phase: Phase) -> int:
        """Bytes held during `phase`."""
        return sum(x.bytes for x in self.lines if phase in x.phases)

    @property
    def total(self) -> int:
        """The planned peak: the largest phase."""
        return max(self.held(ph) for ph in PHASES)

    @property
    def strategy(self) -> str:
        return self.config.optim.sharding

    @property
    def fits(self) -> bool:
        return self.total <= self.capacity

    def line(self, name: str) -> int:
        """Bytes of the line called `name` (0 when the plan has none)."""
        return next((x.bytes for x in self.lines if x.name == name), 0)


def layer_activation_bytes(shape: ModelShape, e: int, r: int) -> int:
    """A_layer of the module docstring: bytes autograd keeps per token for one decoder layer, with
    e the compute dtype's bytes and r the residual stream's."""
    h, i = shape.hidden, shape.intermediate
    q, kv = shape.heads * shape.head_dim, shape.kv_heads * shape.head_dim
    return 2 * (4 + r + e) * h + e * (q + 2 * kv) + 2 * e * q + 4 * e * i + 4 * shape.heads


def _activations(shape: ModelShape, tokens: int, e: int, r: int, checkpointing: bool) -> int:
    """The estimate of the module docstring, in bytes, for `tokens` tokens."""
    h, i, L = shape.hidden, shape.intermediate, shape.layers
    a_layer = layer_activation_bytes(shape, e, r)
    extra = (4 + r + e) * h + 2 * r * h + 3 * e * i  # final norm + backward working set
    kept = L * r * h + a_layer if checkpointing else L * a_layer
    return tokens * (kept + extra)


def plan(shape: ModelShape, config: TrainConfig, processes: int, gpu_memory_gb: float) -> MemoryPlan:
    """The per-GPU memory of `config` on `processes` GPUs of `gpu_memory_gb` each (see the module
    docstring for what each line counts)."""
    o, ro = config.optim, config.rollout
    n = max(1, processes)
    fsdp = o.sharding == "fsdp2"
    shard = n if fsdp else 1
    lora = shape.lora_params(o.lora_r, o.lora_targets)
    trained = lora if o.lora_r > 0 else shape.params
    trained_tensors = 2 * len(shape.lora_linears(o.lora_targets)) if o.lora_r > 0 else shape.param_tensors
    whole = shape.params + lora
    frozen_bytes = 2 if o.teacher_dtype == "bfloat16" else 4
    e = 2 if o.bf16 else 4
    r = 2 if (fsdp and o.bf16) else 4
    h, V = shape.hidden, shape.vocab
    # with --turns T a revision's prompt carries the earlier attempts (rollout.py)
    prompt = config.plan.prompt_tokens + (ro.turns - 1) * ro.max_new_tokens
    tokens = o.micro_batch * (prompt + ro.max_new_tokens)
    completion_tokens = o.micro_batch * ro.max_new_tokens
    chunk = min(o.loss_chunk, completion_tokens)
    uses_reference = config.uses_reference
    train: tuple[Phase, ...] = ("backward", "step")  # gradients live from backward to zero_grad

    lines = [Line("CUDA/NCCL context", int(CONTEXT_GB * GB), ALWAYS),
             Line("weights (fp32)", 4 * whole // shard, ALWAYS),
             Line("gradients (fp32)", 4 * trained // shard, train)]
    if not fsdp and n > 1:
        lines.append(Line("DDP gradient buckets", 4 * trained, ALWAYS))
    lines.append(Line("AdamW state", (8 * trained + 4 * trained_tensors) // shard, ALWAYS))
    if config.uses_teacher:
        lines.append(Line(f"FD teacher ({o.teacher_dtype})", frozen_bytes * whole // shard, ALWAYS))
    if uses_reference:
        lines.append(Line(f"KL reference ({o.teacher_dtype})", frozen_bytes * whole // shard, ALWAYS))
    if ro.backend == "vllm":
        lines.append(Line("colocated vLLM", int(ro.vllm_gpu_memory_utilization * gpu_memory_gb * GB), ALWAYS))
    else:
        # hf sampling: each generate call holds its rows' KV cache and a prefill's working set, in the
        # dtype of the weights it runs on (models/hf.py samples without autocast: fp32 under ddp)
        rows = -(-ro.prompts_per_step // ro.gen_chunks) * ro.group_size
        per_token = shape.layers * 2 * shape.kv_heads * shape.head_dim * r
        lines.append(Line(f"rollout KV cache ({rows} rows)", rows * (prompt + ro.max_new_tokens) * per_token,
                          ("sample",)))
        prefill = rows * prompt * (3 * r * shape.intermediate + 2 * r * h)
        lines.append(Line("rollout prefill", prefill, ("sample",)))

    ckpt = o.gradient_checkpointing
    lines.append(Line("activations, checkpointing", _activations(shape, tokens, e, r, True),
                      ("backward",) if ckpt else ()))
    lines.append(Line("activations, no checkpointing", _activations(shape, tokens, e, r, False),
                      () if ckpt else ("backward",)))
    head = h * V
    if fsdp:
        p = e  # MixedPrecisionPolicy param_dtype
        lines.append(Line("FSDP2 gathered weights", shape.root_params * p + 2 * shape.layer_params * p,
                          ("sample", "backward")))
        if o.lora_r == 0:
            # the root's gradients (LM head first, embeddings last) stay unsharded through backward
            lines.append(Line("FSDP2 unsharded gradients", (shape.layer_params + shape.root_params) * (p + 4),
                              ("backward",)))
    elif o.bf16:
        every = sum(a * b for _, a, b in shape.linears)
        one_layer = sum(a * b for name, a, b in shape.linears if ".layers.0." in f".{name}.")
        lines.append(Line("autocast bf16 weight copies", 2 * (one_layer + head if ckpt else every), ("backward",)))
    logits = 0
    for m in ("fd", "grpo"):
        if m != config.method and config.method != "fd+grpo":
            continue
        with_reference = m == "grpo" and uses_reference
        copies = LOGIT_COPIES[m] + with_reference
        frozen_inputs = (m == "fd") + with_reference  # completion hidden states the frozen model's chunks come from
        logits = max(logits, copies * chunk * V * 4 + frozen_inputs * completion_tokens * h * e)
    lines.append(Line(f"loss logits ({chunk} tokens x {V})", logits, ("backward",)))
    lines.append(Line("AdamW step temporaries", 4 * trained // shard, ("step",)))

    draft = MemoryPlan(shape=shape, config=config, processes=n, gpu_memory_gb=gpu_memory_gb, lines=tuple(lines),
                       capacity=int(gpu_memory_gb * GB))
    # vLLM's share is taken before the caching allocator sees the rest: no fragmentation on it
    frag = int(FRAGMENTATION * (draft.total - draft.line("colocated vLLM")))
    return dataclasses.replace(draft, lines=(*draft.lines, Line("allocator fragmentation", frag, ALWAYS)))


def _gb(b: int) -> str:
    return f"{b / GB:.1f}"


_PHASE_NAMES = {"sample": "sampling", "backward": "forward/backward", "step": "optimizer step"}


def _when(phases: tuple[Phase, ...]) -> str:
    if not phases:
        return "not counted"
    return "always" if phases == ALWAYS else ", ".join(_PHASE_NAMES[ph] for ph in phases)


def format_plan(p: MemoryPlan) -> str:
    """The plan as aligned text: one line per item with when it is held, GB with one decimal, each
    phase's sum, the peak and the verdict."""
    title = (f"memory per GPU: {p.shape.name} ({p.shape.params / 1e9:.2f}B parameters), {p.strategy} over "
             f"{p.processes} process{'es' if p.processes != 1 else ''}, {p.gpu_memory_gb:.0f} GB GPUs")
    width = max(len(x.name) for x in p.lines) + 2
    rows = [title, ""]
    rows += [f"  {x.name:<{width}}{_gb(x.bytes):>7} GB  {_when(x.phases)}" for x in p.lines]
    rows.append("")
    rows += [f"  {'held in ' + _PHASE_NAMES[ph]:<{width}}{_gb(p.held(ph)):>7} GB" for ph in PHASES]
    rows.append(f"  {'planned peak':<{width}}{_gb(p.total):>7} GB of {_gb(p.capacity)} GB: "
                + ("fits" if p.fits else "DOES NOT FIT"))
    return "\n".join(rows)


def _with(config: TrainConfig, changes: dict[str, Any]) -> TrainConfig:
    """`config` with {"section.field": value} changes (the sections' and the config's checks rerun)."""
    sections: dict[str, dict[str, Any]] = {}
    for key, value in changes.items():
        name, field = key.split(".")
        sections.setdefault(name, {})[field] = value
    return dataclasses.replace(config, **{name: dataclasses.replace(getattr(config, name), **fields)
                                          for name, fields in sections.items()})


def _candidates(config: TrainConfig, processes: int) -> list[tuple[str, dict[str, Any], int]]:
    """(flag, {"section.field": value}, processes) for each single change worth trying, in the
    order a user would reach for them; of a number, the mildest value first."""
    o, ro = config.optim, config.rollout
    out: list[tuple[str, dict[str, Any], int]] = []
    if o.sharding == "ddp" and processes > 1:
        out.append(("--sharding fsdp2", {"optim.sharding": "fsdp2"}, processes))
    if o.teacher_dtype == "float32" and (config.uses_teacher or config.uses_reference):
        out.append(("--teacher-dtype bfloat16", {"optim.teacher_dtype": "bfloat16"}, processes))
    if not o.gradient_checkpointing:
        out.append(("--gradient-checkpointing", {"optim.gradient_checkpointing": True}, processes))
    if not o.bf16:
        out.append(("--bf16", {"optim.bf16": True}, processes))
    if o.lora_r == 0:
        out.append(("--lora-r 16", {"optim.lora_r": 16}, processes))
    mb = o.micro_batch // 2
    while mb >= 1:
        out.append((f"--micro-batch {mb}", {"optim.micro_batch": mb}, processes))
        mb //= 2
    if ro.backend == "hf":
        chunks = 2 * ro.gen_chunks
        while chunks <= ro.prompts_per_step:
            out.append((f"--gen-chunks {chunks}", {"rollout.gen_chunks": chunks}, processes))
            chunks *= 2
    if o.sharding == "fsdp2":
        out += [(f"{k * processes} processes", {}, k * processes) for k in (2, 4)]
    return out


def _replan(p: MemoryPlan, changes: dict[str, Any], processes: int) -> MemoryPlan | None:
    try:
        config = _with(p.config, changes)
    except ConfigError:
        return None  # a change the config's own checks refuse (e.g. fsdp2 with hf multi-turn)
    return plan(p.shape, config, processes, p.gpu_memory_gb)


def suggestions(p: MemoryPlan) -> list[str]:
    """Changes that make `p` fit, each checked by re-planning: every single change that fits
    alone (of the micro-batch sizes, the largest), else the first run of them taken together."""
    alone: list[str] = []
    numbers_done: set[str] = set()  # options of which one value already fits (the mildest)
    for flag, changes, n in _candidates(p.config, p.processes):
        option = flag.split()[0]
        if option in numbers_done:
            continue
        q = _replan(p, changes, n)
        if q is not None and q.fits:
            alone.append(f"{flag} ({_gb(q.total)} GB)")
            numbers_done.add(option)
    if alone:
        return alone
    # none alone: take them one by one, in that order, until the plan fits; then drop each that
    # the others do not need
    taken: dict[str, tuple[str, dict[str, Any], int]] = {}  # option -> a later value replaces an earlier
    for flag, changes, n in _candidates(p.config, p.processes):
        trial = {**taken, flag.split()[0] if changes else "processes": (flag, changes, n)}
        q = _replan_all(p, trial.values())
        if q is None:
            continue
        taken = trial
        if q.fits:
            for option in list(taken):
                rest = {k: v for k, v in taken.items() if k != option}
                smaller = _replan_all(p, rest.values())
                if smaller is not None and smaller.fits:
                    taken, q = rest, smaller
            return [" ".join(flag for flag, _, _ in taken.values()) + f" together ({_gb(q.total)} GB)"]
    return []


def _replan_all(p: MemoryPlan, steps: Any) -> MemoryPlan | None:
    changes: dict[str, Any] = {}
    n = p.processes
    for _, more, processes in steps:
        changes.update(more)
        n = max(n, processes)
    return _replan(p, changes, n)


def check_fits(p: MemoryPlan) -> None:
    """Raise ConfigError when the plan does not fit, naming the changes that would (each checked
    by re-planning)."""
    if p.fits:
        return
    big = sorted((x for x in p.lines if x.phases), key=lambda x: -x.bytes)[:3]
    msg = (f"{p.shape.name} does not fit: planned {_gb(p.total)} GB per GPU of {_gb(p.capacity)} GB "
           f"({p.strategy}, {p.processes} process{'es' if p.processes != 1 else ''}; largest: "
           + ", ".join(f"{x.name} {_gb(x.bytes)} GB" for x in big) + ").")
    fixes = suggestions(p)
    msg += (" Would fit: " + "; ".join(fixes) + "." if fixes
            else " None of the changes tried fits: more or larger GPUs, a smaller model, or shorter sequences.")
    raise ConfigError(msg + " `leanfd train --dry-run` prints the whole plan.")


def _gpu_memory_gb() -> float | None:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory / GB


def plan_for(config: TrainConfig, processes: int | None = None,
             gpu_memory_gb: float | None = None) -> MemoryPlan:
    """The plan the trainer checks before loading a model: processes = the argument, else
    `plan.processes`, else WORLD_SIZE, else 1; GPU memory = the argument, else `plan.gpu_memory_gb`,
    else this GPU's, else `DRY_RUN_GPU_GB`. Reads only the model's config."""
    n = processes or config.plan.processes or int(os.environ.get("WORLD_SIZE", "1") or 1)
    gb = gpu_memory_gb or config.plan.gpu_memory_gb or _gpu_memory_gb() or DRY_RUN_GPU_GB
    source, option = _model_source(config)
    return plan(read_shape(source, option), config, n, gb)
