"""leanfd against TRL, one command: FD vs SDPOTrainer and GRPO vs GRPOTrainer, same settings, fresh processes.

Each run is its own process (`bench/train.py --methods fd|grpo` on leanfd's interpreter,
`bench/train_sdpo_trl.py` and `bench/train_trl.py` on TRL's), the four interleaved within each
repetition so that a change of load on the machine falls on all of them alike. The table (markdown)
gives, per trainer, the mean over repetitions and the range, of each run's steady-state means.

    python bench/compare_trl.py --size tiny --steps 4 --reps 2 --leanfd-python .venv/bin/python \\
        --trl-python /work/trl-venv/bin/python
    python bench/compare_trl.py --gpu --size 0.5b --steps 3 --reps 1   # bf16, Qwen2's 151936-row vocabulary

leanfd's step is the sum of its logged split (generate, verify, feedback, train); TRL's is measured
from step begin to step end by the bench's callback, its split around TRL's `_generate` and the
reward (see bench/train_trl.py).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
QWEN2_VOCAB = 151936

# (objective, trainer label, which interpreter, script and its own arguments)
RUNS = [
    ("FD", "leanfd FD", "leanfd", ["train.py", "--methods", "fd"]),
    ("FD", "TRL SDPOTrainer", "trl", ["train_sdpo_trl.py"]),
    ("GRPO", "leanfd GRPO", "leanfd", ["train.py", "--methods", "grpo"]),
    ("GRPO", "TRL GRPOTrainer", "trl", ["train_trl.py"]),
]

VERSIONS = """
import json, platform, torch, transformers
out = {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
       "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
try:
    import trl; out["trl"] = trl.__version__
except ImportError:
    pass
import leanfd; out["leanfd"] = leanfd.__file__.rsplit("/leanfd/", 1)[0]
print(json.dumps(out))
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", choices=["tiny", "0.5b", "1.5b"], default="tiny")
    ap.add_argument("--steps", type=int, default=4, help="optimizer steps per run (the first is left out of the means)")
    ap.add_argument("--reps", type=int, default=2, help="runs of each trainer")
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--group", type=int, default=4)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--micro-batch", type=int, default=8)
    ap.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=None,
                    help="on every side alike (default: on with --gpu, as in the GPU figures of bench/README.md)")
    ap.add_argument("--gpu", action="store_true",
                    help=f"bf16, the 0.5b/1.5b shapes and a {QWEN2_VOCAB}-row vocabulary; needs CUDA")
    ap.add_argument("--leanfd-python", default=str(ROOT / ".venv" / "bin" / "python"), help="leanfd's interpreter")
    ap.add_argument("--trl-python", default=os.environ.get("TRL_PYTHON"),
                    help="an interpreter with trl 1.16 and leanfd installed (default: $TRL_PYTHON)")
    ap.add_argument("--sides", choices=["both", "leanfd", "trl"], default="both",
                    help="run only one side's trainers (e.g. while the other cannot run)")
    ap.add_argument("--lean", default="bundled", help="the Lean every run verifies with")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    ap.add_argument("--out", type=Path, default=None, help="also write the markdown table here")
    args = ap.parse_args(argv)
    if args.gpu and args.size == "tiny":
        ap.error("--gpu measures the 0.5b or 1.5b shape: give --size 0.5b or --size 1.5b")
    if not args.trl_python:
        ap.error("give --trl-python (or set TRL_PYTHON): the interpreter that has trl")
    for name in ("leanfd_python", "trl_python"):
        given = getattr(args, name)
        # absolute, symlinks kept (a venv's python is a symlink whose target is not the venv): the
        # runs start in other directories
        found = os.path.abspath(given) if os.sep in given else shutil.which(given)
        if not found or not Path(found).exists():
            ap.error(f"--{name.replace('_', '-')} {given}: no such interpreter")
        setattr(args, name, found)
    if args.gradient_checkpointing is None:
        args.gradient_checkpointing = args.gpu
    return args


def common_flags(args: argparse.Namespace) -> list[str]:
    """The settings every script takes under the same names."""
    flags = ["--size", args.size, "--steps", str(args.steps), "--prompts", str(args.prompts),
             "--group", str(args.group), "--new-tokens", str(args.new_tokens), "--micro-batch", str(args.micro_batch),
             "--lean", args.lean]
    if args.gpu:
        flags += ["--bf16", "--vocab", str(QWEN2_VOCAB)]
    if args.gradient_checkpointing:
        flags.append("--gradient-checkpointing")
    return flags


def run_one(python: str, script: list[str], args: argparse.Namespace) -> dict:
    """One fresh process; its result is the last JSON line that names a method or a trainer."""
    cmd = [python, str(BENCH / script[0]), *script[1:], *common_flags(args)]
    env = {**os.environ, "TRL_EXPERIMENTAL_SILENCE": "1"}
    load = os.getloadavg()[0]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, env=env, cwd=ROOT)
    results = []
    for line in p.stdout.splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and ("method" in row or "trainer" in row):
            results.append(row)
    if p.returncode != 0 or not results:
        raise SystemExit(f"{' '.join(cmd)} failed (exit {p.returncode}):\n{p.stderr[-4000:]}")
    # the machine's 1-minute load average before and after: other work skews a run's times
    return {**results[-1], "load": (load + os.getloadavg()[0]) / 2}


def figures(row: dict) -> dict[str, float | None]:
    """A run's figures under one set of names: leanfd's `train` and TRL's `rest` are both 'the rest'."""
    split = row["step_split_s"]
    step = row.get("step_s", sum(split.values()))  # leanfd logs the split, not the step
    return {"step": step, "generate": split.get("generate"), "verify": split.get("verify"),
            "feedback": split.get("feedback"), "rest": split.get("train", split.get("rest")),
            "peak_rss_gb": row.get("peak_rss_gb"), "peak_gpu_gb": row.get("peak_gpu_gb"), "load": row.get("load")}


def cell(values: list[float | None], digits: int = 2) -> str:
    """Mean over repetitions, with the range when there are several."""
    xs = [v for v in values if v is not None]
    if not xs:
        return ""
    mean = sum(xs) / len(xs)
    return f"{mean:.{digits}f}" if len(xs) == 1 else f"{mean:.{digits}f} ({min(xs):.{digits}f}-{max(xs):.{digits}f})"


def table(results: dict[str, list[dict]]) -> str:
    cols = ["step", "generate", "verify", "feedback", "rest", "peak_rss_gb", "peak_gpu_gb", "load"]
    heads = ["step (s)", "generate (s)", "verify (s)", "feedback (s)", "rest: train (s)", "peak RSS (GB)",
             "peak GPU (GB)", "load average"]
    lines = ["| objective | trainer | " + " | ".join(heads) + " |", "| --- | --- |" + " ---: |" * len(heads)]
    for objective, label, _, _ in RUNS:
        if label not in results:
            continue
        rows = [figures(r) for r in results[label]]
        lines.append(f"| {objective} | {label} | " + " | ".join(cell([r[c] for r in rows]) for c in cols) + " |")
    return "\n".join(lines)


def versions(python: str) -> dict:
    p = subprocess.run([python, "-c", VERSIONS], capture_output=True, text=True, timeout=300, cwd="/")
    if p.returncode != 0:
        raise SystemExit(f"{python} cannot import torch, transformers and leanfd:\n{p.stderr[-2000:]}")
    info = json.loads(p.stdout.strip().splitlines()[-1])
    commit = subprocess.run(["git", "-C", info["leanfd"], "log", "-1", "--format=%h %cI"], capture_output=True,
                            text=True)
    info["leanfd"] += f" @ {commit.stdout.strip()}" if commit.returncode == 0 else ""
    return info


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    pythons = {"leanfd": args.leanfd_python, "trl": args.trl_python}
    env = {side: versions(py) for side, py in pythons.items()}
    if args.gpu and not all(info["cuda"] for info in env.values()):
        raise SystemExit("--gpu: no CUDA device seen by " + ", ".join(
            py for side, py in pythons.items() if not env[side]["cuda"]) + "; run without --gpu on a CPU machine")
    runs = [r for r in RUNS if args.sides in ("both", r[2])]
    results: dict[str, list[dict]] = {label: [] for _, label, _, _ in runs}
    for rep in range(args.reps):
        for _, label, side, script in runs:
            print(f"rep {rep + 1}/{args.reps}: {label} ...", file=sys.stderr, flush=True)
            row = run_one(pythons[side], script, args)
            results[label].append(row)
            print(json.dumps({"rep": rep + 1, "label": label, **row}), flush=True)
    machine = env["leanfd"]["cuda"] or f"CPU, {os.cpu_count()} cores ({platform.processor() or platform.machine()})"
    settings = (f"size {args.size}{f', vocab {QWEN2_VOCAB}, bf16' if args.gpu else ''}, {args.prompts} problems x "
                f"{args.group} samples, {args.new_tokens} new tokens, micro-batch {args.micro_batch}, gradient "
                f"checkpointing {'on' if args.gradient_checkpointing else 'off'}, {args.steps} steps "
                f"(means over steps 2-{args.steps}), {args.reps} repetitions: mean (min-max)")
    md = "\n".join([
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {machine}",
        f"settings: {settings}",
        f"leanfd side: {json.dumps(env['leanfd'])}",
        f"TRL side: {json.dumps(env['trl'])}",
        "",
        table(results),
    ])
    print(md)
    if args.out:
        args.out.write_text(md + "\n")


if __name__ == "__main__":
    main()
