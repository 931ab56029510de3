"""One rank of the 2-process FSDP2 runs tests/test_sharding.py launches (gloo, CPU).

`python -m torch.distributed.run --nproc_per_node 2 tests/sharding_worker.py PHASE MODEL_DIR OUT_DIR`
(or `accelerate launch`). Each rank writes `OUT_DIR/PHASE-rank{r}.json` with what it measured; the
test asserts on those. Phases:
  core   FSDP2 against DDP, memory, EMA, gathered weights, lm_head outside the forward, synced
         generation, a bf16 run with a bf16-computed teacher and a bf16 reference
  save   4 steps straight (full fine-tuning and LoRA), a DCP checkpoint after step 2, `save_full`
  resume fresh processes load the step-2 checkpoints and run steps 3-4
"""

from __future__ import annotations

import copy
import json
import math
import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

from leanfd.train import ema, sharding, weight_sync
from leanfd.train.sharded_checkpoints import load_sharded, save_sharded
from leanfd.train.weight_sync import iter_policy_weights

STEPS, SAVE_AT, EMA_RATE, LR = 4, 2, 0.3, 3e-3


def rank() -> int:
    return dist.get_rank()


def sharded_copy(model, *, compute_dtype=None, store_dtype=None):
    """A frozen copy of the unsharded `model`, its shards stored in `store_dtype`, gathered and computed
    in `compute_dtype`, sharded as the policy is (how setup.py builds a teacher or a reference)."""
    return sharding.shard_model(sharding.frozen_copy(model, store_dtype), param_dtype=compute_dtype)


def load(model_dir: str, **config_overrides):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, **config_overrides)


def untied(model_dir: str):
    """The tiny model's architecture with `lm_head` its own weight (seeded alike on every rank)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(model_dir)
    config.tie_word_embeddings = False
    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    assert model.lm_head.weight.data_ptr() != model.model.embed_tokens.weight.data_ptr()
    return model


def token_loss(model, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean next-token NLL over the masked positions (0 for an empty mask, with a full graph)."""
    logits = model(input_ids=ids).logits[:, :-1].float()  # (B, T-1, V)
    nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none")
    m = mask[:, 1:].float()
    return (nll.view_as(m) * m).sum() / m.sum().clamp(min=1)


def batches(step: int, vocab: int, generator: torch.Generator | None = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """This rank's micro-batches for `step`: rank 0 has two, rank 1 one (it pads to the agreed count)."""
    g = generator or torch.Generator().manual_seed(1000 * step + rank())
    count = 2 if rank() == 0 else 1
    return [(torch.randint(0, vocab, (2, 7), generator=g), torch.ones(2, 7, dtype=torch.long)) for _ in range(count)]


EMPTY = (torch.zeros(1, 2, dtype=torch.long), torch.zeros(1, 2, dtype=torch.long))


def train_step(model, optimizer, mbs, *, scheduler=None, teacher=None) -> dict:
    """One optimizer step over the agreed number of micro-batches, syncing gradients on the last."""
    n = sharding.agree_count(len(mbs))
    mbs = mbs + [EMPTY] * (n - len(mbs))
    total, reduced_early = 0.0, False
    for k, (ids, mask) in enumerate(mbs):
        if teacher is not None:  # a sharded teacher's forward is a collective too: once per micro-batch
            with torch.no_grad():
                teacher(input_ids=ids)
        with sharding.gradient_sync(model, enabled=k == n - 1):
            loss = token_loss(model, ids, mask) / n
            loss.backward()
        if k < n - 1:  # FSDP2 keeps unsynced gradients unsharded, off the parameters' .grad
            reduced_early |= any(p.grad is not None for p in model.parameters())
        total += float(loss.detach())
    norm = sharding.clip_grad_norm(model.parameters(), 1.0)
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return {"loss": total, "grad_norm": norm, "reduced_early": reduced_early}


def full_weights(model) -> dict[str, torch.Tensor]:
    return {n: t.clone() for n, t in iter_policy_weights(model)}


def max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert set(a) == set(b), set(a) ^ set(b)
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


def into_fresh(model_dir: str, weights: dict[str, torch.Tensor], model=None):
    fresh = model if model is not None else load(model_dir)
    params = dict(fresh.named_parameters())
    assert set(params) == set(weights), set(params) ^ set(weights)
    with torch.no_grad():
        for n, t in weights.items():
            params[n].copy_(t)
    return fresh


def logits(model, ids) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids).logits.float()


# -- core --------------------------------------------------------------------------------------


def ddp_against_fsdp(model_dir: str) -> dict:
    from torch.nn.parallel import DistributedDataParallel

    base = load(model_dir)
    base.gradient_checkpointing_enable()  # FSDP2 units inside HF's checkpointed layers, recomputed in backward
    base.train()  # (HF checkpoints only in training mode; the tiny model has no dropout)
    plain_teacher = sharding.frozen_copy(base)
    teacher = sharding.shard_model(sharding.frozen_copy(base))
    ddp = DistributedDataParallel(copy.deepcopy(base))
    fsdp = sharding.shard_model(copy.deepcopy(base))
    opt_ddp = torch.optim.AdamW(ddp.parameters(), lr=LR)
    opt_fsdp = torch.optim.AdamW(fsdp.parameters(), lr=LR)
    vocab = base.config.vocab_size
    out: dict = {"ddp": [], "fsdp": []}
    for step in range(3):
        mbs = batches(step, vocab)
        out["ddp"].append(train_step(ddp, opt_ddp, mbs))
        out["fsdp"].append(train_step(fsdp, opt_fsdp, mbs, teacher=teacher))
        ema.ema_update(teacher, fsdp, EMA_RATE)
        gathered = full_weights(fsdp)
        with torch.no_grad():  # the unsharded EMA, on the gathered student weights
            for n, p in plain_teacher.named_parameters():
                p.lerp_(gathered[n], EMA_RATE)
    # gradients are gone after the steps; one more backward (without a step) to count their bytes
    token_loss(fsdp, *batches(9, vocab)[0]).backward()
    token_loss(ddp, *batches(9, vocab)[0]).backward()
    out["bytes_fsdp"] = sharding.local_bytes(fsdp, opt_fsdp)
    out["bytes_ddp"] = sharding.local_bytes(ddp, opt_ddp)
    out["bytes_teacher"] = sharding.local_bytes(teacher)
    fsdp_w, ddp_w = full_weights(fsdp), full_weights(ddp.module)
    out["weights_diff"] = max_diff(fsdp_w, ddp_w)
    out["weights_moved"] = max_diff(fsdp_w, full_weights(base))
    teacher_w = full_weights(teacher)
    out["teacher_vs_unsharded_ema"] = max_diff(teacher_w, full_weights(plain_teacher))
    out["teacher_vs_student"] = max_diff(teacher_w, fsdp_w)
    out["checksum"] = weight_sync.weights_checksum(fsdp)
    # the gathered weights in a fresh plain model give the sharded model's logits
    ids = torch.randint(0, vocab, (2, 9), generator=torch.Generator().manual_seed(5))
    out["export_logits_diff"] = float((logits(into_fresh(model_dir, fsdp_w), ids) - logits(fsdp, ids)).abs().max())
    out["export_vs_start_logits_diff"] = float((logits(load(model_dir), ids) - logits(fsdp, ids)).abs().max())
    return out


def chunked_loss(model, ids: torch.Tensor, chunk: int = 3) -> torch.Tensor:
    """The later trainer's chunked loss: hidden states from the root forward, then `lm_head` called
    as a module per chunk, outside the forward, recomputed in backward by activation checkpointing."""
    from torch.utils.checkpoint import checkpoint

    out = model(input_ids=ids, output_hidden_states=True, logits_to_keep=1)
    hidden = out.hidden_states[-1][:, :-1]  # (B, T-1, H), after the final norm
    targets = ids[:, 1:]
    head = sharding.base_model(model).lm_head

    def piece(h, t):
        lg = head(h).float()  # (B, c, V)
        return F.cross_entropy(lg.reshape(-1, lg.shape[-1]), t.reshape(-1), reduction="sum")

    total = sum(checkpoint(piece, h, t, use_reentrant=False)
                for h, t in zip(hidden.split(chunk, dim=1), targets.split(chunk, dim=1)))
    # the last position's logits from the forward itself equal lm_head on the last hidden state
    head_last = head(out.hidden_states[-1][:, -1:]).float()
    return total / targets.numel(), float((head_last - out.logits[:, -1:].float()).abs().max())


def lm_head_outside_forward(model_dir: str, tied: bool, bf16: bool) -> dict:
    base = load(model_dir) if tied else untied(model_dir)
    assert (base.lm_head.weight is base.model.embed_tokens.weight) == tied
    plain = copy.deepcopy(base)
    base.gradient_checkpointing_enable()
    base.train()
    fsdp = sharding.shard_model(copy.deepcopy(base), param_dtype=torch.bfloat16 if bf16 else None)
    g = torch.Generator().manual_seed(77)  # the same data on both ranks: the averaged gradient is the local one
    data = [torch.randint(0, base.config.vocab_size, (2, 8), generator=g) for _ in range(2)]
    last_diffs = []
    for k, ids in enumerate(data):
        (token_loss(plain, ids, torch.ones_like(ids)) / len(data)).backward()
        with sharding.gradient_sync(fsdp, enabled=k == len(data) - 1):
            loss, last = chunked_loss(fsdp, ids)
            (loss / len(data)).backward()
        last_diffs.append(last)
    plain_grads = {n: p.grad for n, p in plain.named_parameters()}
    fsdp_grads = {n: p.grad.full_tensor() for n, p in fsdp.named_parameters()}
    return {"tied": tied, "bf16": bf16, "grad_dtypes": sorted({str(g.dtype) for g in fsdp_grads.values()}),
            "grad_diff": max_diff(fsdp_grads, plain_grads),
            "grad_scale": max(float(g.abs().max()) for g in plain_grads.values()),
            "last_logit_diff": max(last_diffs), "n_grads": len(fsdp_grads)}


def synced_generation(model_dir: str) -> dict:
    from transformers import AutoTokenizer

    from leanfd.models.base import SamplingConfig
    from leanfd.models.hf import HFBackend

    tok = AutoTokenizer.from_pretrained(model_dir)
    base = load(model_dir)
    plain = copy.deepcopy(base)
    fsdp = sharding.shard_model(copy.deepcopy(base))
    # different prompt counts, prompt lengths and lengths to generate on the two ranks
    prompts = ["theorem a : 1 + 1 = 2 := by", "lemma b (x : ℕ) : x = x :=", "example : True :="] if rank() == 0 \
        else ["theorem c (a b : ℕ) (h : a ≤ b) : a ≤ b + 1 := by"]
    sampling = SamplingConfig(temperature=0.0, max_tokens=16 if rank() == 0 else 3)
    sharded_out = HFBackend(fsdp, tok, synced_gpus=True).generate(prompts, sampling)
    plain_out = HFBackend(plain, tok).generate(prompts, sampling)
    # after generating (no-grad forwards), the sharded model still trains
    opt = torch.optim.AdamW(fsdp.parameters(), lr=LR)
    after = train_step(fsdp, opt, batches(0, base.config.vocab_size))
    return {"sharded": [[c.token_ids for c in cs] for cs in sharded_out],
            "plain": [[c.token_ids for c in cs] for cs in plain_out],
            "loss_after": after["loss"]}


def bf16_run(model_dir: str) -> dict:
    base = load(model_dir)
    teacher = sharded_copy(base, compute_dtype=torch.bfloat16)  # EMA: fp32 shards, bf16 forward
    reference = sharded_copy(base, compute_dtype=torch.bfloat16, store_dtype=torch.bfloat16)
    fsdp = sharding.shard_model(copy.deepcopy(base), param_dtype=torch.bfloat16)
    opt = torch.optim.AdamW(fsdp.parameters(), lr=LR)
    losses = []
    ids = torch.randint(0, base.config.vocab_size, (2, 7), generator=torch.Generator().manual_seed(3))
    for step in range(2):
        losses.append(train_step(fsdp, opt, batches(step, base.config.vocab_size), teacher=teacher)["loss"])
        ema.ema_update(teacher, fsdp, EMA_RATE)
        with torch.no_grad():
            ref_logits = reference(input_ids=ids).logits
            t_logits = teacher(input_ids=ids).logits
    for m in (teacher, reference):
        sharding.reshard(m)  # a no-grad forward leaves the root gathered
    return {"losses": losses,
            "student_shard_dtypes": sorted({str(p.to_local().dtype) for p in fsdp.parameters()}),
            "teacher_shard_dtypes": sorted({str(p.to_local().dtype) for p in teacher.parameters()}),
            "reference_shard_dtypes": sorted({str(p.to_local().dtype) for p in reference.parameters()}),
            "teacher_logits_dtype": str(t_logits.dtype), "reference_logits_dtype": str(ref_logits.dtype),
            "teacher_moved": max_diff(full_weights(teacher), full_weights(base)),
            "finite": all(math.isfinite(x) for x in losses) and bool(torch.isfinite(ref_logits).all())}


def different_weights_refused(model_dir: str) -> str:
    base = load(model_dir)
    if rank() == 1:
        with torch.no_grad():
            base.model.layers[0].mlp.up_proj.weight[0, 0] += 1e-3
    try:
        sharding.shard_model(base)
    except sharding.ShardingError as e:
        return str(e)
    return ""


def core(model_dir: str, out_dir: Path) -> dict:
    return {"refused": different_weights_refused(model_dir),"ddp_fsdp": ddp_against_fsdp(model_dir),
            "lm_head": [lm_head_outside_forward(model_dir, tied, bf16)
                        for tied, bf16 in ((True, False), (False, False), (True, True))],
            "generate": synced_generation(model_dir),
            "bf16": bf16_run(model_dir)}


# -- save / resume -----------------------------------------------------------------------------


def build(model_dir: str, lora: bool, seed: int):
    """Policy, EMA teacher, optimizer and scheduler, built in the trainer's order: model, LoRA,
    copies, shard, optimizer; then the global RNG seeded with `seed`."""
    base = load(model_dir)
    if lora:
        from peft import LoraConfig, get_peft_model

        torch.manual_seed(0)  # LoRA's A alike on every rank
        base = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM"))
    torch.manual_seed(seed)
    teacher = sharding.shard_model(sharding.frozen_copy(base))
    model = sharding.shard_model(base)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=LR)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0 / (1 + s))  # its state matters
    return model, teacher, optimizer, scheduler


def run_steps(model, teacher, optimizer, scheduler, steps, on_step=None) -> list[dict]:
    vocab = sharding.base_model(model).config.vocab_size
    records = []
    for step in steps:
        # data drawn from the global RNG: a resume must restore it to draw the same
        seed = int(torch.randint(0, 2**31 - 1, ()).item())
        records.append({"step": step, "seed": seed, "lr": scheduler.get_last_lr()[0],
                        **train_step(model, optimizer, batches(step, vocab, torch.Generator().manual_seed(seed)),
                                     scheduler=scheduler)})
        ema.ema_update(teacher, model, EMA_RATE)
        if on_step:
            on_step(step)
    return records


def checksums(model, teacher) -> dict:
    return {"model": weight_sync.weights_checksum(model), "teacher": weight_sync.weights_checksum(teacher)}


def save(model_dir: str, out_dir: Path) -> dict:
    out = {}
    for kind in ("full", "lora"):
        model, teacher, optimizer, scheduler = build(model_dir, kind == "lora", seed=123 + rank())

        def on_step(step, kind=kind, model=model, teacher=teacher, optimizer=optimizer, scheduler=scheduler):
            if step + 1 == SAVE_AT:
                save_sharded(out_dir / f"ckpt-{kind}", model, optimizer, teacher=teacher, scheduler=scheduler)

        records = run_steps(model, teacher, optimizer, scheduler, range(STEPS), on_step)
        ids = torch.randint(0, 300, (2, 9), generator=torch.Generator().manual_seed(8))
        entry = {"records": records, **checksums(model, teacher), "ids": ids.tolist(),
                 "logits": logits(model, ids).tolist(),
                 "export_logits_diff": float((logits(into_fresh(model_dir, full_weights(model)), ids)
                                              - logits(model, ids)).abs().max()),
                 "vs_start_logits_diff": float((logits(load(model_dir), ids) - logits(model, ids)).abs().max()),
                 "bytes": sharding.local_bytes(model, optimizer)}
        weight_sync.save_full(model, out_dir / f"final-{kind}")
        out[kind] = entry
    return out


def resume(model_dir: str, out_dir: Path) -> dict:
    out = {}
    for kind in ("full", "lora"):
        # seeded unlike the saving run: the checkpoint must restore each rank's RNG
        model, teacher, optimizer, scheduler = build(model_dir, kind == "lora", seed=999)
        load_sharded(out_dir / f"ckpt-{kind}", model, optimizer, teacher=teacher, scheduler=scheduler)
        records = run_steps(model, teacher, optimizer, scheduler, range(SAVE_AT, STEPS))
        out[kind] = {"records": records, **checksums(model, teacher)}
    return out


def main() -> None:
    phase, model_dir, out_dir = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    dist.init_process_group("gloo")
    torch.use_deterministic_algorithms(True)
    result = {"core": core, "save": save, "resume": resume}[phase](model_dir, out_dir)
    result["world_size"] = dist.get_world_size()
    (out_dir / f"{phase}-rank{rank()}.json").write_text(json.dumps(result))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
