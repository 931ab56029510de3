"""The training loop: sample, verify, reward, feedback, loss, step, log. Read `train_step` top to bottom.

One loop serves FD, GRPO and FD then GRPO. Multi-GPU and multi-node come from `accelerate launch`
(or torchrun): each process samples and verifies its own share of problems; under DDP gradients
are all-reduced and every process keeps an identical EMA teacher because it applies the same
update to identical weights; under FSDP2 (`--sharding fsdp2`) each process holds a shard of the
policy, of the teacher and of the reference, and the EMA update is shard-local.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import time
from pathlib import Path

import torch

from leanfd.config import ConfigError
from leanfd.data.benchmarks import Problem, load_problems
from leanfd.data.prompts import PromptBuilder
from leanfd.feedback.compiler import RenderOptions
from leanfd.feedback.critic import FeedbackConfig, LLMCritic
from leanfd.lean.verifier import Verifier
from leanfd.models.base import SamplingConfig, encode_with_tokenizer
from leanfd.models.hf import HFBackend
from leanfd.models.vllm_backend import VLLMBackend, colocated_engine, import_vllm
from leanfd.train import checkpoints
from leanfd.train.attempts import StepBatch
from leanfd.train.config import TrainConfig
from leanfd.train.ema import ema_update
from leanfd.train.forward import verify_head
from leanfd.train.metrics import MetricsLogger
from leanfd.train.objectives import Models, fd_backward, grpo_backward
from leanfd.train.reward import step_rewards
from leanfd.train.rollout import RolloutEngine
from leanfd.train.setup import build
from leanfd.train.sharding import agree_count
from leanfd.train.teacher_advantage import TeacherAdvantage, log_advantage
from leanfd.train.teacher_advantage import measure as measure_advantage
from leanfd.train.teacher_feedback import TeacherFeedback, teacher_prompt_ids
from leanfd.train.weight_sync import iter_policy_weights

log = logging.getLogger(__name__)


class Trainer:
    def __init__(self, config: TrainConfig):
        from accelerate import Accelerator
        from accelerate.utils import set_seed

        self.config = c = config
        if c.rollout.backend == "vllm":
            import_vllm()  # "not installed: pip install 'leanfd[vllm]'" before a model is loaded
        fsdp = c.optim.sharding == "fsdp2"
        self.accelerator = Accelerator(mixed_precision="bf16" if c.optim.bf16 and not fsdp else "no")
        self.out = Path(c.output_dir)
        set_seed(c.seed)
        self.problems = self._load_problems()
        checkpoints.check_resumable(c, self.out)
        self.built = b = build(c, self.accelerator)  # the memory plan is checked before a model is loaded
        self.tokenizer, self.parallel = b.tokenizer, b.parallel
        self.optimizer, self.scheduler = b.optimizer, b.scheduler
        self.models = Models(policy=b.policy, teacher=b.teacher, reference=b.reference, pad_id=b.pad_id,
                             encode=lambda prompt: encode_with_tokenizer(self.tokenizer, prompt, self._model_name))
        self.step = 0
        self._first_step = 0  # this process's first step (a resumed run's is not 0)
        self._teacher_backend: HFBackend | None = None  # the FD teacher as a sampler, made when first measured
        self._vllm: VLLMBackend | None = None
        self.metrics = MetricsLogger(self.out, enabled=self.accelerator.is_main_process,
                                     live=c.log.live, tensorboard=c.log.tensorboard, total_steps=c.max_steps)

    @property
    def _model_name(self) -> str:
        return self.config.init_from or self.config.model

    def _load_problems(self) -> list[Problem]:
        c = self.config
        problems = load_problems(c.dataset, split=c.split, names=c.names, limit=c.limit)
        if not problems:
            raise ConfigError(f"--dataset {c.dataset}: no problems (check --split / --names)")
        return problems

    # -- data order: a function of the step, so a resumed run sees the same problems -----------------

    def problems_for(self, step: int) -> list[Problem]:
        c, acc = self.config, self.accelerator
        n = c.rollout.prompts_per_step
        epoch, offset = divmod(step * n * acc.num_processes, len(self.problems))
        order = list(range(len(self.problems)))
        random.Random(c.seed + epoch).shuffle(order)
        start = offset + acc.process_index * n
        return [self.problems[order[(start + i) % len(order)]] for i in range(n)]

    # -- the loop -------------------------------------------------------------------------------

    def train(self) -> Path:
        c, acc = self.config, self.accelerator
        self._maybe_resume()
        self._first_step = self.step
        self._check_heads()
        jobs = c.verifier.jobs or max(1, (os.cpu_count() or 1) // acc.num_processes)
        with Verifier(dataclasses.replace(c.verifier, jobs=jobs)) as verifier:
            engine, feedback = self._engine(verifier), self._teacher_feedback()
            try:
                while self.step < c.max_steps:
                    metrics = self.train_step(engine, feedback)
                    self.step += 1
                    if self.step % c.log.log_every == 0 or self.step == c.max_steps:
                        self.metrics.log(self.step, metrics)
                    if self.step % c.log.save_every == 0 or self.step == c.max_steps:
                        self.save_checkpoint()
            finally:
                feedback.close()
                self.metrics.close()
        return self.save_final()

    def train_step(self, engine: RolloutEngine, feedback: TeacherFeedback) -> dict[str, float]:
        c, acc = self.config, self.accelerator
        method = c.method_at(self.step)
        # 1-2. sample with the weights of the last update, and verify each attempt as it ends
        sync_time = self._sync_rollout_weights()
        seed = c.seed * 1_000_003 + self.step * 7919 + acc.process_index
        attempts, times = engine.collect(self.problems_for(self.step), seed)
        # 3. reward  4. the teacher's privileged feedback and its prompt (FD steps only)
        rewards = step_rewards(attempts, c.grpo.format_reward)
        t = time.monotonic()
        texts = feedback(attempts) if method == "fd" else (None,) * len(attempts)
        prompts = teacher_prompt_ids(attempts, texts, self.models.encode) if method == "fd" else None
        feedback_time = time.monotonic() - t
        advantage = self._teacher_advantage(attempts, texts, engine) if method == "fd" else None
        batch = StepBatch(attempts, rewards, texts, prompts)
        # 5. loss and gradients
        t = time.monotonic()
        self.models.policy.train()
        common = dict(temperature=c.rollout.temperature, micro_batch=c.optim.micro_batch,
                      loss_chunk=c.optim.loss_chunk, parallel=self.parallel)
        if method == "fd":
            loss, parts = fd_backward(batch, self.models, c.fd, **common)
        else:
            loss, parts = grpo_backward(batch, self.models, c.grpo, group_size=c.rollout.group_size,
                                        budget=c.rollout.max_new_tokens, **common)
        # 6. optimizer step, then the teacher follows the student
        grad_norm = self.parallel.clip_grad_norm(c.optim.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.models.teacher is not None and c.fd.teacher == "ema":
            # the same seed on every process: a bf16 teacher's stochastic rounding keeps DDP replicas equal
            ema_update(self.models.teacher, self.parallel.unwrapped(), c.fd.ema_rate, seed=c.seed * 7919 + self.step)
        train_time = time.monotonic() - t
        # 7. metrics, averaged over processes
        n = len(attempts)
        local = {
            "loss": loss,
            "reward": sum(rewards) / n,
            "pass_rate": sum(a.proved for a in attempts) / n,
            "response_length": sum(len(a.completion_ids) for a in attempts) / n,
            "prompt_length": sum(len(a.prompt_ids) for a in attempts) / n,
            "samples": float(n),  # more than prompts x group when failed attempts are revised
            "grad_norm": grad_norm,
            "lr": self.scheduler.get_last_lr()[0],
            "time_sync": sync_time,
            "time_generate": times.generate,
            "time_verify": times.verify,
            "verified_early": times.verified_early / n,  # share sent to Lean mid-generation
            "time_feedback": feedback_time,
            "time_train": train_time,
            **parts,
        }
        reduced = {k: float(v) for k, v in zip(local, acc.reduce(
            torch.tensor(list(local.values()), dtype=torch.float64, device=acc.device), reduction="mean").tolist())}
        tokens = acc.reduce(torch.tensor(float(times.generated_tokens), device=acc.device), reduction="sum")
        reduced["tokens_per_s"] = float(tokens) / max(times.generate, 1e-9)
        reduced["method"] = method  # type: ignore[assignment]
        if advantage is not None:  # counts summed over processes, then the rates
            counts = acc.reduce(torch.tensor([advantage.attempts, advantage.teacher_proved, advantage.student_rate_sum],
                                             dtype=torch.float64, device=acc.device), reduction="sum").tolist()
            summed = TeacherAdvantage(int(counts[0]), int(counts[1]), counts[2])
            reduced.update(summed.metrics())
            log_advantage(self.step + 1, summed, acc.is_main_process)
        return reduced

    # -- the stages' parts ----------------------------------------------------------------------

    def _engine(self, verifier: Verifier) -> RolloutEngine:
        c = self.config
        if c.rollout.backend == "vllm":
            policy = self._vllm = self._colocated_vllm()
        else:
            # Log-probs at the sampling temperature, before top-p: what the losses recompute.
            # synced_gpus: under FSDP2 every process runs as many forwards
            policy = HFBackend(self.parallel.unwrapped(), self.tokenizer, logprobs_mode="tempered",
                               synced_gpus=c.optim.sharding == "fsdp2")
        stop = ("```",) if c.rollout.prompt_style == "completion" else ()
        sampling = SamplingConfig(n=c.rollout.group_size, temperature=c.rollout.temperature, top_p=c.rollout.top_p,
                                  max_tokens=c.rollout.max_new_tokens, stop=stop)
        return RolloutEngine(policy, verifier, PromptBuilder(style=c.rollout.prompt_style), sampling,
                             gen_chunks=c.rollout.gen_chunks, turns=c.rollout.turns,
                             feedback=RenderOptions(max_tokens=c.rollout.feedback_tokens))

    def _check_heads(self) -> None:
        """The LM head the losses apply (forward.py) must give each model's own logits, checked on a
        prompt of the run before the first step, a resumed one's too: a family whose logit
        post-processing leanfd does not reproduce is refused, never trained on wrong numbers. On
        every process (the check is collective under FSDP2)."""
        ids = self.models.encode(PromptBuilder(style=self.config.rollout.prompt_style).build(self.problems[0]))
        ids = ids if len(ids) >= 2 else ids * 2
        cut = max(1, len(ids) - 8)
        with self.parallel.autocast():
            for model in (self.models.policy, self.models.teacher, self.models.reference):
                if model is not None:
                    verify_head(model, [ids[:cut]], [ids[cut:]], self.models.pad_id)

    def _teacher_advantage(self, attempts, texts, engine: RolloutEngine) -> TeacherAdvantage | None:
        """The teacher sampled on this step's failed attempts, at the first FD step and every
        `--teacher-eval-every` after (the EMA teacher drifts); None at other steps."""
        every = self.config.fd.teacher_eval_every  # FD steps come first, in fd and in fd+grpo runs
        if not every or self.models.teacher is None or (self.step % every and self.step != self._first_step):
            return None
        if self._teacher_backend is None:
            sharded = self.config.optim.sharding == "fsdp2"
            self._teacher_backend = HFBackend(self.models.teacher, self.tokenizer, synced_gpus=sharded)
        sampling = dataclasses.replace(engine.sampling, seed=self.config.seed * 1_000_003 + self.step * 7919 + 17
                                       + self.accelerator.process_index)
        runs = agree_count if self.config.optim.sharding == "fsdp2" else (lambda n: n)
        return measure_advantage(attempts, texts, self._teacher_backend, engine.verifier, sampling, runs)

    def _teacher_feedback(self) -> TeacherFeedback:
        fd = self.config.fd
        critic = None
        if fd.critic is not None and fd.feedback in ("llm", "both"):
            from leanfd.feedback.cache import FeedbackCache
            from leanfd.lean.toolchain import cache_dir
            from leanfd.models import load_backend

            opts = {"base_url": fd.critic_base_url} if fd.critic in ("openai", "anthropic") else {}
            critic = LLMCritic(load_backend(fd.critic, fd.critic_model, **opts),
                               cache=FeedbackCache(cache_dir() / "feedback.sqlite"))
        return TeacherFeedback(FeedbackConfig(content=fd.feedback, which=fd.feedback_on, sibling=fd.sibling,
                                              max_tokens=self.config.rollout.feedback_tokens), critic)

    def _colocated_vllm(self) -> VLLMBackend:
        """One vLLM engine per process on its own GPU, built from the model on disk; its weights are
        replaced by the policy's before every step's sampling (`_sync_rollout_weights`)."""
        c, acc = self.config, self.accelerator
        if acc.device.type != "cuda":
            raise ConfigError("--rollout-backend vllm needs a CUDA GPU on every process; use --rollout-backend hf")
        return colocated_engine(self.built.source, rank=acc.process_index, local_rank=acc.local_process_index,
                                world_size=acc.num_processes,
                                gpu_memory_utilization=c.rollout.vllm_gpu_memory_utilization,
                                max_model_len=c.rollout.vllm_max_model_len,
                                dtype="bfloat16" if c.optim.bf16 else "auto", seed=c.seed + acc.process_index)

    def _sync_rollout_weights(self) -> float:
        """Give the colocated engine the policy's current weights (merged LoRA; FSDP2 shards gathered
        one tensor at a time); seconds spent."""
        if self._vllm is None:
            return 0.0
        t = time.monotonic()
        dtype = torch.bfloat16 if self.config.optim.bf16 else None
        self._vllm.load_weights(iter_policy_weights(self.parallel.unwrapped(), dtype))
        return time.monotonic() - t

    # -- checkpoints ----------------------------------------------------------------------------

    def _run_state(self) -> checkpoints.RunState:
        return checkpoints.RunState(self.config, self.out, self.step, self.accelerator, self.parallel, self.tokenizer)

    def save_checkpoint(self) -> Path:
        return checkpoints.save(self._run_state(), self.out / f"checkpoint-{self.step}")

    def _maybe_resume(self) -> None:
        if self.config.resume:
            self.step = checkpoints.resume(self.parallel, self.out) or 0

    def save_final(self) -> Path:
        return checkpoints.save_final(self._run_state(), self.out / "final")

