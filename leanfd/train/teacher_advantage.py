"""The FD teacher's advantage, measured: how much more the teacher proves than the student.

FD moves the student towards its own (EMA) copy shown privileged feedback on a failed attempt. That
helps only while the teacher, in that context, proves more than the student does; a teacher that
cannot read its context is a worse policy, and FD then degrades the student within a few steps
(docs/fd_small.md measured it). So the number is measured, not assumed, on a step's own failed
attempts: the teacher samples one proof from each distilled attempt's privileged prompt, Lean
checks it, and the teacher's pass rate is set beside the student's on the same problems (the share
of each group's first attempts that were proved).

A stage of its own, run at some FD steps (`--teacher-eval-every`): it reads frozen attempts and
the feedback stage's texts and returns counts, summed over processes by the trainer.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass

from leanfd.data.prompts import answer_record
from leanfd.lean.verifier import Verifier
from leanfd.models.base import Backend, SamplingConfig
from leanfd.train.attempts import Attempt
from leanfd.train.teacher_feedback import teacher_prompt

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TeacherAdvantage:
    """Counts over the failed attempts the teacher was sampled on (sums, so processes add up)."""

    attempts: int = 0  # failed attempts with feedback: one teacher sample each
    teacher_proved: int = 0  # of the teacher's samples, proved by Lean
    student_rate_sum: float = 0.0  # over those attempts, their group's student pass rate, summed

    def metrics(self) -> dict[str, float]:
        """`teacher_pass_rate - student_pass_rate` is the advantage, in pass-rate units (0.2: 20 points)."""
        n = max(1, self.attempts)
        teacher, student = self.teacher_proved / n, self.student_rate_sum / n
        return {"teacher_pass_rate": teacher, "student_pass_rate": student, "teacher_advantage": teacher - student,
                "teacher_samples": float(self.attempts)}


def student_rates(attempts: tuple[Attempt, ...]) -> dict[int, float]:
    """Each group's pass rate over its first attempts (revisions are not the student's samples)."""
    proved: dict[int, list[bool]] = {}
    for a in attempts:
        if a.turn == 0:
            proved.setdefault(a.group, []).append(a.proved)
    return {g: sum(p) / len(p) for g, p in proved.items()}


def measure(attempts: tuple[Attempt, ...], feedback: tuple[str | None, ...], teacher: Backend, verifier: Verifier,
            sampling: SamplingConfig, runs: Callable[[int], int] = lambda n: n) -> TeacherAdvantage:
    """Sample the teacher once on each failed attempt that has feedback, have Lean check the samples.

    `runs(n)`: how many prompts to generate for this process's n (a sharded teacher's processes must
    all generate as many: the trainer passes the largest n over processes); the extra ones repeat a
    prompt and are not counted."""
    chosen = [(a, fb) for a, fb in zip(attempts, feedback) if fb is not None and not a.proved]
    prompts = [teacher_prompt(a.prompt, fb) for a, fb in chosen]
    total = runs(len(prompts))
    if total > len(prompts) and attempts:
        prompts += [prompts[0] if prompts else attempts[0].prompt] * (total - len(prompts))
    outs = teacher.generate(prompts, dataclasses.replace(sampling, n=1)) if prompts else []
    futures = [verifier.submit(answer_record(out[0].text, a.problem)) for (a, _), out in zip(chosen, outs)]
    rates = student_rates(attempts)
    return TeacherAdvantage(attempts=len(chosen), teacher_proved=sum(f.result().proved for f in futures),
                            student_rate_sum=sum(rates.get(a.group, 0.0) for a, _ in chosen))


def log_advantage(step: int, adv: TeacherAdvantage, main: bool) -> None:
    """One line per measurement on the main process; a warning when the teacher is no better."""
    if not main:
        return
    m = adv.metrics()
    said = (f"step {step}: the FD teacher proves {m['teacher_pass_rate']:.1%} of {adv.attempts} samples on failed "
            f"attempts, the student {m['student_pass_rate']:.1%} on the same problems: advantage "
            f"{100 * m['teacher_advantage']:+.1f} points")
    if adv.attempts and m["teacher_advantage"] <= 0:
        log.warning("%s. FD distils towards a teacher no better than the student: better feedback (--feedback "
                    "both with a critic) or a model that reads it is needed first (docs/fd_small.md)", said)
    else:
        log.info("%s", said)
