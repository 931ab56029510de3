"""Can the FD teacher read its privileged context? pass@1 of a model on train problems from the
student's prompt, and from the teacher's (FD's feedback on a wrong attempt placed before it).

FD distills the student towards its own copy shown feedback; that helps only if the copy, shown
the feedback, writes better proofs than without it. The feedback is made as in the experiment
(Lean's verdict on a corrupted attempt plus the hint critic's hint, `--feedback both`), from other
corruptions than the warm start's SFT saw (seed 7).

    python bench/fd_small/teacher_gain.py runs/toy/warm_start [--problems 48] [--samples 4]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "lean_project" / "toy"))
import warm_start  # noqa: E402


def sample(model, tok, prompts: list[str], batch: int = 16) -> list[str]:
    import torch

    outs = []
    for i in range(0, len(prompts), batch):
        enc = tok(prompts[i : i + batch], return_tensors="pt", padding=True, padding_side="left")
        with torch.no_grad():
            o = model.generate(**enc, do_sample=True, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=64)
        outs += tok.batch_decode(o[:, enc.input_ids.shape[1]:], skip_special_tokens=True)
    return outs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("--problems", type=int, default=48)
    ap.add_argument("--samples", type=int, default=4)
    a = ap.parse_args()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from leanfd.data.benchmarks import load_problems
    from leanfd.data.prompts import PromptBuilder, extract_proof
    from leanfd.lean.verifier import Verifier

    c = warm_start.WarmStartConfig(seed=7, teacher_pairs=1)
    teacher_prompts, _ = warm_start.teacher_sft_pairs(c.dataset, c)
    builder = PromptBuilder(style="completion")
    students = {builder.build(p): p for p in load_problems(c.dataset, split="train")}
    picked = random.Random(0).sample(teacher_prompts, min(a.problems, len(teacher_prompts)))
    rows = [(students[s], s, t) for t in picked for s in students if t.endswith(s)]
    tok = AutoTokenizer.from_pretrained(a.model)
    model = AutoModelForCausalLM.from_pretrained(a.model).eval()
    torch.manual_seed(0)
    rates = {}
    with Verifier(backend="snapshot", lean="bundled", timeout=60, jobs=2) as verifier:
        for who, col in (("student", 1), ("teacher", 2)):
            outs = sample(model, tok, [r[col] for r in rows for _ in range(a.samples)])
            probs = [r[0] for r in rows for _ in range(a.samples)]
            futs = [verifier.submit(p.to_check_record(extract_proof(o.split("```")[0], p)))
                    for p, o in zip(probs, outs)]
            rates[who] = sum(f.result().proved for f in futs) / len(futs)
    print(f"{a.model}: pass@1 from the student's prompt {rates['student']:.3f}, from the teacher's (with "
          f"feedback) {rates['teacher']:.3f}; {len(rows)} train problems x {a.samples} samples")


if __name__ == "__main__":
    main()
