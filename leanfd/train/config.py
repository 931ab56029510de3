"""The training config: every option of `leanfd train`, in sections, settable in YAML or on the command line.

YAML nests options by section (`fd: {divergence: jsd}`) or gives them flat under their flag names;
flags stay flat (`--divergence jsd`). Sections are frozen: a stage reads its own and cannot change
another's.

Defaults for FD follow SDPO (Hubotter et al. 2026, arXiv 2601.20802), the nearest documented
setting: reverse KL, EMA rate 0.05, importance clip 2, lr 1e-6; but on the full vocabulary, the exact
divergence, where SDPO takes the student's top-20 ids with a tail bucket (`--topk 20`): with the
chunked LM head the full vocabulary costs less memory and no more time (bench/README.md, "FD's
default support"). GRPO defaults follow DeepSeek-Prover-V1.5 RL where it states them (KL 0.02 there; 0
here by default, as in Dr. GRPO).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from leanfd.config import ConfigError, opt, section
from leanfd.lean.verifier import VerifierConfig
from leanfd.options import check_bounds

Method = Literal["fd", "grpo", "fd+grpo"]


@dataclass(frozen=True)
class RolloutConfig:
    """Sampling: how many attempts, how long, with which engine."""

    prompts_per_step: int = opt(4, "problems per step on each process", min=1)
    group_size: int = opt(4, "samples per problem (G)", min=1)
    max_new_tokens: int = opt(512, "longest sampled proof, in tokens (also Dr. GRPO's constant normaliser)", min=1)
    temperature: float = opt(1.0, "sampling temperature; the losses' log-probabilities are taken at it too (they "
                                  "divide the logits by it)", gt=0)
    top_p: float = opt(1.0, "nucleus sampling", gt=0, max=1)
    prompt_style: Literal["completion", "chat"] = opt("completion", "prompt format for the policy")
    # 1 by default: on a GPU `generate` is bound by kernel launches, not rows, so each chunk costs a
    # whole decoding pass (measured: 2 chunks doubled generation time on an H200). Raise it when Lean,
    # not sampling, dominates a step.
    gen_chunks: int = opt(1, "split each step's generation into chunks; a chunk verifies while the next generates",
                          min=1)
    turns: int = opt(1, "attempts per episode: >1 revises a failed attempt after compiler feedback", min=1)
    feedback_tokens: int = opt(1024, "budget of Lean's feedback on an attempt, rendered once: what a revision "
                                     "turn and the FD teacher read", min=64)
    backend: Literal["hf", "vllm"] = opt(
        "hf", "sample with the live model (hf) or a vLLM engine colocated on each GPU that takes the new "
              "weights after every optimizer step (needs leanfd[vllm] and a CUDA GPU)", flag="rollout_backend")
    vllm_gpu_memory_utilization: float = opt(0.3, "share of each GPU's memory the colocated vLLM engine may take "
                                                  "(the trainer needs the rest)", gt=0, lt=1)
    vllm_max_model_len: int | None = opt(None, "colocated vLLM: longest prompt + completion (default: the model's)")

    def __post_init__(self) -> None:
        check_bounds(self)
        if self.backend == "vllm" and self.top_p < 1:
            # vLLM reports log-probs after top-p (renormalised on the nucleus); the losses take
            # softmax(logits / T) over the whole vocabulary, so the importance ratios would be off.
            raise ConfigError("--rollout-backend vllm samples for training with --top-p 1 only (its log-probs are "
                              "taken after top-p); use --top-p 1, or --rollout-backend hf")


@dataclass(frozen=True)
class OptimConfig:
    """The optimizer, precision, memory and how the model is spread over processes."""

    lr: float = opt(1e-6, "learning rate (AdamW)", gt=0)
    weight_decay: float = opt(0.0, "AdamW weight decay", min=0)
    warmup_steps: int = opt(0, "linear warm-up steps", min=0)
    lr_schedule: Literal["constant", "linear", "cosine"] = opt("constant", "after warm-up")
    micro_batch: int = opt(8, "sequences per forward/backward; a step accumulates the gradients "
                              "of all its micro-batches", min=1)
    max_grad_norm: float = opt(1.0, "gradient clipping", gt=0)
    bf16: bool = opt(False, "bf16 compute (fp32 master weights)")
    gradient_checkpointing: bool = opt(False, "trade compute for memory")
    sharding: Literal["ddp", "fsdp2"] = opt(
        "ddp", "ddp: every process holds the whole model; fsdp2: weights, gradients, optimizer state, "
               "teacher and reference sharded over the processes (torch fully_shard)")
    teacher_dtype: Literal["float32", "bfloat16"] = opt(
        "float32", "dtype of the FD teacher and the KL reference (bfloat16 halves them; an EMA update "
                   "below bf16's resolution is lost)")
    loss_chunk: int = opt(1024, "completion tokens whose logits are held at once by the losses "
                                "(the LM head is applied chunk by chunk)", min=1)
    lora_r: int = opt(0, "LoRA rank; 0 trains all weights", min=0)
    lora_alpha: int = opt(16, "LoRA alpha", gt=0)
    lora_dropout: float = opt(0.0, "LoRA dropout", min=0, lt=1)
    lora_targets: str = opt("all-linear", "modules LoRA adapts (peft target_modules)")

    def __post_init__(self) -> None:
        check_bounds(self)


@dataclass(frozen=True)
class FDConfig:
    """Feedback Distillation: the divergence, the teacher, and what the teacher is shown."""

    divergence: Literal["reverse_kl", "forward_kl", "jsd"] = opt("reverse_kl", "FD's per-token divergence")
    jsd_beta: float = opt(0.5, "beta of the generalised JSD", min=0, max=1)
    topk: int = opt(0, "0: the divergence on the full vocabulary (exact); K: on top-K ids plus a tail "
                       "bucket (SDPO's and TRL's approximation, K = 20 there)", min=0)
    topk_from: Literal["student", "teacher"] = opt(
        "student", "whose top-K ids the support holds when --topk K > 0 (SDPO's code and TRL take the student's)")
    ema_rate: float = opt(0.05, "teacher <- (1 - rate) teacher + rate student after each step", min=0, max=1)
    teacher: Literal["ema", "frozen"] = opt("ema", "EMA copy of the student, or the frozen initial model")
    importance_clip: float = opt(2.0, "per-token importance weight cap for off-policy tokens", gt=0)
    feedback: Literal["llm", "compiler", "both"] = opt("compiler", "what the teacher sees about the attempt")
    feedback_on: Literal["failed", "all"] = opt("failed", "attempts that get feedback (others are not distilled)")
    sibling: bool = opt(False, "show the teacher a successful attempt from the same group")
    critic: Literal["openai", "anthropic", "hf"] | None = opt(None, "critic backend for llm feedback")
    critic_model: str | None = opt(None, "critic model name or path")
    critic_base_url: str | None = opt(None, "critic endpoint for openai/anthropic")
    teacher_eval_every: int = opt(
        10, "every N FD steps (and the first), sample the teacher once on each failed attempt and log its pass "
            "rate minus the student's (teacher_advantage): FD helps only while it is positive; 0: never", min=0)

    def __post_init__(self) -> None:
        check_bounds(self)


@dataclass(frozen=True)
class GRPOConfig:
    """GRPO: the clip range, the KL to the initial model, the normaliser and the rewards."""

    eps_low: float = opt(0.2, "lower clip of the ratio", min=0, lt=1)
    eps_high: float = opt(0.2, "upper clip of the ratio (DAPO's clip-higher when larger)", min=0)
    kl_beta: float = opt(0.0, "weight of the k3 KL to the initial model (DeepSeek-Prover-V1.5: 0.02)", min=0)
    scale_std: bool = opt(True, "divide group advantages by the group's std")
    aggregation: Literal["token_mean", "sequence_mean", "dr_grpo"] = opt(
        "token_mean", "loss aggregation (dr_grpo divides by the batch size times --max-new-tokens)")
    format_reward: float = opt(0.0, "reward for an attempt that elaborates without error but is not proved")

    def __post_init__(self) -> None:
        check_bounds(self)


@dataclass(frozen=True)
class LogConfig:
    """Metrics and checkpoints."""

    log_every: int = opt(1, "steps between metric lines", min=1)
    save_every: int = opt(50, "steps between checkpoints (and at the end)", min=1)
    keep_checkpoints: int = opt(2, "checkpoints kept on disk", min=1)
    tensorboard: bool = opt(False, "also write TensorBoard events (needs the tensorboard package)")
    live: bool = opt(True, "on a terminal, the metrics as an 80-column table (else one short line a step)")

    def __post_init__(self) -> None:
        check_bounds(self)


@dataclass(frozen=True)
class PlanConfig:
    """What the memory plan checks the run against, before a model is loaded."""

    processes: int | None = opt(None, "processes (GPUs) the run is planned for (default: those launched)", min=1)
    gpu_memory_gb: float | None = opt(None, "memory of each GPU in GB (default: the GPU's own; "
                                            "80 for --dry-run on a machine without one)", gt=0)
    prompt_tokens: int = opt(512, "longest prompt the plan assumes, in tokens", min=1)

    def __post_init__(self) -> None:
        check_bounds(self)


@dataclass(frozen=True)
class TrainConfig:
    # what to train, on what
    method: Method = opt("fd", "fd: Feedback Distillation; grpo; fd+grpo: FD for --fd-steps steps, then GRPO")
    model: str = opt("", "policy: a hub id or a local path, as transformers takes it")
    dataset: str = opt("", "problems: a JSONL file (DeepSeek shape), a directory of .lean files, or a dataset id")
    output_dir: str = opt("runs/train", "where checkpoints, metrics.jsonl and the final model go")
    split: str | None = opt(None, "only problems of this split (e.g. valid)")
    names: str | None = opt(None, "only problems whose name matches this regex", regex=True, metavar="REGEX")
    limit: int | None = opt(None, "at most this many problems")
    init_from: str | None = opt(None, "start from this run directory (e.g. an FD run's, or its final/) "
                                      "instead of --model")
    resume: bool = opt(True, "resume from the last checkpoint in output_dir when there is one")
    max_steps: int = opt(100, "optimizer steps", min=1)
    fd_steps: int = opt(50, "fd+grpo: steps of FD before switching to GRPO")
    seed: int = opt(0, "seed for data order, sampling and initialisation")

    rollout: RolloutConfig = section(RolloutConfig, "sampling")
    verifier: VerifierConfig = section(VerifierConfig, "Lean", prefix="verifier_")
    optim: OptimConfig = section(OptimConfig, "optimisation, precision, sharding")
    fd: FDConfig = section(FDConfig, "Feedback Distillation")
    grpo: GRPOConfig = section(GRPOConfig, "GRPO")
    log: LogConfig = section(LogConfig, "metrics and checkpoints")
    plan: PlanConfig = section(PlanConfig, "the memory plan")

    def __post_init__(self) -> None:
        if not self.model and not self.init_from:
            raise ConfigError("give --model (a hub id or local path) or --init-from CHECKPOINT")
        if not self.dataset:
            raise ConfigError("give --dataset (a JSONL file, a directory of .lean files, or a dataset id)")
        check_bounds(self)
        if self.method in ("grpo", "fd+grpo") and self.rollout.group_size < 2:
            raise ConfigError("GRPO compares samples within a group: set --group-size 2 or more")
        if self.method == "fd+grpo" and not 0 < self.fd_steps < self.max_steps:
            raise ConfigError(f"fd+grpo needs 0 < --fd-steps < --max-steps (got {self.fd_steps} and {self.max_steps})")
        if self.fd.feedback in ("llm", "both") and self.fd.critic is None and self.method != "grpo":
            raise ConfigError("--feedback llm/both needs a critic: --critic openai|anthropic|hf --critic-model NAME")
        if self.optim.sharding == "fsdp2" and self.rollout.turns > 1 and self.rollout.backend == "hf":
            raise ConfigError("--sharding fsdp2 with --turns > 1 needs --rollout-backend vllm: with the hf sampler "
                              "every process must run the same revisions")

    def unused_options(self) -> tuple[list[str], str]:
        """The flags of options this run would never read (GRPO's in an FD-only run, FD's in a GRPO
        run, a critic that compiler feedback never asks), as set away from their defaults, and why.
        `leanfd train` refuses those given on its command line (a run that silently ignores one is not
        the run asked for) and warns about those a YAML file sets (one config may serve every method)."""
        unused: list[str] = []
        if self.method == "grpo":
            return _changed(self.fd, FDConfig()), "with --method grpo (no FD step runs)"
        why = f"with --method {self.method}"
        if self.method == "fd":
            # the format reward still shapes the logged reward of an FD run; the rest is GRPO's loss only
            unused += [f for f in _changed(self.grpo, GRPOConfig()) if f != "--format-reward"]
        critic = [f for f in _changed(self.fd, FDConfig()) if f.startswith("--critic")]
        if self.fd.feedback == "compiler" and critic:
            unused += critic
            why += " and --feedback compiler (no critic is asked)"
        elif self.fd.critic == "hf" and self.fd.critic_base_url:
            unused.append("--critic-base-url")
            why += " and --critic hf (the critic runs here)"
        return unused, why

    @property
    def uses_teacher(self) -> bool:
        return self.method in ("fd", "fd+grpo")

    @property
    def uses_reference(self) -> bool:
        """GRPO's KL needs the frozen initial model; an FD-only run never reads it."""
        return self.method in ("grpo", "fd+grpo") and self.grpo.kl_beta > 0

    def method_at(self, step: int) -> Literal["fd", "grpo"]:
        """The loss used at optimizer step `step` (0-based)."""
        if self.method == "fd+grpo":
            return "fd" if step < self.fd_steps else "grpo"
        return self.method  # type: ignore[return-value]


def _changed(section: object, default: object) -> list[str]:
    """The flags of `section`'s fields whose value differs from `default`'s."""
    return [f"--{f.name.replace('_', '-')}" for f in dataclasses.fields(section)  # type: ignore[arg-type]
            if getattr(section, f.name) != getattr(default, f.name)]
