"""Search, verify, rank: the language server's work, apart from the protocol.

One search at a site (see `sites`):
1. Lean reads the goal there, on a shadow copy of the document (the user's buffer is never touched):
   `probe_text` turns the site into a hole or keeps the tactic `sorry`, and the pooled `lean --server`
   answers `$/lean/plainTermGoal` / `$/lean/plainGoal`. Fallbacks, in order: the goal printed in a
   `don't know how to synthesize placeholder` or `unsolved goals` error of the declaration, then (for a
   whole proof) the statement. A parse error in the declaration, or no goal at all, ends the search
   before the model is asked.
2. The model samples `samples` completions of the prompt (`prompts.prompt`); each is cut back to one
   candidate, duplicates are merged (their count is part of the model's score), and candidates
   breaking the soundness policy (`leanfd.lean.policy.scan`: `#exit`, `axiom`, ...) are dropped.
3. Each candidate is checked by elaborating the whole shadow document with it in place (up to the end
   of the declaration), on the pool, all at once. `classify` reads the messages of the declaration.
4. `rank`: closes the goal > progress without error > model score (samples agreeing, then mean
   token log-probability where the backend reports it).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from leanfd.lean.errors import LeanFDError
from leanfd.lean.messages import PARSE_ERROR, UNSOLVED_GOALS, goals_of, is_sorry_warning, placeholder_context
from leanfd.lean.policy import Policy, scan
from leanfd.lean.positions import utf16_position
from leanfd.lean.process import kill_marked
from leanfd.lean.run import LeanRun, Message
from leanfd.lean.server import ServerBackend
from leanfd.lean.snippet import split_file
from leanfd.lean.toolchain import resolve
from leanfd.lean.vocabulary import SORRY_WORDS
from leanfd.lsp import prompts
from leanfd.lsp.settings import Settings, SettingsError
from leanfd.lsp.sites import Site, SiteKind
from leanfd.models import Backend, Completion, SamplingConfig, load_backend
from leanfd.models.base import gather_or_cancel

log = logging.getLogger(__name__)

Status = Literal["closes", "progress"]
Report = Callable[[str, int | None], None]  # (message, percentage)


class NoGoal(LeanFDError):
    """Lean shows no goal at the site (a parse error, no goals left, ...): nothing to search for.

    `broken`: the declaration does not parse, so no search can succeed until the text changes."""

    def __init__(self, message: str, broken: bool = False) -> None:
        super().__init__(message)
        self.broken = broken


@dataclass
class Candidate:
    """One distinct candidate from the model: how many samples gave it, their mean token log-prob."""

    text: str
    order: int  # index of the first sample that gave it
    count: int = 1
    logprob: float = 0.0  # mean per-token log-probability of that sample; 0.0 when unknown


@dataclass
class Suggestion:
    """A candidate Lean accepted at a site. `start`/`end`/`new_text`: the edit, in document offsets."""

    text: str
    status: Status
    kind: SiteKind
    start: int
    end: int
    new_text: str
    count: int = 1
    score: float = 0.0
    goals: list[str] = field(default_factory=list)  # goals left after it (progress)
    order: int = 0

    def rank_key(self) -> tuple[Any, ...]:
        return (0 if self.status == "closes" else 1, -self.count, -self.score, self.order)


@dataclass
class Outcome:
    goal: str
    suggestions: list[Suggestion]
    sampled: int = 0  # completions from the model
    rejected: int = 0  # candidates the policy refused
    checked: int = 0  # candidates Lean elaborated


def rank(suggestions: list[Suggestion]) -> list[Suggestion]:
    return sorted(suggestions, key=Suggestion.rank_key)


def merge(old: list[Suggestion], new: list[Suggestion]) -> list[Suggestion]:
    """Results of two searches at the same site: one per text, counts added, ranked."""
    by_text: dict[str, Suggestion] = {}
    for s in old + new:
        key = " ".join(s.text.split())
        if key in by_text:
            kept = by_text[key]
            kept.count += s.count
            kept.score = max(kept.score, s.score)
        else:
            by_text[key] = Suggestion(**{**s.__dict__, "goals": list(s.goals)})
    return rank(list(by_text.values()))


def collect(completions: list[Completion], site: Site, policy: Policy = Policy()) -> tuple[list[Candidate], int]:
    """Distinct candidates of the completions, in first-seen order, and how many the policy rejected."""
    found: dict[str, Candidate] = {}
    rejected = 0
    for i, c in enumerate(completions):
        text = prompts.candidate(c.text, site)
        if not text or text.strip() in SORRY_WORDS:
            continue
        key = " ".join(text.split())
        if key in found:
            found[key].count += 1
            continue
        if scan(text, policy).violations:
            rejected += 1
            continue
        lps = [lp for lp in (c.logprobs or []) if math.isfinite(lp)]
        found[key] = Candidate(text, i, logprob=sum(lps) / len(lps) if lps else 0.0)
    return list(found.values()), rejected


def goal_from_answer(method: str, answer: Any) -> str | None:
    """The goal text of a `$/lean/plainTermGoal` or `$/lean/plainGoal` answer ("" for no goals left)."""
    if not isinstance(answer, dict):
        return None
    if method == "$/lean/plainTermGoal":
        goal = answer.get("goal")
        return goal if isinstance(goal, str) else None
    goals = answer.get("goals")
    if not isinstance(goals, list):
        return None
    return "\n\n".join(str(g) for g in goals)


def goal_from_messages(messages: list[Message], decl_line: int) -> str | None:
    """The goal Lean printed in an error of the declaration: a hole's context, or unsolved goals."""
    for m in messages:
        if m.line >= decl_line and (context := placeholder_context(m)) is not None:
            return context
    left = goals_of([m for m in messages if m.line >= decl_line])
    return "\n\n".join(left) if left else None


def classify(run: LeanRun, decl_line: int, site: Site, goal_before: str,
             candidate_sorry: bool) -> tuple[Status | None, list[str], str]:
    """(status or None, goals left, why not) of a candidate's run, from the declaration's messages.

    closes: no error in the declaration, no `sorry` in the candidate, and no `sorry` left at all unless
    the declaration has others outside the site. progress: the only errors are `unsolved goals` whose
    goals differ from the goal before, or no error but a `sorry` inside the candidate.
    """
    if run.outcome != "ok":
        return None, [], run.detail or f"Lean {run.outcome}"
    mine = [m for m in run.messages if m.line >= decl_line]
    errors = [m for m in mine if m.severity == "error"]
    others = [m for m in errors if not m.text.startswith(UNSOLVED_GOALS)]
    if others:
        return None, [], others[0].text.split("\n", 1)[0]
    if not errors:
        sorry_left = any(is_sorry_warning(m) for m in mine)
        if candidate_sorry or (sorry_left and site.other_sorries == 0):
            return "progress", [], ""
        return "closes", [], ""
    left = goals_of(errors)
    if _same(left, goal_before):
        return None, left, "no progress: the same goals are left"
    return "progress", left, ""


def _same(goals: list[str], goal: str) -> bool:
    return " ".join(" ".join(goals).split()) == " ".join(goal.split())


class Engine:
    """The Lean pool and the model backend of a server, built lazily and rebuilt when settings change."""

    def __init__(self, settings: Settings, policy: Policy = Policy()) -> None:
        self.settings = settings
        self.policy = policy
        self._pool: ServerBackend | None = None
        self._pool_key: tuple[Any, ...] | None = None
        self._model: Backend | None = None
        self._model_key: tuple[Any, ...] | None = None
        self._pool_lock = asyncio.Lock()
        self._model_lock = asyncio.Lock()  # loading an hf model takes seconds: Lean need not wait for it
        self._retired: list[Any] = []

    def configure(self, settings: Settings) -> None:
        """Use new settings; the pool or model they replace is closed at the next search or `aclose`."""
        self.settings = settings

    async def pool(self) -> ServerBackend:
        s = self.settings
        key = (s.lean, s.lean_jobs)
        async with self._pool_lock:
            if self._pool is not None and self._pool_key != key:
                self._retired.append(self._pool)
                self._pool = None
            if self._pool is None:
                toolchain = await asyncio.to_thread(resolve, s.lean)  # may compile the bundled launcher once
                self._pool = ServerBackend(toolchain, workers=s.lean_jobs, timeout=s.timeout)
                self._pool_key = key
            pool = self._pool
        await self._close_retired()
        return pool

    async def model(self) -> Backend:
        s = self.settings
        if not s.model:
            raise SettingsError("no model is configured: set leanfd.model (and leanfd.backend, leanfd.baseUrl)")
        key = (s.backend, s.model, s.base_url, s.timeout)
        async with self._model_lock:
            if self._model is not None and self._model_key != key:
                self._retired.append(self._model)
                self._model = None
            if self._model is None:
                if s.backend in ("openai", "anthropic"):
                    self._model = load_backend(s.backend, s.model, base_url=s.base_url, timeout=s.timeout,
                                               max_retries=1)
                else:  # loads weights: off the event loop
                    self._model = await asyncio.to_thread(load_backend, s.backend, s.model)
                self._model_key = key
            model = self._model
        await self._close_retired()
        return model

    async def search(self, text: str, site: Site, report: Report | None = None, budget: float | None = None) -> Outcome:
        """Goal, samples, checks and ranking at `site`, within `budget` seconds (default: the timeout).

        Raises NoGoal, SettingsError, ModelError or LeanFDError (a Lean that cannot start); a
        candidate whose check times out or crashes Lean is dropped. When the budget runs out during the
        checks, what was verified so far is returned.
        """
        report = report or (lambda message, percentage: None)
        deadline = time.monotonic() + (budget or self.settings.timeout)
        report("reading the goal", 0)
        goal = await self.goal(text, site, deadline)
        report("asking the model", 10)
        model = await self.model()
        s = self.settings
        sampling = SamplingConfig(n=s.samples, temperature=s.temperature, max_tokens=s.max_tokens, stop=prompts.STOP)
        try:
            batch = await asyncio.wait_for(model.agenerate([prompts.prompt(text, site, goal)], sampling),
                                           max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            raise LeanFDError(f"the model gave no answer within {budget or s.timeout:g} s") from None
        completions = batch[0]
        candidates, rejected = collect(completions, site, self.policy)
        outcome = Outcome(goal, [], sampled=len(completions), rejected=rejected)
        done = 0

        async def check(c: Candidate) -> Suggestion | None:
            nonlocal done
            result = await self.check(text, site, c, goal, deadline)
            done += 1
            outcome.checked = done
            report(f"checked {done}/{len(candidates)} candidates", 20 + 80 * done // max(1, len(candidates)))
            return result

        report(f"checking {len(candidates)} candidates", 20)
        results = await gather_or_cancel([check(c) for c in candidates])
        outcome.suggestions = rank([r for r in results if r is not None])
        return outcome

    async def goal(self, text: str, site: Site, deadline: float) -> str:
        shadow, offset, method = site.probe_text(text)
        header, body = split_file(shadow)
        pool = await self.pool()
        query = (method, {"position": utf16_position(shadow, offset)})
        run, answers = await pool.run_queries(header, body, [query], max(0.1, deadline - time.monotonic()))
        if run.outcome != "ok":
            raise NoGoal(f"Lean could not read the goal ({run.outcome}: {run.detail})")
        decl_line = site.decl_line(shadow)
        mine = [m for m in run.messages if m.severity == "error" and m.line >= decl_line]
        parse = [m for m in mine if PARSE_ERROR.match(m.text)]
        if parse:
            first = parse[0]
            raise NoGoal(f"Lean cannot parse this declaration (line {first.line}: {first.text.splitlines()[0]})",
                         broken=True)
        goal = goal_from_answer(method, answers[0] if answers else None)
        if goal is None:
            goal = goal_from_messages(run.messages, decl_line)
        if goal is None and site.kind == "proof":
            goal = text[site.decl.start : site.decl.assign.start].strip() if site.decl.assign else None
        if goal is None:
            raise NoGoal("Lean shows no goal here")
        if not goal.strip():
            raise NoGoal("no goals are left here")
        return goal

    async def check(self, text: str, site: Site, c: Candidate, goal: str, deadline: float) -> Suggestion | None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        shadow = site.shadow(text, c.text)
        header, body = split_file(shadow)
        pool = await self.pool()
        run = await pool.run(header, body, remaining)
        status, left, why = classify(run, site.decl_line(shadow), site, goal, scan(c.text, self.policy).sorry)
        if status is None:
            log.debug("candidate %r rejected: %s", c.text, why)
            return None
        return Suggestion(c.text, status, site.kind, site.start, site.end, site.new_text(c.text), count=c.count,
                          score=c.logprob, goals=left, order=c.order)

    async def _close_retired(self) -> None:
        retired, self._retired = self._retired, []
        for thing in retired:
            try:
                await thing.aclose()
            except Exception as e:  # noqa: BLE001 - closing a replaced backend must not fail a search
                log.warning("closing %r failed: %r", thing, e)

    async def aclose(self) -> None:
        """Close the Lean pool and the model backend (and whatever settings changes replaced)."""
        if self._pool is not None:
            self._retired.append(self._pool)
            self._pool = None
        if self._model is not None:
            self._retired.append(self._model)
            self._model = None
        await self._close_retired()

    def kill_leftovers(self) -> None:
        """After the event loop is gone: kill whatever Lean process of the pool still runs (sync)."""
        for pool in [p for p in (self._pool, *self._retired) if isinstance(p, ServerBackend)]:
            kill_marked(pool.marker, prefix=True)
