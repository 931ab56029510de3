"""Per-rank memory of a full fine-tuning step under DDP and under FSDP2 (`leanfd.train.sharding`),
on N processes (issue 11: weights + gradients + optimizer state + teacher per rank about 1/N of DDP's).

    python bench/fsdp_memory.py [--shape small|0.5b|1.5b] [--processes 1,2] [--strategies ddp,fsdp2]
                                [--teacher-dtype float32 bfloat16] [--steps 2] [--batch 2] [--seq 128]

Each (N, strategy, teacher dtype) is one `python -m torch.distributed.run --standalone
--nproc_per_node N` launch of this script (gloo on the CPU, nccl with one GPU per rank on CUDA).
Every rank builds the same Qwen2 from a config (seeded alike: random weights, no download) in fp32,
*unsharded*, as `leanfd.train.setup.build` loads it on every rank, and a frozen EMA teacher copy in
the teacher dtype (made before any sharding, as setup.py does). Then:
  ddp    torch DistributedDataParallel over the model (torch's defaults, as accelerate's), the
         teacher a plain copy on every rank;
  fsdp2  `shard_model` on the model and on the teacher (one unit per decoder layer, then the root).
AdamW on the parameters, then `--steps` steps on random tokens: a no-grad teacher forward, the
policy's forward and backward (next-token loss), clip, optimizer step, `ema_update`.

Reported per rank, after the last step's `optimizer.step()` (before zero_grad, so gradients and
optimizer state both exist): the bytes of the local parameter, gradient and optimizer-state tensors
(`sharding.local_bytes`: shards only under FSDP2) and of the teacher's local parameters; the peak
RSS of the whole process (VmHWM, everything since start: the unsharded build included) and the peak
RSS during the steps (VmHWM reset to the current RSS through /proc/self/clear_refs just before the
first step; that current RSS is reported too, as "RSS at start of steps", and the RSS before any
model is built, as "RSS, no model"); on CUDA also `torch.cuda.max_memory_allocated` before the first
step ("setup") and over the steps (reset in between). The CUDA path has not been run yet.

glibc's default (dynamic) mmap threshold keeps large freed blocks in the heap, so on the CPU the
RSS peak can hide what sharding frees; `--mmap-threshold 131072` sets MALLOC_MMAP_THRESHOLD_ in the
ranks so that RSS follows the live tensors (bench/README.md has both).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Qwen2 shapes. small: fits a CPU run; 0.5b / 1.5b: Qwen2.5-0.5B / -1.5B (tied embeddings).
SHAPES = {
    "small": dict(hidden_size=512, num_hidden_layers=8, num_attention_heads=8, num_key_value_heads=2,
                  intermediate_size=4096, vocab_size=32000, tie_word_embeddings=False),
    "0.5b": dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                 intermediate_size=4864, vocab_size=151936, tie_word_embeddings=True),
    "1.5b": dict(hidden_size=1536, num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2,
                 intermediate_size=8960, vocab_size=151936, tie_word_embeddings=True),
}
EMA_RATE, LR = 0.05, 1e-5


# --- one rank -----------------------------------------------------------------------------------


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak_rss() -> bool:
    """VmHWM back to the current RSS (Linux: write 5 to clear_refs); False where refused."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _worker(args: argparse.Namespace) -> None:
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F
    from transformers import AutoModelForCausalLM, Qwen2Config

    from leanfd.train import ema, sharding

    cuda = torch.cuda.is_available()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(local_rank)
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    rss_imports_kb = _status_kb("VmRSS")  # torch, transformers, leanfd and the process group, no model yet
    teacher_dtype = getattr(torch, args.teacher_dtype[0])

    config = Qwen2Config(**SHAPES[args.shape], max_position_embeddings=max(512, args.seq))
    torch.manual_seed(0)  # the same weights on every rank (shard_model checks it)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.train()
    teacher = sharding.frozen_copy(model, teacher_dtype)  # unsharded, before sharding, as setup.py
    n_params = sum(p.numel() for p in model.parameters())
    model.to(device)
    teacher.to(device)
    if args.strategy == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        policy = DistributedDataParallel(model, device_ids=[local_rank] if cuda else None)
        trained = policy.module
    else:
        policy = trained = sharding.shard_model(model)
        sharding.shard_model(teacher)
    optimizer = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=LR)

    g = torch.Generator().manual_seed(1000 + rank)
    rss_start_kb, peak_setup_kb = _status_kb("VmRSS"), _status_kb("VmHWM")
    reset = _reset_peak_rss()
    if cuda:
        torch.cuda.synchronize()
        cuda_peak_setup = torch.cuda.max_memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    times, sizes = [], {}
    for step in range(args.steps):
        t0 = time.perf_counter()
        ids = torch.randint(0, config.vocab_size, (args.batch, args.seq), generator=g).to(device)
        with torch.no_grad():
            teacher(input_ids=ids)  # the FD teacher's forward: a collective too under FSDP2
        sharding.reshard(teacher)  # its root stays gathered after a no-grad forward
        logits = policy(input_ids=ids).logits[:, :-1].float()
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
        del logits
        loss.backward()
        sharding.clip_grad_norm(policy.parameters(), 1.0)
        optimizer.step()
        if step == args.steps - 1:  # gradients and optimizer state both alive here
            sizes = sharding.local_bytes(policy, optimizer)
            sizes["teacher"] = sharding.local_bytes(teacher)["params"]
        optimizer.zero_grad(set_to_none=True)
        ema.ema_update(teacher, trained, EMA_RATE, seed=step)
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    result = {"shape": args.shape, "strategy": args.strategy, "teacher_dtype": args.teacher_dtype[0],
              "world": world, "rank": rank, "device": str(device), "n_params": n_params,
              "batch": args.batch, "seq": args.seq, "steps": args.steps, **sizes,
              "total": sum(sizes[k] for k in ("params", "grads", "optimizer", "teacher")),
              "malloc_mmap_threshold": os.environ.get("MALLOC_MMAP_THRESHOLD_"),
              "rss_imports_kb": rss_imports_kb, "rss_start_kb": rss_start_kb, "peak_rss_setup_kb": peak_setup_kb,
              # after the reset VmHWM holds the steps' peak; without it, the whole run's
              "peak_rss_steps_kb": _status_kb("VmHWM") if reset else None, "step_s": times}
    if cuda:
        result["cuda_peak_setup"] = cuda_peak_setup
        result["cuda_peak_steps"] = torch.cuda.max_memory_allocated()
    out = Path(args.out) / f"{args.strategy}-{args.teacher_dtype[0]}-n{world}-rank{rank}.json"
    out.write_text(json.dumps(result))
    dist.barrier()
    dist.destroy_process_group()


# --- the launcher -------------------------------------------------------------------------------


def _launch(args: argparse.Namespace, n: int, strategy: str, teacher_dtype: str, out: Path) -> list[dict]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(n),
           str(Path(__file__).resolve()), "--worker", "--out", str(out), "--shape", args.shape,
           "--strategy", strategy, "--teacher-dtype", teacher_dtype, "--steps", str(args.steps),
           "--batch", str(args.batch), "--seq", str(args.seq)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    if args.mmap_threshold:  # glibc: fixed, so freed large blocks go back to the OS at once
        env["MALLOC_MMAP_THRESHOLD_"] = str(args.mmap_threshold)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // n)))
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{res.stdout[-3000:]}\n{res.stderr[-6000:]}")
    return [json.loads((out / f"{strategy}-{teacher_dtype}-n{n}-rank{r}.json").read_text()) for r in range(n)]


def _gb(x: float | None) -> str:
    return "-" if x is None else f"{x / 1e9:.3f}"


def _table(rows: list[dict]) -> str:
    cuda = any("cuda_peak_steps" in r for r in rows)
    head = ["N", "strategy", "teacher", "rank", "params", "grads", "optimizer", "teacher",
            "**sum**", "RSS, no model", "peak RSS, setup", "RSS at start of steps", "peak RSS in steps"]
    if cuda:
        head += ["CUDA peak, setup", "CUDA peak, steps"]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join(["---"] * 4 + ["---:"] * (len(head) - 4)) + " |"]
    for r in rows:
        cells = [str(r["world"]), r["strategy"], r["teacher_dtype"], str(r["rank"]),
                 *(_gb(r[k]) for k in ("params", "grads", "optimizer", "teacher")), f"**{_gb(r['total'])}**",
                 _gb(r["rss_imports_kb"] * 1024), _gb(r["peak_rss_setup_kb"] * 1024), _gb(r["rss_start_kb"] * 1024),
                 _gb(r["peak_rss_steps_kb"] * 1024 if r["peak_rss_steps_kb"] is not None else None)]
        if cuda:
            cells += [_gb(r.get("cuda_peak_setup")), _gb(r.get("cuda_peak_steps"))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ratios(rows: list[dict]) -> list[str]:
    """FSDP2's largest per-rank sum over DDP's, per (N, teacher dtype)."""
    out = []
    for n in sorted({r["world"] for r in rows}):
        for td in sorted({r["teacher_dtype"] for r in rows}):
            by = {s: max((r["total"] for r in rows if r["world"] == n and r["teacher_dtype"] == td
                          and r["strategy"] == s), default=None) for s in ("ddp", "fsdp2")}
            if by["ddp"] and by["fsdp2"]:
                out.append(f"N={n}, teacher {td}: FSDP2 / DDP per-rank (weights+grads+optimizer+teacher) = "
                           f"{_gb(by['fsdp2'])} / {_gb(by['ddp'])} GB = {by['fsdp2'] / by['ddp']:.3f} "
                           f"(1/N = {1 / n:.3f})")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", choices=sorted(SHAPES), default="small")
    ap.add_argument("--processes", default="1,2", help="comma-separated N (processes per launch)")
    ap.add_argument("--strategies", default="ddp,fsdp2")
    ap.add_argument("--teacher-dtype", nargs="+", default=["float32"], choices=["float32", "bfloat16"])
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--mmap-threshold", type=int, default=0,
                    help="set glibc's MALLOC_MMAP_THRESHOLD_ (bytes) in the ranks: allocations above it are "
                         "mmapped and unmapped when freed, so RSS follows live tensors (default: glibc's "
                         "dynamic threshold, which grows to 32 MB and keeps freed blocks in the heap)")
    ap.add_argument("--json", help="also write the per-rank records here")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--strategy", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        if args.strategy not in ("ddp", "fsdp2"):
            raise SystemExit(f"--strategy {args.strategy}: ddp or fsdp2")
        _worker(args)
        return
    import tempfile

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.processes.split(",")):
            for td in args.teacher_dtype:
                for strategy in args.strategies.split(","):
                    t0 = time.perf_counter()
                    ranks = _launch(args, n, strategy, td, Path(tmp))
                    print(f"# N={n} {strategy} teacher {td}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
                    rows += ranks
    print(f"shape {args.shape}: {rows[0]['n_params'] / 1e6:.1f}M parameters, batch {args.batch} x {args.seq} "
          f"tokens, {args.steps} steps, AdamW, MALLOC_MMAP_THRESHOLD_ {args.mmap_threshold or 'unset'}; "
          "bytes in GB (1e9)\n")
    print(_table(rows))
    print()
    for line in _ratios(rows):
        print("- " + line)
    print("\n" + json.dumps(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
