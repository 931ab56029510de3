"""The training loop: sample, verify, feedback, score, loss, step, log. Read top to bottom.

One loop serves FD, GRPO and FD then GRPO. Multi-GPU and multi-node come from accelerate
(`accelerate launch -m leanfd train ...`): each process samples and verifies its own share of
problems, gradients are averaged by DDP, and every process keeps an identical EMA teacher because
it applies the same update to identical weights.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import json
import logging
import math
import os
import random
import shutil
import time
from pathlib import Path

import torch

from leanfd.config import ConfigError, to_yaml
from leanfd.data.benchmarks import Problem, load_problems
from leanfd.data.prompts import PromptBuilder
from leanfd.feedback.critic import FeedbackConfig, LLMCritic
from leanfd.lean.verifier import Verifier, VerifierConfig
from leanfd.models.base import SamplingConfig
from leanfd.models.hf import HFBackend
from leanfd.models.vllm_backend import VLLMBackend, colocated_engine, import_vllm
from leanfd.train.batching import completion_logits, mean_entropy, pad_list, token_logprobs
from leanfd.train.config import TrainConfig
from leanfd.train.losses import fd_loss, group_advantages, grpo_loss
from leanfd.train.metrics import MetricsLogger
from leanfd.train.rollout import Rollout, RolloutEngine, teacher_prompt
from leanfd.train.weight_sync import iter_policy_weights

log = logging.getLogger(__name__)

STATE_FILE = "trainer_state.json"


@torch.no_grad()
def ema_update(teacher: torch.nn.Module, student: torch.nn.Module, rate: float) -> None:
    """teacher <- (1 - rate) * teacher + rate * student, over the trained parameters only."""
    t_params = dict(teacher.named_parameters())
    for name, p in student.named_parameters():
        if p.requires_grad:
            t_params[name].lerp_(p.detach().to(t_params[name].dtype), rate)


def resolve_init(path: str) -> str:
    """A checkpoint run directory or its `final/`: where the weights to start from lie."""
    p = Path(path)
    if (p / "config.json").is_file() or (p / "adapter_config.json").is_file():
        return str(p)
    if (p / "final" / "config.json").is_file():
        return str(p / "final")
    raise ConfigError(f"--init-from {path}: no model there (expected config.json, or final/config.json)")


class Trainer:
    def __init__(self, config: TrainConfig):
        from accelerate import Accelerator
        from accelerate.utils import set_seed
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.config = c = config
        if c.rollout_backend == "vllm":
            import_vllm()  # "not installed: pip install 'leanfd[vllm]'" before a model is loaded
        self.accelerator = Accelerator(mixed_precision="bf16" if c.bf16 else "no", gradient_accumulation_steps=1)
        self.out = Path(c.output_dir)
        set_seed(c.seed)
        source = resolve_init(c.init_from) if c.init_from else c.model
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)
        if c.gradient_checkpointing:
            model.gradient_checkpointing_enable()
        if c.lora_r > 0:
            from peft import LoraConfig, get_peft_model

            model = get_peft_model(model, LoraConfig(r=c.lora_r, lora_alpha=c.lora_alpha, lora_dropout=c.lora_dropout,
                                                     target_modules=c.lora_targets, task_type="CAUSAL_LM"))
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        # The teacher (FD) and the reference (GRPO's KL) are copies that never train.
        needs_teacher = c.method in ("fd", "fd+grpo")
        self.teacher = self._frozen_copy(model) if needs_teacher else None
        self.reference = self._frozen_copy(model) if c.kl_beta > 0 else None
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, self._lr_lambda)
        self.model, self.optimizer, self.scheduler = self.accelerator.prepare(model, optimizer, scheduler)
        if self.teacher is not None:
            self.teacher.to(self.accelerator.device)
            self.accelerator.register_for_checkpointing(self.teacher)
        if self.reference is not None:
            self.reference.to(self.accelerator.device)
        self.problems = self._load_problems()
        self.step = 0
        self._vllm: VLLMBackend | None = None
        self.metrics = MetricsLogger(self.out, enabled=self.accelerator.is_main_process,
                                     live=c.live, tensorboard=c.tensorboard)

    @staticmethod
    def _frozen_copy(model: torch.nn.Module) -> torch.nn.Module:
        twin = copy.deepcopy(model)
        twin.requires_grad_(False)
        twin.eval()
        return twin

    def _lr_lambda(self, step: int) -> float:
        c = self.config
        if c.warmup_steps and step < c.warmup_steps:
            return (step + 1) / c.warmup_steps
        if c.lr_schedule == "constant":
            return 1.0
        frac = min(1.0, (step - c.warmup_steps) / max(1, c.max_steps - c.warmup_steps))
        return 1.0 - frac if c.lr_schedule == "linear" else 0.5 * (1 + math.cos(math.pi * frac))

    def _load_problems(self) -> list[Problem]:
        c = self.config
        problems = load_problems(c.dataset, split=c.split, names=c.names, limit=c.limit)
        if not problems:
            raise ConfigError(f"--dataset {c.dataset}: no problems (check --split / --names)")
        return problems

    # -- data order: a function of the step, so a resumed run sees the same problems -----------------

    def problems_for(self, step: int) -> list[Problem]:
        c, acc = self.config, self.accelerator
        per_step = c.prompts_per_step * acc.num_processes
        epoch, offset = divmod(step * per_step, len(self.problems))
        order = list(range(len(self.problems)))
        random.Random(c.seed + epoch).shuffle(order)
        start = offset + acc.process_index * c.prompts_per_step
        return [self.problems[order[(start + i) % len(order)]] for i in range(c.prompts_per_step)]

    # -- the loop -------------------------------------------------------------------------------

    def train(self) -> Path:
        c, acc = self.config, self.accelerator
        self._maybe_resume()
        jobs = c.verifier_jobs or max(1, (os.cpu_count() or 1) // acc.num_processes)
        vconf = VerifierConfig(backend=c.verifier_backend, jobs=jobs, timeout=c.verifier_timeout, lean=c.lean)
        with Verifier(vconf) as verifier:
            engine = self._engine(verifier)
            try:
                while self.step < c.max_steps:
                    metrics = self.train_step(engine)
                    self.step += 1
                    if self.step % c.log_every == 0 or self.step == c.max_steps:
                        self.metrics.log(self.step, metrics)
                    if self.step % c.save_every == 0 or self.step == c.max_steps:
                        self.save_checkpoint()
            finally:
                engine.close()
                self.metrics.close()
        return self.save_final()

    def _engine(self, verifier: Verifier) -> RolloutEngine:
        c = self.config
        critic = None
        if c.critic is not None and c.feedback in ("llm", "both"):
            from leanfd.feedback.cache import FeedbackCache
            from leanfd.lean.toolchain import cache_dir
            from leanfd.models import load_backend

            opts = {"base_url": c.critic_base_url} if c.critic in ("openai", "anthropic") else {}
            critic = LLMCritic(load_backend(c.critic, c.critic_model, **opts),
                               cache=FeedbackCache(cache_dir() / "feedback.sqlite"))
        if c.rollout_backend == "vllm":
            policy = self._vllm = self._colocated_vllm()
        else:
            policy = HFBackend(self.accelerator.unwrap_model(self.model), self.tokenizer)
        self._encode = policy.encode_prompt
        stop = ("```",) if c.prompt_style == "completion" else ()
        sampling = SamplingConfig(n=c.group_size, temperature=c.temperature, top_p=c.top_p,
                                  max_tokens=c.max_new_tokens, stop=stop)
        return RolloutEngine(policy, verifier, PromptBuilder(style=c.prompt_style), sampling,
                             FeedbackConfig(content=c.feedback, which=c.feedback_on, sibling=c.sibling),
                             critic=critic, gen_chunks=c.gen_chunks, turns=c.turns, format_reward=c.format_reward,
                             need_feedback=c.method != "grpo")

    def _colocated_vllm(self) -> VLLMBackend:
        """One vLLM engine per process on its own GPU, built from the model on disk; its weights are
        replaced by the policy's before every step's sampling (`_sync_rollout_weights`)."""
        from accelerate.utils import DistributedType

        c, acc = self.config, self.accelerator
        if acc.device.type != "cuda":
            raise ConfigError("--rollout-backend vllm needs a CUDA GPU on every process; use --rollout-backend hf")
        if acc.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED):
            raise ConfigError("--rollout-backend vllm sends whole weights after each step and does not gather "
                              "FSDP/DeepSpeed shards: use DDP (LoRA keeps a large model's optimizer small)")
        model = acc.unwrap_model(self.model)
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        return colocated_engine(base.config._name_or_path, rank=acc.process_index, local_rank=acc.local_process_index,
                                world_size=acc.num_processes,
                                gpu_memory_utilization=c.vllm_gpu_memory_utilization,
                                max_model_len=c.vllm_max_model_len, dtype="bfloat16" if c.bf16 else "auto",
                                seed=c.seed + acc.process_index)

    def _sync_rollout_weights(self) -> float:
        """Give the colocated engine the policy's current weights (merged LoRA); seconds spent."""
        if self._vllm is None:
            return 0.0
        t = time.monotonic()
        dtype = torch.bfloat16 if self.config.bf16 else None
        self._vllm.load_weights(iter_policy_weights(self.accelerator.unwrap_model(self.model), dtype))
        return time.monotonic() - t

    def train_step(self, engine: RolloutEngine) -> dict[str, float]:
        c, acc = self.config, self.accelerator
        method = c.method_at(self.step)
        engine.need_feedback = method == "fd"
        # 1-3. sample, verify, feedback
        seed = c.seed * 1_000_003 + self.step * 7919 + acc.process_index
        sync_time = self._sync_rollout_weights()  # the weights of the last update (or of a resumed run)
        rollouts, times = engine.collect(self.problems_for(self.step), seed)
        # 4-5. score and loss
        t = time.monotonic()
        self.model.train()
        loss_sum, parts = (self._fd_backward if method == "fd" else self._grpo_backward)(rollouts)
        # 6. step
        grad_norm = acc.clip_grad_norm_(self.model.parameters(), c.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.teacher is not None and c.teacher == "ema":
            ema_update(self.teacher, acc.unwrap_model(self.model), c.ema_rate)
        train_time = time.monotonic() - t
        # 7. metrics, averaged over processes
        lengths = [len(r.completion_ids) for r in rollouts]
        local = {
            "loss": loss_sum,
            "reward": sum(r.reward for r in rollouts) / len(rollouts),
            "pass_rate": sum(r.proved for r in rollouts) / len(rollouts),
            "response_length": sum(lengths) / len(lengths),
            "prompt_length": sum(len(r.prompt_ids) for r in rollouts) / len(rollouts),
            "samples": float(len(rollouts)),  # more than prompts x group when failed attempts are revised
            "grad_norm": float(grad_norm) if grad_norm is not None else 0.0,
            "lr": self.scheduler.get_last_lr()[0],
            "time_sync": sync_time,
            "time_generate": times.generate,
            "time_verify": times.verify,
            "verified_early": times.verified_early / len(rollouts),  # share sent to Lean mid-generation
            "time_feedback": times.feedback,
            "time_train": train_time,
            **parts,
        }
        reduced = {k: float(v) for k, v in zip(local, acc.reduce(
            torch.tensor(list(local.values()), dtype=torch.float64, device=acc.device), reduction="mean").tolist())}
        tokens = acc.reduce(torch.tensor(float(times.generated_tokens), device=acc.device), reduction="sum")
        reduced["tokens_per_s"] = float(tokens) / max(times.generate, 1e-9)
        reduced["method"] = method  # type: ignore[assignment]
        return reduced

    def _micro_batches(self, items: list) -> list[list]:
        size = self.config.micro_batch
        return [items[i : i + size] for i in range(0, len(items), size)] or [[]]

    def _backward_all(self, batches: list[list], loss_of) -> float:
        """Backward every micro-batch, syncing gradients across processes only on the last one."""
        total = 0.0
        for k, mb in enumerate(batches):
            ctx = self.accelerator.no_sync(self.model) if k < len(batches) - 1 else contextlib.nullcontext()
            with ctx:
                loss = loss_of(mb) / len(batches)
                self.accelerator.backward(loss)
            total += float(loss.detach())
        return total

    def _fd_backward(self, rollouts: list[Rollout]) -> tuple[float, dict[str, float]]:
        """FD (Narozniak et al. 2026): the student matches the EMA teacher that sees feedback, token by token."""
        c = self.config
        distilled = [r for r in rollouts if r.feedback is not None and r.completion_ids]
        # A process with nothing to distil still runs one pass with an empty mask (zero loss, zero
        # gradient), so every process takes part in DDP's all-reduce.
        batch = distilled or [r for r in rollouts if r.completion_ids][:1] or rollouts[:1]
        assert self.teacher is not None
        encode = self._encode
        stats: dict[str, float] = {"fd_divergence": 0.0, "entropy": 0.0, "teacher_entropy": 0.0,
                                   "clip_fraction": 0.0, "distilled": float(len(distilled))}

        def loss_of(mb: list[Rollout]) -> torch.Tensor:
            comps = [r.completion_ids or [self.pad_id] for r in mb]
            s_logits, tokens, mask = completion_logits(self.model, [r.prompt_ids for r in mb], comps, self.pad_id)
            # The teacher is not wrapped by accelerate: without this its forward ran in fp32 under
            # --bf16 (measured on an H200, 0.5B: FD's train time 4x GRPO's).
            with torch.no_grad(), self.accelerator.autocast():
                t_prompts = [encode(teacher_prompt(r.prompt, r.feedback or "")) for r in mb]
                t_logits, _, _ = completion_logits(self.teacher, t_prompts, comps, self.pad_id)
            old = pad_list([r.old_logprobs for r in mb], tokens.shape[1], tokens.device) if c.temperature == 1 else None
            loss, m = fd_loss(s_logits, t_logits, tokens, mask if distilled else torch.zeros_like(mask),
                              divergence=c.divergence, beta=c.jsd_beta,
                              support="teacher_topk" if c.topk > 0 else "full", top_k=max(c.topk, 1),
                              old_logprobs=old, clip=c.importance_clip)
            share = len(mb) / len(batch)
            stats["fd_divergence"] += float(m["divergence"]) * share
            stats["entropy"] += float(m["student_entropy"]) * share
            stats["teacher_entropy"] += float(m["teacher_entropy"]) * share
            stats["clip_fraction"] += float(m["clip_fraction"]) * share
            return loss

        total = self._backward_all(self._micro_batches(batch), loss_of)
        return total, stats

    def _grpo_backward(self, rollouts: list[Rollout]) -> tuple[float, dict[str, float]]:
        """GRPO (DeepSeekMath; DeepSeek-Prover-V1.5 RL): group-normalised rewards, clipped ratio."""
        c = self.config
        # An episode (an attempt and its revisions) earns its best reward; every turn of it shares the
        # episode's group-normalised advantage. With one turn this is plain GRPO.
        first_turn = [r for r in rollouts if r.turn == 0]
        episode_reward = {id(r): r.reward for r in first_turn}
        for r in rollouts:
            episode_reward[id(r.root)] = max(episode_reward[id(r.root)], r.reward)
        rewards = torch.tensor([episode_reward[id(r)] for r in first_turn], dtype=torch.float32)
        adv = group_advantages(rewards, c.group_size, scale_std=c.scale_std)
        root_adv = {id(r): float(a) for r, a in zip(first_turn, adv)}
        advantages = {id(r): root_adv[id(r.root)] for r in rollouts}
        batch = [r for r in rollouts if r.completion_ids] or rollouts[:1]
        max_len = max((len(r.completion_ids) for r in batch), default=1)
        stats = {"kl": 0.0, "clip_fraction": 0.0, "entropy": 0.0, "advantage_abs": float(adv.abs().mean())}

        def loss_of(mb: list[Rollout]) -> torch.Tensor:
            comps = [r.completion_ids or [self.pad_id] for r in mb]
            logits, tokens, mask = completion_logits(self.model, [r.prompt_ids for r in mb], comps, self.pad_id)
            logp = token_logprobs(logits, tokens)
            old = pad_list([r.old_logprobs for r in mb], tokens.shape[1], tokens.device)
            ref = None
            if self.reference is not None:
                with torch.no_grad(), self.accelerator.autocast():
                    ref_logits, _, _ = completion_logits(self.reference, [r.prompt_ids for r in mb], comps, self.pad_id)
                    ref = token_logprobs(ref_logits, tokens)
            a = torch.tensor([advantages[id(r)] for r in mb], dtype=torch.float32, device=tokens.device)
            loss, m = grpo_loss(logp, old, a, mask, eps_low=c.eps_low, eps_high=c.eps_high, ref_logprobs=ref,
                                beta=c.kl_beta, aggregation=c.aggregation, max_tokens=max_len)
            share = len(mb) / len(batch)
            stats["kl"] += float(m.get("kl", 0.0)) * share
            stats["clip_fraction"] += float(m["clip_fraction"]) * share
            stats["entropy"] += mean_entropy(logits, mask) * share
            return loss

        total = self._backward_all(self._micro_batches(batch), loss_of)
        return total, stats

    # -- checkpoints ----------------------------------------------------------------------------

    def checkpoints(self) -> list[Path]:
        return sorted(self.out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))

    def save_checkpoint(self) -> Path:
        acc = self.accelerator
        path = self.out / f"checkpoint-{self.step}"
        acc.wait_for_everyone()
        acc.save_state(str(path))
        if acc.is_main_process:
            state = {"step": self.step, "method": self.config.method, "config": dataclasses.asdict(self.config)}
            (path / STATE_FILE).write_text(json.dumps(state, indent=1))
            (self.out / "config.yaml").write_text(to_yaml(self.config))
            for old in self.checkpoints()[: -self.config.keep_checkpoints]:
                shutil.rmtree(old, ignore_errors=True)
        acc.wait_for_everyone()
        return path

    def _maybe_resume(self) -> None:
        if not self.config.resume:
            return
        done = [p for p in self.checkpoints() if (p / STATE_FILE).is_file()]
        if not done:
            return
        last = done[-1]
        self.accelerator.load_state(str(last))
        self.step = json.loads((last / STATE_FILE).read_text())["step"]
        log.info("resumed from %s at step %d", last, self.step)

    def weights_checksum(self) -> str:
        """A hash of this process' trained weights: every process must hold the same ones."""
        h = hashlib.sha256()
        for name, p in sorted(self.accelerator.unwrap_model(self.model).named_parameters()):
            h.update(name.encode())
            h.update(p.detach().to(torch.float32).cpu().numpy().tobytes())
        return h.hexdigest()

    def save_final(self) -> Path:
        """`output_dir/final`: a plain transformers model (LoRA merged) for `prove` and `--init-from`,
        with `leanfd_train.json` recording each process' weight checksum (they must agree)."""
        from accelerate.utils import gather_object

        acc = self.accelerator
        final = self.out / "final"
        acc.wait_for_everyone()
        checksums = gather_object([self.weights_checksum()])
        if len(set(checksums)) > 1:
            log.error("processes hold different weights after training: %s", checksums)
        if acc.is_main_process:
            final.mkdir(parents=True, exist_ok=True)
            info = {"steps": self.step, "method": self.config.method, "processes": acc.num_processes,
                    "rank_checksums": checksums, "ranks_in_sync": len(set(checksums)) == 1}
            (final / "leanfd_train.json").write_text(json.dumps(info, indent=1))
            model = acc.unwrap_model(self.model)
            if hasattr(model, "merge_and_unload"):
                model = copy.deepcopy(model).merge_and_unload()
            model.save_pretrained(str(final))
            self.tokenizer.save_pretrained(str(final))
        acc.wait_for_everyone()
        return final

