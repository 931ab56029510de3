"""FD vs GRPO vs FD then GRPO on the toy family, from one warm start, on a CPU (issue 14).

Every run goes through `leanfd train` itself (lean_project/toy/train-cpu.yaml: 8 problems x 4 samples a
step, so every method samples the same number of completions) and is evaluated with `leanfd prove`
on one problem of each train shape and of each *near* held-out shape (lean_project/toy/family.py),
whose pass@k are kept apart. The FD teacher's privileged feedback (`--feedback llm`, the format the
warm start teaches) is a hint from `lean_project/toy/hint_critic.py`, an OpenAI-compatible critic on
loopback that knows the reference proof: where the attempt goes wrong and the corrected proof (a
stand-in for the paper's LLM critic). `leanfd train` logs the FD teacher's advantage over its student.

Training runs in segments of `--eval-every` steps: each segment resumes the last checkpoint (the
trainer resumes exactly: data order and sampling seeds are functions of the step) and writes
`final/`, which is then evaluated: per-token policy entropy on the evaluated prompts (of the
policy's own samples at temperature 1), and pass@1 from `--k-step` samples per problem. At the end,
pass@k for k up to `--k`. The warm start is evaluated once, with the final budget. `fd+grpo`
switches at half the steps; `leanfd train` needs its switch to lie inside a run, so its first
evaluation after step 0 is the first past the switch.

    python bench/fd_small/run.py --quick     # a first look: 3 seeds x 3 methods, 4 steps, pass@k to 8
    python bench/fd_small/run.py             # the experiment (make experiment): 32 steps, pass@k to 32

Writes `--out` (default runs/fd_small): one directory per method and seed, `results.json` (every
number the plots show) and `fd_small.png`; then `leanfd report` of the final pass@k runs, one
curve per method (mean over seeds, band from min to max), beside the warm start's.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "lean_project" / "toy"))  # the hint critic lives beside the family it knows

from compare import COMMITTED, compare  # noqa: E402
from hint_critic import HintCritic  # noqa: E402
from plot import plot  # noqa: E402

FAMILY = REPO / "lean_project" / "toy" / "family.jsonl"
CONFIG = REPO / "lean_project" / "toy" / "train-cpu.yaml"
METHODS = ("fd", "grpo", "fd+grpo")
log = logging.getLogger("fd_small")


def leanfd(*args: str) -> None:
    cmd = [sys.executable, "-m", "leanfd", *args]
    t = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if proc.returncode not in (0, 1):  # prove exits 1 when not every problem is proved
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}")
    log.info("%.0f s: leanfd %s", time.monotonic() - t, " ".join(args[:1]))


@functools.cache
def holdout_kinds() -> dict[str, str]:
    """Each family theorem's kind: "near", "far" (held out) or "train"; read once per experiment."""
    return {r["name"]: r.get("holdout") or "train" for r in map(json.loads, FAMILY.read_text().splitlines())}


def eval_path(a: argparse.Namespace) -> Path:
    """The problems every evaluation proves, written once by `write_eval_set`."""
    return Path(a.out) / "eval.jsonl"


def write_eval_set(a: argparse.Namespace) -> Path:
    """The problems evaluated, in one file for `leanfd prove`: those of train and near held-out shapes
    whose names match `--names` (`by_holdout` tells the two apart)."""
    kinds = holdout_kinds()
    rows = [line for line in FAMILY.read_text().splitlines()
            if re.search(a.names, name := json.loads(line)["name"]) and kinds[name] in ("train", "near")]
    path = eval_path(a)
    path.write_text("".join(line + "\n" for line in rows))
    return path


def by_holdout(summary: dict) -> dict[str, dict[str, float]]:
    """pass@k of the near and of the far held-out shapes apart (family.py: the two say different things)."""
    from leanfd.data.passk import pass_at_k_table

    kind = holdout_kinds()
    out = {}
    for holdout in ("near", "far", "train"):
        counts = {u: (c["n"], c["c"]) for u, c in summary["per_problem"].items() if kind.get(u) == holdout}
        if counts:
            out[holdout] = pass_at_k_table(counts)
    return out


def prove(model: Path, out: Path, k: int, a: argparse.Namespace, seed: int) -> dict:
    leanfd("prove", "--dataset", str(eval_path(a)), "--model", str(model),
           "-k", str(k), "--max-tokens", "64", "--temperature", "1.0", "--top-p", "1.0", "--seed", str(seed),
           "--verifier-backend", "snapshot", "--lean", "bundled", "--out", str(out))
    return json.loads((out / "summary.json").read_text())


def policy_entropy(model_dir: Path, prompts: list[str], seed: int) -> float:
    """Mean per-token entropy (nats) of the policy along its own samples (temperature 1) on `prompts`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    enc = tok(prompts, return_tensors="pt", padding=True, padding_side="left")
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        out = model.generate(**enc, do_sample=True, temperature=1.0, top_p=1.0, top_k=0, max_new_tokens=64,
                             output_logits=True, return_dict_in_generate=True)
    logits = torch.stack(out.logits, 1).float()  # (B, T, V)
    logp = logits.log_softmax(-1)
    entropy = -(logp.exp() * logp).sum(-1)  # (B, T)
    new = out.sequences[:, enc.input_ids.shape[1]:]
    ended = (new == tok.eos_token_id).int().cumsum(1)
    mask = (ended == 0) | ((ended == 1) & (new == tok.eos_token_id))  # up to and including the first eos
    return float((entropy * mask).sum() / mask.sum())


def eval_prompts(path: Path) -> list[str]:
    """The evaluated problems' prompts, as `leanfd train` and `prove` build them."""
    from leanfd.data.benchmarks import load_problems
    from leanfd.data.prompts import PromptBuilder

    builder = PromptBuilder(style="completion")
    return [builder.build(p) for p in load_problems(str(path))]


def evaluate(model: Path, out: Path, step: int, a: argparse.Namespace, prompts: list[str], seed: int,
             k: int | None = None) -> dict:
    summary = prove(model, out / f"prove-step{step}", k or a.k_step, a, seed)
    kinds = by_holdout(summary)
    # one sampling seed for the entropy of every model, so runs differ by their weights only
    return {"step": step, "entropy": policy_entropy(model, prompts, 0), "pass@1": kinds["train"]["1"],
            "near pass@1": kinds["near"]["1"], "pass_at_k": kinds["train"], "by_holdout": kinds}


def train_segments(method: str, seed: int, a: argparse.Namespace, critic_url: str, critic_model: str,
                   prompts: list[str], start: dict) -> dict:
    out = Path(a.out) / f"{method.replace('+', '-')}-s{seed}"
    if out.exists():
        shutil.rmtree(out)
    fd_steps = a.steps // 2
    ends = list(range(a.eval_every, a.steps + 1, a.eval_every))
    if ends[-1] != a.steps:
        ends.append(a.steps)
    if method == "fd+grpo":
        ends = [e for e in ends if e > fd_steps]
    critic = ["--feedback", "llm", "--critic", "openai", "--critic-model", critic_model,
              "--critic-base-url", critic_url]
    curve, t0 = [start], time.monotonic()
    for end in ends:
        leanfd("train", "--config", str(CONFIG), "--model", a.warm_start, "--method", method, "--seed", str(seed),
               "--max-steps", str(end), "--fd-steps", str(fd_steps), "--save-every", str(a.eval_every),
               "--keep-checkpoints", "1", "--output-dir", str(out), *(critic if method != "grpo" else ()),
               *shlex.split(a.train_args))
        curve.append(evaluate(out / "final", out, end, a, prompts, seed))
    seconds = time.monotonic() - t0
    final = by_holdout(prove(out / "final", out / "prove-final", a.k, a, seed))
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {"method": method, "seed": seed, "curve": curve, "pass_at_k": final["train"],
            "by_holdout": final, "seconds": seconds,
            "train": [{k: m.get(k) for k in ("step", "method", "reward", "pass_rate", "entropy", "response_length",
                                             "teacher_pass_rate", "student_pass_rate", "teacher_advantage")}
                      for m in metrics]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a first look: 4 steps, pass@k up to 8")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=None, help="optimizer steps per run (default 32, quick 4)")
    ap.add_argument("--eval-every", type=int, default=None, help="steps between evaluations (default 16, quick 2)")
    ap.add_argument("-k", dest="k", type=int, default=None, help="final pass@k budget (default 32, quick 8)")
    ap.add_argument("--k-step", type=int, default=4, help="samples per problem for pass@1 along training")
    ap.add_argument("--names", default=r"_0$", help="train and near held-out problems evaluated (regex on names; "
                                                    "default: one per shape)")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--train-args", default="", help="more `leanfd train` options for every run, for an ablation "
                                                     "(e.g. \"--divergence jsd\", \"--teacher frozen\")")
    ap.add_argument("--warm-start", default="lean_project/toy/warm_start",
                    help="made by lean_project/toy/warm_start.py when missing or made with other options "
                         "(the committed one is reused)")
    ap.add_argument("--warm-start-args", default="",
                    help="warm_start.py options, for an ablation, with another --warm-start than the committed "
                         "one (\"--teacher-pairs 0\": a teacher never taught to read feedback)")
    ap.add_argument("--out", default="runs/fd_small")
    a = ap.parse_args()
    a.steps = a.steps or (4 if a.quick else 32)
    a.eval_every = a.eval_every or (2 if a.quick else 16)
    a.k = a.k or (8 if a.quick else 32)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    os.chdir(REPO)
    t0 = time.monotonic()
    made = subprocess.run([sys.executable, "lean_project/toy/warm_start.py", "--out", a.warm_start, "--reuse",
                           *shlex.split(a.warm_start_args)])
    if made.returncode:  # it said why (e.g. --warm-start-args would replace the committed warm start)
        raise SystemExit(made.returncode)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    prompts = eval_prompts(write_eval_set(a))
    runs = []
    # the critic quotes as much of the proof as the warm start's teacher pairs did
    ahead = json.loads((Path(a.warm_start) / "warm_start.json").read_text())["config"].get("hint_ahead", 0)
    with HintCritic(FAMILY, ahead) as critic:
        # the warm start once, with the final budget: every run starts from it
        start = evaluate(Path(a.warm_start), out / "warm_start", 0, a, prompts, 0, k=a.k)
        for seed in range(a.seeds):
            for method in a.methods.split(","):
                runs.append(train_segments(method, seed, a, critic.url, critic.model, prompts, start))
                log.info("%s seed %d: %s", method, seed, runs[-1]["curve"][-1])
        hints = critic.requests
    results = {"settings": vars(a), "config": CONFIG.read_text(),
               "critic_requests": hints, "seconds": round(time.monotonic() - t0), "runs": runs}
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    plot(results, out / "fd_small.png")
    # `leanfd report` names each run by its directory: one directory per method and seed
    finals = []
    for r in runs:
        name = f"{r['method'].replace('+', '-')}-s{r['seed']}"
        (out / "final" / name).mkdir(parents=True, exist_ok=True)
        shutil.copy(out / name / "prove-final" / "summary.json", out / "final" / name / "summary.json")
        finals.append(str(out / "final" / name))
    (out / "final" / "warm_start").mkdir(parents=True, exist_ok=True)
    shutil.copy(out / "warm_start" / "prove-step0" / "summary.json", out / "final" / "warm_start" / "summary.json")
    finals.append(str(out / "final" / "warm_start"))
    subprocess.run([sys.executable, "-m", "leanfd", "report", *finals, "--group", "(.*)-s[0-9]+$",
                    "--plot", str(out / "report.png")], cwd=REPO)
    log.info("done in %.0f s: %s/results.json, fd_small.png, report.png", time.monotonic() - t0, out)
    if COMMITTED.is_file():  # the figures in docs/fd_small.md came from there
        ok, lines = compare(results, json.loads(COMMITTED.read_text()))
        log.info("against %s:\n%s", COMMITTED.relative_to(REPO), "\n".join(lines))


if __name__ == "__main__":
    main()
