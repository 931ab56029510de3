"""The training config: every option of `leanfd train`, settable in YAML or on the command line.

Defaults for FD follow SDPO (Hubotter et al. 2026, arXiv 2601.20802), the nearest documented
setting: reverse KL, teacher top-k 20 with a tail bucket, EMA rate 0.05, importance clip 2,
lr 1e-6. GRPO defaults follow DeepSeek-Prover-V1.5 RL where it states them (KL 0.02 there; 0 here
by default, as in Dr. GRPO).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from leanfd.config import ConfigError, opt

Method = Literal["fd", "grpo", "fd+grpo"]


@dataclass
class TrainConfig:
    # what to train, on what
    method: Method = opt("fd", "fd: Feedback Distillation; grpo; fd+grpo: FD for --fd-steps steps, then GRPO")
    model: str = opt("", "policy: a hub id or a local path, as transformers takes it")
    dataset: str = opt("", "problems: a JSONL file (DeepSeek shape), a directory of .lean files, or a dataset id")
    output_dir: str = opt("runs/train", "where checkpoints, metrics.jsonl and the final model go")
    split: str | None = opt(None, "only problems of this split (e.g. valid)")
    names: str | None = opt(None, "only problems whose name matches this regex")
    limit: int | None = opt(None, "at most this many problems")
    init_from: str | None = opt(None, "start from this run directory (e.g. an FD run's, or its final/) "
                                      "instead of --model")
    resume: bool = opt(True, "resume from the last checkpoint in output_dir when there is one")
    max_steps: int = opt(100, "optimizer steps")
    fd_steps: int = opt(50, "fd+grpo: steps of FD before switching to GRPO")
    seed: int = opt(0, "seed for data order, sampling and initialisation")

    # rollouts
    prompts_per_step: int = opt(4, "problems per step on each process")
    group_size: int = opt(4, "samples per problem (G)")
    max_new_tokens: int = opt(512, "longest sampled proof, in tokens")
    temperature: float = opt(1.0, "sampling temperature")
    top_p: float = opt(1.0, "nucleus sampling")
    prompt_style: Literal["completion", "chat"] = opt("completion", "prompt format for the policy")
    # 1 by default: on a GPU `generate` is bound by kernel launches, not rows, so each chunk costs a
    # whole decoding pass (measured: 2 chunks doubled generation time on an H200). Raise it when Lean,
    # not sampling, dominates a step.
    gen_chunks: int = opt(1, "split each step's generation into chunks; a chunk verifies while the next generates")
    turns: int = opt(1, "attempts per episode: >1 revises a failed attempt after compiler feedback")
    rollout_backend: Literal["hf", "vllm"] = opt(
        "hf", "sample with the live model (hf) or a vLLM engine colocated on each GPU that takes the new "
              "weights after every optimizer step (needs leanfd[vllm] and a CUDA GPU)")
    vllm_gpu_memory_utilization: float = opt(0.3, "share of each GPU's memory the colocated vLLM engine may take")
    vllm_max_model_len: int | None = opt(None, "colocated vLLM: longest prompt + completion (default: the model's)")

    # verification
    verifier_backend: Literal["cli", "server"] = opt("server", "Lean backend: pooled servers or one process per check")
    verifier_jobs: int | None = opt(None, "Lean processes per training process (default: CPU count / processes)")
    verifier_timeout: float = opt(60.0, "seconds per check")
    lean: str | None = opt(None, "path to lean, or 'bundled'")

    # optimisation
    lr: float = opt(1e-6, "learning rate (AdamW)")
    weight_decay: float = opt(0.0, "AdamW weight decay")
    warmup_steps: int = opt(0, "linear warm-up steps")
    lr_schedule: Literal["constant", "linear", "cosine"] = opt("constant", "after warm-up")
    micro_batch: int = opt(8, "sequences per forward/backward; a step accumulates the gradients "
                              "of all its micro-batches")
    max_grad_norm: float = opt(1.0, "gradient clipping")
    bf16: bool = opt(False, "bf16 autocast (fp32 master weights)")
    gradient_checkpointing: bool = opt(False, "trade compute for memory")
    lora_r: int = opt(0, "LoRA rank; 0 trains all weights")
    lora_alpha: int = opt(16, "LoRA alpha")
    lora_dropout: float = opt(0.0, "LoRA dropout")
    lora_targets: str = opt("all-linear", "modules LoRA adapts (peft target_modules)")

    # FD
    divergence: Literal["reverse_kl", "forward_kl", "jsd"] = opt("reverse_kl", "FD's per-token divergence")
    jsd_beta: float = opt(0.5, "beta of the generalised JSD")
    topk: int = opt(20, "teacher top-k with a tail bucket; 0 = full vocabulary")
    ema_rate: float = opt(0.05, "teacher <- (1 - rate) teacher + rate student after each step")
    teacher: Literal["ema", "frozen"] = opt("ema", "EMA copy of the student, or the frozen initial model")
    importance_clip: float = opt(2.0, "per-token importance weight cap for off-policy tokens")
    feedback: Literal["llm", "compiler", "both"] = opt("compiler", "what the teacher sees about the attempt")
    feedback_on: Literal["failed", "all"] = opt("failed", "attempts that get feedback (others are not distilled)")
    sibling: bool = opt(False, "show the teacher a successful attempt from the same group")
    critic: Literal["openai", "anthropic", "hf"] | None = opt(None, "critic backend for llm feedback")
    critic_model: str | None = opt(None, "critic model name or path")
    critic_base_url: str | None = opt(None, "critic endpoint for openai/anthropic")

    # GRPO
    eps_low: float = opt(0.2, "lower clip of the ratio")
    eps_high: float = opt(0.2, "upper clip of the ratio (DAPO's clip-higher when larger)")
    kl_beta: float = opt(0.0, "weight of the k3 KL to the initial model (DeepSeek-Prover-V1.5: 0.02)")
    scale_std: bool = opt(True, "divide group advantages by the group's std")
    aggregation: Literal["token_mean", "sequence_mean", "dr_grpo"] = opt("token_mean", "loss aggregation")
    format_reward: float = opt(0.0, "reward for an attempt that elaborates without error but is not proved")

    # logging and checkpoints
    log_every: int = opt(1, "steps between metric lines")
    save_every: int = opt(50, "steps between checkpoints (and at the end)")
    keep_checkpoints: int = opt(2, "checkpoints kept on disk")
    tensorboard: bool = opt(False, "also write TensorBoard events (needs the tensorboard package)")
    live: bool = opt(True, "rich live display of the metrics")

    def __post_init__(self) -> None:
        if not self.model and not self.init_from:
            raise ConfigError("give --model (a hub id or local path) or --init-from CHECKPOINT")
        if not self.dataset:
            raise ConfigError("give --dataset (a JSONL file, a directory of .lean files, or a dataset id)")
        if self.group_size < 1 or self.prompts_per_step < 1:
            raise ConfigError("group_size and prompts_per_step must be at least 1")
        if self.method in ("grpo", "fd+grpo") and self.group_size < 2:
            raise ConfigError("GRPO compares samples within a group: set --group-size 2 or more")
        if self.method == "fd+grpo" and not 0 < self.fd_steps < self.max_steps:
            raise ConfigError(f"fd+grpo needs 0 < --fd-steps < --max-steps (got {self.fd_steps} and {self.max_steps})")
        if self.feedback in ("llm", "both") and self.critic is None and self.method != "grpo":
            raise ConfigError("--feedback llm/both needs a critic: --critic openai|anthropic|hf --critic-model NAME")
        if not 0 <= self.ema_rate <= 1:
            raise ConfigError("--ema-rate must lie in [0, 1]")
        if not 0 <= self.jsd_beta <= 1:
            raise ConfigError("--jsd-beta must lie in [0, 1]")
        if not 0 < self.vllm_gpu_memory_utilization < 1:
            raise ConfigError("--vllm-gpu-memory-utilization must lie in (0, 1): the trainer needs the rest")
        if self.turns < 1 or self.gen_chunks < 1:
            raise ConfigError("--turns and --gen-chunks must be at least 1")

    def method_at(self, step: int) -> Literal["fd", "grpo"]:
        """The loss used at optimizer step `step` (0-based)."""
        if self.method == "fd+grpo":
            return "fd" if step < self.fd_steps else "grpo"
        return self.method  # type: ignore[return-value]
