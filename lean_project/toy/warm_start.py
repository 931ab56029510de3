"""The warm start of the small FD/GRPO experiment: a tiny prover taught the toy family by SFT.

Trains a byte-level BPE tokenizer on the prelude and the train split's prompts and proofs, builds a
Llama-architecture causal LM of a few million parameters from a config, and fine-tunes it on
(prompt -> reference proof) pairs of the train split, the prompts built exactly as `leanfd train`
and `leanfd prove` build them. Training stops early on purpose: the point is a prover with a low
but non-zero pass rate, so that FD and GRPO have something to improve. The result is saved like a
hub model (`save_pretrained` model and tokenizer) that `leanfd train --model DIR` and
`leanfd prove --model DIR` load. Deterministic: the same seed and options give the same files.

FD's teacher is the model itself with privileged feedback before the prompt. A model taught only
(prompt -> proof) has never seen such a context and writes no proof in it, so FD would distill
towards a teacher worse than the student. `teacher_pairs` adds SFT pairs in the teacher's format:
a corrupted attempt at a train theorem that the bundled Lean rejects (a wrong constant, lemma or
argument order, a cut or another theorem's proof), FD's feedback on it (Lean's verdict and the hint
critic's hint, made by leanfd's own code), the prompt, then the reference proof. A 7B prover reads
feedback without this. At the end the teacher's advantage is measured (`teacher_advantage`: the
teacher's pass rate on the student's own failed samples minus the student's, on train and on near
held-out shapes), printed and saved as `teacher_advantage.json`.

    python lean_project/toy/warm_start.py [--out lean_project/toy/warm_start] [--reuse]

Why Llama and not Qwen2: transformers 5 rebuilds a Qwen2 tokenizer from its vocabulary with Qwen's
own pre-tokenizer, while a Llama model's `tokenizer.json` is loaded as written. Ours splits only
after newlines, so the constant prelude header becomes a few dozen tokens and a whole prompt about
sixty: CPU training and sampling then cost seconds, not minutes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DATASET = HERE / "family.jsonl"
COMMITTED = HERE / "warm_start"  # the default --out, in git: make demo and make experiment reuse it
PAD, EOS = "<pad>", "<|endoftext|>"
FENCE = "\n```"  # the completion prompt's code block closes after the proof; sampling stops there

log = logging.getLogger("warm_start")
sys.path.insert(0, str(HERE))  # hint_critic.py, when this file is imported rather than run


@dataclass(frozen=True)
class WarmStartConfig:
    dataset: str = str(DEFAULT_DATASET)
    out: str = str(COMMITTED)
    seed: int = 0
    # byte-level BPE: 256 bytes + merges + special tokens; more merges make whole proof lines single
    # tokens, and a hint's part of a proof then no longer shares the proof's tokens
    vocab: int = 1024
    hidden: int = 256
    layers: int = 4
    heads: int = 8
    steps: int = 600  # with 16 teacher pairs: a student at about 30% on train shapes, see docs/fd_small.md
    batch: int = 16
    lr: float = 2e-3
    sft_share: float = 1.0  # share of the train split used for SFT (the rest is left to FD/GRPO)
    # FD's teacher is the model itself reading privileged feedback; a 7B prover can read it, a model
    # taught only (prompt -> proof) cannot. This many pairs per problem teach it to: a corrupted
    # attempt, Lean's verdict on it and the hint critic's hint, placed as FD places them, then the
    # proof (0: none, and FD's teacher then proves nothing; docs/fd_small.md measures both).
    teacher_pairs: int = 16
    # the teacher's privileged text, as `leanfd train --feedback` names it: "llm" is the hint critic's
    # hint alone (the critic read Lean's verdict to write it), "both" puts Lean's verdict after it
    feedback: str = "llm"
    # how much of the reference proof the hint critic quotes past the attempt's first mistake, in
    # tokens (0: all of it, the corrected proof); bench/fd_small/run.py's critic reads it from here
    hint_ahead: int = 0
    # the teacher's advantage, measured at the end: `measure_samples` student samples on each train
    # and near held-out problem whose name matches `measure_names` (0 samples: not measured)
    measure_names: str = r"_0$"
    measure_samples: int = 4


def sft_pairs(dataset: str) -> tuple[list[str], list[str]]:
    """(prompt, proof + closing fence) of every train problem, prompts as `leanfd train` builds them."""
    from leanfd.data.benchmarks import load_problems
    from leanfd.data.prompts import PromptBuilder

    problems = load_problems(dataset, split="train")
    if not problems:
        raise SystemExit(f"--dataset {dataset}: no train problems")
    builder = PromptBuilder(style="completion")
    prompts = [builder.build(p) for p in problems]
    return prompts, [p.extra["formal_proof"] + FENCE for p in problems]


def train_tokenizer(texts: list[str], vocab: int):
    """Byte-level BPE (any text round-trips) that never merges across a line end."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\n"), behavior="merged_with_previous"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=[PAD, EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token=PAD, eos_token=EOS,
                                   clean_up_tokenization_spaces=False)


def build_model(tokenizer, c: WarmStartConfig):
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    pad_id, eos_id = tokenizer.convert_tokens_to_ids(PAD), tokenizer.convert_tokens_to_ids(EOS)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=c.hidden, intermediate_size=int(8 * c.hidden / 3) // 16 * 16,
        num_hidden_layers=c.layers, num_attention_heads=c.heads, num_key_value_heads=c.heads // 2,
        max_position_embeddings=2048, tie_word_embeddings=True,
        bos_token_id=None, eos_token_id=eos_id, pad_token_id=pad_id,
    )
    torch.manual_seed(c.seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(eos_token_id=eos_id, pad_token_id=pad_id)
    return model


# lemma names of the toy prelude a corruption may put in the wrong place
LEMMAS = ("And.intro", "Or.inl", "Or.inr", "Or.rec", "Eq.refl", "Eq.symm", "Eq.trans", "congrArg",
          "False.elim", "Exists.intro", "N.rec", "N.succ", "N.zero")


def corrupt(proof: str, rng: random.Random, words: list[str], others: list[str] = ()) -> str:
    """A wrong attempt near `proof`: cut short, one token replaced (by a word of the problem, a
    lemma or a numeral), dropped or swapped with the next, or another theorem's proof outright (what
    a weak student writes most)."""
    from hint_critic import TOKEN

    toks = TOKEN.findall(proof)
    for _ in range(20):
        out, i = list(toks), rng.randrange(len(toks))
        op = rng.choice(("cut", "replace", "lemma", "drop", "swap", "other"))
        if op == "other" and others:
            text = rng.choice(others)
            if TOKEN.findall(text) != toks:
                return text
            continue
        if op == "cut":
            out = out[:i]
        elif op == "replace":
            out[i] = rng.choice(words)
        elif op == "lemma":
            out[i] = rng.choice(LEMMAS)
        elif op == "drop":
            del out[i]
        elif i + 1 < len(out):
            out[i], out[i + 1] = out[i + 1], out[i]
        text = " " + " ".join(out).replace("( ", "(").replace(" )", ")")
        if out != toks:
            return text
    return " sorry"


def fd_feedback(dataset: str, checked: list, content: str, ahead: int = 0) -> list[str | None]:
    """FD's privileged text on each (problem, check record, verdict), as `leanfd train --feedback
    CONTENT` makes it: leanfd's `teacher_feedback` over Lean's verdict and the hint critic's answer
    (over HTTP, from a server started here), on the attempt as the trainer renders it."""
    import asyncio

    from hint_critic import HintCritic

    from leanfd.feedback.critic import FeedbackConfig, LLMCritic, teacher_feedback
    from leanfd.lean.snippet import attempt_text
    from leanfd.models.openai_api import OpenAIBackend

    config = FeedbackConfig(content=content)
    with HintCritic(dataset, ahead) as server:
        critic = LLMCritic(OpenAIBackend(server.model, base_url=server.url))

        async def one(p, record, verdict):
            return (await teacher_feedback(p.formal_statement, attempt_text(record), verdict, config, critic))[0]

        async def all_():
            return await asyncio.gather(*(one(*row) for row in checked))

        return asyncio.run(all_())


def verify(records: list) -> list:
    """The bundled Lean's verdict on each check record."""
    from leanfd.lean.verifier import Verifier

    with Verifier(backend="snapshot", lean="bundled", timeout=60, jobs=2) as verifier:
        return [f.result() for f in [verifier.submit(r) for r in records]]


def teacher_sft_pairs(dataset: str, c: WarmStartConfig,
                      keep: list[int] | None = None) -> tuple[list[str], list[str], list[str]]:
    """(FD teacher's prompt, proof + fence, the student's prompt in it) for `teacher_pairs` corrupted
    attempts per train problem that the bundled Lean rejects, the feedback made by leanfd's own FD
    code (`fd_feedback`)."""
    from hint_critic import TOKEN

    from leanfd.data.benchmarks import load_problems
    from leanfd.data.prompts import PromptBuilder
    from leanfd.train.teacher_feedback import teacher_prompt

    rng = random.Random(f"{c.seed}:teacher")
    builder = PromptBuilder(style="completion")
    problems = load_problems(dataset, split="train")
    problems = problems if keep is None else [problems[i] for i in keep]
    others = sorted({p.extra["formal_proof"] for p in problems})
    jobs = []
    for p in problems:
        words = sorted(set(TOKEN.findall(p.formal_statement + p.extra["formal_proof"])))
        jobs += [(p, p.to_check_record({"proof": corrupt(p.extra["formal_proof"], rng, words, others)}))
                 for _ in range(c.teacher_pairs)]
    verdicts = verify([r for _, r in jobs])
    failed = [(p, r, v) for (p, r), v in zip(jobs, verdicts) if not v.proved]
    texts = fd_feedback(dataset, failed, c.feedback, c.hint_ahead)
    prompts, targets, students = [], [], []
    for (p, _, _), text in zip(failed, texts):
        if text:
            students.append(builder.build(p))
            prompts.append(teacher_prompt(students[-1], text))
            targets.append(p.extra["formal_proof"] + FENCE)
    log.info("%d teacher pairs (%d corrupted attempts, %d rejected by Lean)", len(prompts), len(jobs), len(failed))
    return prompts, targets, students


def sample(model, tokenizer, prompts: list[str], seed: int, batch: int = 32, max_new_tokens: int = 64) -> list[str]:
    """One completion per prompt at temperature 1 (top-p 1), as `leanfd train` and `prove` sample."""
    import torch

    outs = []
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for i in range(0, len(prompts), batch):
            enc = tokenizer(prompts[i : i + batch], return_tensors="pt", padding=True, padding_side="left")
            o = model.generate(**enc, do_sample=True, temperature=1.0, top_k=0, top_p=1.0,
                               max_new_tokens=max_new_tokens)
            outs += tokenizer.batch_decode(o[:, enc.input_ids.shape[1] :], skip_special_tokens=True)
    return outs


def teacher_advantage(model_dir: str | Path, dataset: str, names: str = r"_[01]$", samples: int = 4,
                      seed: int = 0, feedback: str = "llm", ahead: int = 0) -> dict:
    """Whether FD's teacher is better than its student, on the student's own failures.

    For the train problems and the near held-out problems whose names match `names`: `samples`
    student samples each (the student's prompt), verified by the bundled Lean; for each failed one,
    FD's privileged text on it (`fd_feedback`: the hint critic's hint, and Lean's verdict with
    `feedback` "both") placed by
    leanfd's `teacher_prompt`, and one teacher sample from there, verified. `teacher` is the share of
    those teacher samples Lean accepts, `student` the share of all student samples, `advantage` the
    difference; `student_on_failures` is the student's pass rate on the problem of each failure
    (the failures lean to hard problems, so this is the stricter baseline)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from leanfd.data.benchmarks import load_problems
    from leanfd.data.prompts import PromptBuilder, answer_record
    from leanfd.train.teacher_feedback import teacher_prompt

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    builder = PromptBuilder(style="completion")

    def check(problems, completions):
        records = [answer_record(o, p) for p, o in zip(problems, completions)]
        return records, verify(records)

    sets = {"train": load_problems(dataset, split="train", names=names),
            "near": [p for p in load_problems(dataset, split="test", names=names) if p.extra.get("holdout") == "near"]}
    out = {}
    for which, problems in sets.items():
        rows = [p for p in problems for _ in range(samples)]
        prompts = [builder.build(p) for p in rows]
        records, verdicts = check(rows, sample(model, tokenizer, prompts, seed))
        failed = [i for i, v in enumerate(verdicts) if not v.proved]
        texts = fd_feedback(dataset, [(rows[i], records[i], verdicts[i]) for i in failed], feedback, ahead)
        taught = [(i, t) for i, t in zip(failed, texts) if t]
        t_rows = [rows[i] for i, _ in taught]
        _, t_verdicts = check(t_rows, sample(model, tokenizer, [teacher_prompt(prompts[i], t) for i, t in taught],
                                             seed + 1))
        by_problem: dict[str, list[bool]] = {}
        for p, v in zip(rows, verdicts):
            by_problem.setdefault(p.uid, []).append(v.proved)
        student = sum(v.proved for v in verdicts) / max(1, len(verdicts))
        teacher = sum(v.proved for v in t_verdicts) / max(1, len(t_verdicts))
        on_failures = sum(sum(by_problem[p.uid]) / len(by_problem[p.uid]) for p in t_rows) / max(1, len(t_rows))
        out[which] = {"problems": len(problems), "samples": len(rows), "failures": len(t_rows),
                      "student": round(student, 4), "teacher": round(teacher, 4),
                      "advantage": round(teacher - student, 4), "student_on_failures": round(on_failures, 4)}
    return out


def advantage_lines(adv: dict) -> list[str]:
    """The teacher's advantage as the demo prints it."""
    return [f"teacher's advantage, {which} shapes: teacher {r['teacher']:.1%} on the student's {r['failures']} failed "
            f"samples, student {r['student']:.1%} of {r['samples']} samples: {100 * r['advantage']:+.1f} points"
            for which, r in adv.items()]


def encode(tokenizer, prompts: list[str], targets: list[str]) -> list[tuple[list[int], int]]:
    """(ids, prompt length) per pair: the prompt tokenized alone, as the samplers do, then the target."""
    eos = tokenizer.convert_tokens_to_ids(EOS)
    out = []
    for p, t in zip(prompts, targets):
        pi = tokenizer(p).input_ids
        out.append((pi + tokenizer(t, add_special_tokens=False).input_ids + [eos], len(pi)))
    return out


def sft(model, data: list[tuple[list[int], int]], pad_id: int, c: WarmStartConfig) -> list[float]:
    """Plain next-token cross-entropy on the target tokens only; returns the loss of each step."""
    import torch

    rng = random.Random(c.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=c.lr, weight_decay=0.0)
    model.train()
    losses, order = [], []
    for step in range(c.steps):
        if len(order) < c.batch:
            order += rng.sample(range(len(data)), len(data))
        rows, order = [data[i] for i in order[: c.batch]], order[c.batch :]
        width = max(len(ids) for ids, _ in rows)
        ids = torch.full((len(rows), width), pad_id)
        labels = torch.full((len(rows), width), -100)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, (row, plen) in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
            labels[i, plen : len(row)] = torch.tensor(row[plen:])
            mask[i, : len(row)] = 1
        lr = c.lr * min(1.0, (step + 1) / 10)  # 10 warm-up steps
        for g in opt.param_groups:
            g["lr"] = lr
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(round(loss.item(), 4))
        if step % 10 == 0 or step == c.steps - 1:
            log.info("step %d loss %.4f", step, losses[-1])
    return losses


def warm_start(c: WarmStartConfig) -> Path:
    import torch

    t0 = time.monotonic()
    prompts, targets = sft_pairs(c.dataset)
    keep = sorted(random.Random(c.seed).sample(range(len(prompts)), round(c.sft_share * len(prompts))))
    prompts, targets = [prompts[i] for i in keep], [targets[i] for i in keep]
    t_prompts, t_targets, t_students = teacher_sft_pairs(c.dataset, c, keep) if c.teacher_pairs else ([], [], [])
    # The corpus: each distinct prompt once (the prelude header repeats in all of them, which is what
    # makes its lines single tokens), every proof, and each distinct line of the teacher's feedback
    # (its wording gets merges, so a teacher prompt is about twice a student's; each line once, or the
    # proofs the hints quote would become single tokens).
    lines = [ln for t, q in zip(t_prompts, t_students) for ln in t[: len(t) - len(q)].splitlines(keepends=True)]
    tokenizer = train_tokenizer([*dict.fromkeys(prompts), *targets, *dict.fromkeys(lines)], c.vocab)
    data = encode(tokenizer, prompts + t_prompts, targets + t_targets)
    with torch.random.fork_rng(devices=[]):
        model = build_model(tokenizer, c)
        losses = sft(model, data, tokenizer.convert_tokens_to_ids(PAD), c)
    out = Path(c.out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    info = {"config": asdict(c), "dataset_sha256": sha256(c.dataset),
            "parameters": sum(p.numel() for p in model.parameters()),
            "sft_pairs": len(data), "teacher_pairs": len(t_prompts),
            "mean_tokens": sum(len(d) for d, _ in data) / len(data),
            "losses": losses, "seconds": round(time.monotonic() - t0, 1)}
    log.info("%s: %d parameters, %d pairs (%d teacher pairs), final loss %.4f, %.0f s", out, info["parameters"],
             len(data), len(t_prompts), losses[-1] if losses else float("nan"), info["seconds"])
    if c.measure_samples:
        t1 = time.monotonic()
        adv = teacher_advantage(out, c.dataset, c.measure_names, c.measure_samples, c.seed, c.feedback,
                                c.hint_ahead)
        (out / "teacher_advantage.json").write_text(json.dumps(adv, indent=1) + "\n")
        log.info("teacher's advantage measured in %.0f s", time.monotonic() - t1)
        info["measure_seconds"] = round(time.monotonic() - t1, 1)
    # written last: its presence says the warm start is complete (made_with)
    (out / "warm_start.json").write_text(json.dumps(info, indent=1) + "\n")
    return out


def print_advantage(out: Path) -> None:
    path = out / "teacher_advantage.json"
    if path.is_file():
        for line in advantage_lines(json.loads(path.read_text())):
            print(line)


def sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def made_with(out: Path, c: WarmStartConfig) -> bool:
    """Whether `out` holds a finished warm start made with the options of `c`: its place aside, and
    the dataset compared by content (the committed warm start was made in another clone)."""
    try:
        info = json.loads((out / "warm_start.json").read_text())
        made, digest = info["config"], info["dataset_sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    same = {**made, "out": c.out, "dataset": c.dataset} == asdict(c) and digest == sha256(c.dataset)
    return same and (out / "model.safetensors").is_file()


def overwrites_committed(c: WarmStartConfig) -> str | None:
    """Why `c` may not be made: other options than the defaults into the committed warm start's
    place would replace it (and make the demo's next run make it again); None when it may."""
    defaults = asdict(WarmStartConfig())
    changed = [f"--{k.replace('_', '-')}" for k, v in asdict(c).items()
               if k not in ("out", "dataset") and v != defaults[k]]
    if Path(c.dataset).resolve() != DEFAULT_DATASET:
        changed.insert(0, "--dataset")
    if Path(c.out).resolve() != COMMITTED or not changed:
        return None
    return (f"--out {c.out} is the committed warm start, made with the defaults; with {', '.join(changed)} "
            "give another --out (e.g. --out runs/toy/my_warm_start)")


def main() -> None:
    defaults = WarmStartConfig()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name, value in asdict(defaults).items():
        ap.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    ap.add_argument("--reuse", action="store_true",
                    help="keep --out when it holds a warm start made with these same options")
    args = vars(ap.parse_args())
    reuse = args.pop("reuse")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per critic request otherwise
    c = WarmStartConfig(**args)
    if (why := overwrites_committed(c)) is not None:
        ap.error(why)
    if reuse and made_with(Path(c.out), c):
        log.info("%s: reused (made with the same options)", c.out)
    else:
        warm_start(c)
    print_advantage(Path(c.out))


if __name__ == "__main__":
    main()
