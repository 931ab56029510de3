"""The warm start of the small FD/GRPO experiment: a tiny prover taught the toy family by SFT.

Trains a byte-level BPE tokenizer on the prelude and the train split's prompts and proofs, builds a
Llama-architecture causal LM of a few million parameters from a config, and fine-tunes it on
(prompt -> reference proof) pairs of the train split, the prompts built exactly as `leanfd train`
and `leanfd prove` build them. Training stops early on purpose: the point is a prover with a low
but non-zero pass rate, so that FD and GRPO have something to improve. The result is saved like a
hub model (`save_pretrained` model and tokenizer) that `leanfd train --model DIR` and
`leanfd prove --model DIR` load. Deterministic: the same seed and options give the same files.

FD's teacher is the model itself with privileged feedback before the prompt. A model taught only
(prompt -> proof) has never seen such a context and writes no proof in it (bench/fd_small/
teacher_gain.py), so FD would distill towards a teacher worse than the student. `teacher_pairs`
adds SFT pairs in the teacher's format: a corrupted attempt at a train theorem that the bundled
Lean rejects, FD's feedback on it (Lean's verdict and the hint critic's hint, made by leanfd's own
code), the prompt, then the reference proof. A 7B prover reads feedback without this.

    python lean_project/toy/warm_start.py --out runs/toy/warm_start [--reuse]

Why Llama and not Qwen2: transformers 5 rebuilds a Qwen2 tokenizer from its vocabulary with Qwen's
own pre-tokenizer, while a Llama model's `tokenizer.json` is loaded as written. Ours splits only
after newlines, so the constant prelude header becomes a few dozen tokens and a whole prompt about
sixty: CPU training and sampling then cost seconds, not minutes.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DATASET = HERE / "family.jsonl"
PAD, EOS = "<pad>", "<|endoftext|>"
FENCE = "\n```"  # the completion prompt's code block closes after the proof; sampling stops there

log = logging.getLogger("warm_start")
sys.path.insert(0, str(HERE))  # hint_critic.py, when this file is imported rather than run


@dataclass(frozen=True)
class WarmStartConfig:
    dataset: str = str(DEFAULT_DATASET)
    out: str = "runs/toy/warm_start"
    seed: int = 0
    vocab: int = 1024  # byte-level BPE: 256 bytes + merges + special tokens
    hidden: int = 256
    layers: int = 4
    heads: int = 8
    steps: int = 300  # few on purpose: ~20-30% pass@1 on train, see the README
    batch: int = 16
    lr: float = 2e-3
    sft_share: float = 1.0  # share of the train split used for SFT (the rest is left to FD/GRPO)
    # FD's teacher is the model itself reading privileged feedback; a 7B prover can read it, a model
    # taught only (prompt -> proof) cannot. This many pairs per problem teach it to: a corrupted
    # attempt, Lean's verdict on it and the hint critic's hint, placed as FD places them, then the
    # proof (0: none, and FD's teacher then proves nothing; the README measures both).
    teacher_pairs: int = 1


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


def corrupt(proof: str, rng: random.Random, words: list[str]) -> str:
    """A wrong attempt near `proof`: cut short, one token replaced or dropped, or two swapped."""
    from hint_critic import TOKEN

    toks = TOKEN.findall(proof)
    for _ in range(20):
        out, i = list(toks), rng.randrange(len(toks))
        op = rng.choice(("cut", "replace", "drop", "swap"))
        if op == "cut":
            out = out[:i]
        elif op == "replace":
            out[i] = rng.choice(words)
        elif op == "drop":
            del out[i]
        elif i + 1 < len(out):
            out[i], out[i + 1] = out[i + 1], out[i]
        text = " " + " ".join(out).replace("( ", "(").replace(" )", ")")
        if out != toks:
            return text
    return " sorry"


def teacher_sft_pairs(dataset: str, c: WarmStartConfig, keep: list[int] | None = None) -> tuple[list[str], list[str]]:
    """(FD teacher's prompt, proof + fence) for `teacher_pairs` corrupted attempts per train problem
    that the bundled Lean rejects, the feedback made by leanfd's own FD code: Lean's verdict and the
    hint critic over HTTP (`--feedback both` in `leanfd train`)."""
    import asyncio

    from hint_critic import MODEL, TOKEN, HintCritic

    from leanfd.data.benchmarks import load_problems
    from leanfd.data.prompts import PromptBuilder
    from leanfd.feedback.critic import FeedbackConfig, LLMCritic, teacher_feedback
    from leanfd.lean.verifier import Verifier
    from leanfd.models.openai_api import OpenAIBackend
    from leanfd.train.teacher_feedback import teacher_prompt

    rng = random.Random(f"{c.seed}:teacher")
    builder = PromptBuilder(style="completion")
    jobs = []
    problems = load_problems(dataset, split="train")
    for p in problems if keep is None else [problems[i] for i in keep]:
        words = sorted(set(TOKEN.findall(p.formal_statement + p.extra["formal_proof"])))
        jobs += [(p, corrupt(p.extra["formal_proof"], rng, words)) for _ in range(c.teacher_pairs)]
    with Verifier(backend="snapshot", lean="bundled", timeout=60, jobs=2) as verifier:
        verdicts = [f.result() for f in [verifier.submit(p.to_check_record({"proof": a})) for p, a in jobs]]
    config = FeedbackConfig(content="both")
    prompts, targets = [], []
    with HintCritic(dataset) as server:
        critic = LLMCritic(OpenAIBackend(MODEL, base_url=server.url))

        async def feedback(p, attempt, verdict):
            return (await teacher_feedback(p.formal_statement, attempt, verdict, config, critic))[0]

        async def all_():
            return await asyncio.gather(*(feedback(p, a, v) for (p, a), v in zip(jobs, verdicts)))

        texts = asyncio.run(all_())
    for (p, _), v, text in zip(jobs, verdicts, texts):
        if not v.proved and text:
            prompts.append(teacher_prompt(builder.build(p), text))
            targets.append(p.extra["formal_proof"] + FENCE)
    log.info("%d teacher pairs (%d corrupted attempts, %d rejected by Lean)", len(prompts), len(jobs),
             sum(not v.proved for v in verdicts))
    return prompts, targets


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
    # The corpus: each distinct prompt once (the prelude header repeats in all of them, which is what
    # makes its lines single tokens) and every proof, plus the FD teacher's feedback preamble. Not the
    # feedback texts: their varied lines would take the merges that keep the header short.
    from leanfd.train.teacher_feedback import FEEDBACK_INTRO

    tokenizer = train_tokenizer([*dict.fromkeys(prompts), *targets, FEEDBACK_INTRO], c.vocab)
    if c.teacher_pairs:
        t_prompts, t_targets = teacher_sft_pairs(c.dataset, c, keep)
        prompts, targets = prompts + t_prompts, targets + t_targets
    data = encode(tokenizer, prompts, targets)
    with torch.random.fork_rng(devices=[]):
        model = build_model(tokenizer, c)
        losses = sft(model, data, tokenizer.convert_tokens_to_ids(PAD), c)
    out = Path(c.out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    info = {"config": asdict(c), "parameters": sum(p.numel() for p in model.parameters()),
            "sft_pairs": len(data), "mean_tokens": sum(len(d) for d, _ in data) / len(data),
            "losses": losses, "seconds": round(time.monotonic() - t0, 1)}
    (out / "warm_start.json").write_text(json.dumps(info, indent=1) + "\n")
    log.info("%s: %d parameters, %d pairs, final loss %.4f, %.0f s", out, info["parameters"], len(data),
             losses[-1] if losses else float("nan"), info["seconds"])
    return out


def made_with(out: Path, c: WarmStartConfig) -> bool:
    """Whether `out` holds a finished warm start made with the options of `c` (its place aside)."""
    try:
        made = json.loads((out / "warm_start.json").read_text())["config"]
    except (OSError, ValueError, KeyError):
        return False
    same = {**made, "out": c.out} == asdict(c)
    return same and (out / "model.safetensors").is_file()


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
    c = WarmStartConfig(**args)
    if reuse and made_with(Path(c.out), c):
        log.info("%s: reused (made with the same options)", c.out)
        return
    warm_start(c)


if __name__ == "__main__":
    main()
