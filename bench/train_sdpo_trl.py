"""FD's nearest peer: TRL's SDPOTrainer (Hubotter et al. 2026, arXiv 2601.20802) on the same model,
problems, group size, lengths, micro-batch and lr as `bench/train.py --methods fd`, with leanfd's
verifier as the reward and, as the EMA teacher's privileged context, the compiler feedback text
leanfd's FD teacher gets.

    /work/trl-venv/bin/python bench/train_sdpo_trl.py --steps 4       # CPU, tiny model
    python bench/train_sdpo_trl.py --size 0.5b --vocab 151936 --bf16  # GPU

How the feedback reaches the teacher. SDPOTrainer takes privileged context as a dataset column,
`privileged_context`, read per sample after sampling (`_prepare_training_batch`), and used when
`include_environment_feedback=True`: the teacher's prompt is `reprompt_template` filled with the
prompt and `feedback_template` around the text. A dataset column is fixed before the attempt,
while Lean's verdict exists only after it, so `sample_rollouts` (TRL's step that samples the
completions) is extended here: it verifies each completion and writes leanfd's feedback into that
sample's `privileged_context` (empty for a proved attempt: not distilled, as leanfd's
`feedback_on=failed`), and the reward function reads the verdict back. The two templates are set so
that the teacher's prompt is, to the character, `leanfd.train.teacher_feedback.teacher_prompt(prompt,
feedback)`; checked at start-up.

Settings against leanfd's FD defaults (leanfd/train/config.py):
- divergence: reverse KL (`distillation_alpha=1.0`), as leanfd's `divergence=reverse_kl`.
- support: the student's top-20 ids plus a tail bucket (`distillation_mode=topk_logits`,
  `distillation_topk=20`, `distillation_add_tail=True`), as `topk=20, topk_from=student`.
- teacher: EMA of the student, rate 0.05 after every optimizer step (`teacher_model_kind=ema`,
  `teacher_update_rate=0.05`, `teacher_sync_steps=1`), as `teacher=ema, ema_rate=0.05`.
- importance clip 2 (`distillation_is_clip=2.0`), as `importance_clip=2`; but TRL applies it only
  to samples reused off-policy (it computes old log-probs only then), so here the weight is 1,
  where leanfd computes min(pi / pi_sampler, 2) from the sampler's log-probs: about 1 on-policy.
- pure distillation (`distillation_weight=1.0`), no KL to a reference (`beta=0`), no successful
  sibling as demonstration (`use_successful_as_teacher=False`), as `sibling=False`.
- lr 1e-6, constant, AdamW, one optimizer step per prompts x group samples in micro-batches.
- prompts are not cut (`max_prompt_length=None`; TRL's default 512 would cut the ~1,270-token ones).

Mismatches that remain (TRL exposes no option for them):
- normaliser: TRL averages each sample's tokens, then the micro-batch's samples, proved
  (masked-out) ones counted as zeros; leanfd takes the token mean over distilled samples only.
- cost: TRL runs the student and teacher forwards on every sample and masks the proved ones;
  leanfd's FD forwards only the samples with feedback. Random weights prove nothing, so here both
  forward all of them.
- gradient checkpointing: TRL's default is on; off here unless `--gradient-checkpointing`, as in
  `bench/train.py`.

Needs leanfd with `leanfd/train/teacher_feedback.py` (main since 2b29a44, the trainer's stages).

The step split (generate; verify; feedback; rest: teacher and student forwards, backward,
optimizer, EMA) is measured around TRL's methods here: SDPOTrainer reports no timings.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path

from train_trl import Timed, bench_args, config_kwargs, step_timer, toy_problems, train, verify


def main() -> None:
    args = bench_args(__doc__.split("\n")[0]).parse_args()

    import trl
    from datasets import Dataset
    from train import build_model
    from trl.experimental.sdpo import SDPOConfig, SDPOTrainer

    from leanfd.feedback.critic import FeedbackConfig, teacher_feedback
    from leanfd.lean.snippet import attempt_text
    from leanfd.lean.verifier import Verifier
    from leanfd.train.teacher_feedback import teacher_prompt

    problems, rows = toy_problems()
    times = {"generate": 0.0, "verify": 0.0, "feedback": 0.0}
    # leanfd's FD defaults: compiler feedback on failed attempts, no sibling
    feedback_config = FeedbackConfig(content="compiler", which="failed", sibling=False)
    # the teacher's prompt is teacher_prompt(prompt, feedback): the feedback block, then the prompt
    templates = {"reprompt_template": "{feedback}{prompt}", "feedback_template": teacher_prompt("", "{feedback_raw}")}
    probe = templates["reprompt_template"].format(
        prompt=rows[0]["prompt"], solution="", feedback=templates["feedback_template"].format(feedback_raw="x {y}"))
    assert probe == teacher_prompt(rows[0]["prompt"], "x {y}"), "SDPO's teacher prompt differs from leanfd's"

    with tempfile.TemporaryDirectory() as tmp, Verifier(backend="server", lean=args.lean) as verifier:

        class CompilerFeedbackSDPO(Timed, SDPOTrainer):
            """SDPOTrainer whose `privileged_context` is leanfd's compiler feedback on each attempt."""

            bench_times = times

            def sample_rollouts(self, inputs):
                batch = super().sample_rollouts(inputs)
                t = time.monotonic()
                texts = self.processing_class.batch_decode(batch["completion_ids"], skip_special_tokens=True)
                checked = verify(verifier, problems, texts, [x["uid"] for x in inputs])
                times["verify"] += time.monotonic() - t
                t = time.monotonic()
                feedbacks = asyncio.run(all_feedback(checked))
                times["feedback"] += time.monotonic() - t
                for example, (_, verdict), (feedback, _) in zip(inputs, checked, feedbacks):
                    example["privileged_context"] = feedback or ""  # "": no feedback, not distilled
                    example["proved"] = verdict.proved
                return batch

        async def all_feedback(checked):
            return await asyncio.gather(*(teacher_feedback(c.formal_statement, attempt_text(c), v, feedback_config)
                                          for c, v in checked))

        def proved(completions, proved, **_):
            return [1.0 if p else 0.0 for p in proved]

        model = build_model(args.size, Path(tmp) / "model", args.vocab)
        timer = step_timer(times)
        config = SDPOConfig(
            **config_kwargs(args, Path(tmp) / "out"), **templates, max_prompt_length=None,
            distillation_weight=1.0, distillation_alpha=1.0, distillation_mode="topk_logits", distillation_topk=20,
            distillation_add_tail=True, distillation_is_clip=2.0, teacher_model_kind="ema", teacher_update_rate=0.05,
            teacher_sync_steps=1, use_successful_as_teacher=False, include_environment_feedback=True,
        )
        data = Dataset.from_list([{**r, "privileged_context": ""} for r in rows])
        trainer = CompilerFeedbackSDPO(model=str(model), reward_funcs=[proved], args=config, train_dataset=data,
                                       callbacks=[timer])
        result = train(f"trl {trl.__version__} SDPOTrainer", args, trainer, timer)
    used = [h["self_distillation/feedback_used_fraction"] for h in trainer.state.log_history
            if "self_distillation/feedback_used_fraction" in h]
    result["feedback_used_fraction"] = round(sum(used) / max(1, len(used)), 3)  # samples the teacher saw feedback for
    print(json.dumps(result))


if __name__ == "__main__":
    main()
