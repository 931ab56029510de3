"""Lean's verdict as another trainer's reward, in one line: TRL's `reward_funcs` and verl's `compute_score`.

    from leanfd.rewards import LeanReward
    GRPOTrainer(model=..., reward_funcs=LeanReward(), train_dataset=ds)                 # Lean in this process
    GRPOTrainer(..., reward_funcs=LeanReward(url="http://127.0.0.1:8000", token="..."))  # a `leanfd serve`

The dataset has leanfd's problem columns (`formal_statement`; `header` and `name` as in leanfd's JSONL
records, a missing header being leanfd's default one) beside TRL's `prompt`. Each completion is read
as leanfd's own rollout reads it (`extract_proof`: the proof that continues the statement, or the
whole theorem from a ```lean4 block), checked soundly, all of a batch at once, and scored by
`leanfd.train.reward.attempt_reward`, the rule of `leanfd train`:

- 1.0 for `proved` (the reference theorem, the same type, allowed axioms only);
- `format_reward` (default 0) for an attempt Lean read whole without an error that is not proved
  (a `sorry`);
- 0.0 for everything else: an error, a `rejected` attempt (a proof of another statement, a forbidden
  axiom, a policy refusal), and a check Lean could not finish (`timeout`, `crashed`).

When the verification itself cannot happen (the server is down or refuses the request, a Lean
process cannot be started), nothing is scored: `LeanReward` raises `RewardError`, naming the URL and
what went wrong, after `retries` tries for what may pass (no connection, HTTP 5xx; a busy server's
429 is waited for as its `Retry-After` says, up to `http_timeout`). With `on_error="zero"` the batch
scores 0.0 instead, with a warning: never 1.0, and never a reward for an attempt nobody checked.

verl: `compute_score(data_source, solution_str, ground_truth, extra_info)` for its default reward
manager, `compute_score_batch` for `reward_manager=batch` (one concurrent check per batch). The
statement is `ground_truth` (or `ground_truth["formal_statement"]`); `header` and `name` come from
`extra_info` or from a `ground_truth` dict. `url`, `token`, `format_reward` are keywords
(verl's `custom_reward_function.reward_kwargs`), else the variables `LEANFD_REWARD_URL` and
`LEANFD_REWARD_TOKEN` (or the server's own `LEANFD_SERVE_TOKEN`); with no URL, Lean runs in the process.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from leanfd.data.benchmarks import Problem
from leanfd.data.prompts import answer_record
from leanfd.lean.errors import LeanFDError, RecordError
from leanfd.lean.records import CheckRecord, Verdict
from leanfd.lean.verifier import Verifier, VerifierConfig
from leanfd.train.reward import attempt_reward

log = logging.getLogger(__name__)

OnError = Literal["raise", "zero"]
# TRL's own keywords to a reward function: not dataset columns.
_TRL_KEYWORDS = frozenset({"trainer_state", "log_extra", "log_metric", "environments"})
_PROBLEM_FIELDS = ("name", "header", "formal_statement", "informal_prefix", "split", "goal")


class RewardError(LeanFDError):
    """The verification behind a reward could not happen: a server unreachable, an HTTP error, an
    answer that is not verdicts, or a dataset row that is no problem. The message names which."""


_shared: dict[VerifierConfig, Verifier] = {}
_shared_lock = threading.Lock()


def shared_verifier(config: VerifierConfig | None = None) -> Verifier:
    """The process's one `Verifier` for `config` (default: `VerifierConfig()`), started on first use
    and closed when the process exits, so every reward call reuses warm Lean processes."""
    config = config or VerifierConfig()
    with _shared_lock:
        if config not in _shared:
            if not _shared:
                atexit.register(close_shared_verifiers)
            _shared[config] = Verifier(config)
        return _shared[config]


def close_shared_verifiers() -> None:
    """Close the shared verifiers now (they are closed at exit anyway); the next use starts new ones."""
    with _shared_lock:
        for v in _shared.values():
            v.close()
        _shared.clear()


def completion_text(completion: Any) -> str:
    """The text of a TRL completion: a string, or (conversational) a list of messages, whose
    assistant contents are joined."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence):
        return "".join(m.get("content") or "" for m in completion
                       if isinstance(m, Mapping) and m.get("role", "assistant") == "assistant")
    raise RewardError(f"a completion must be text or a list of messages, not {type(completion).__name__}")


def check_record(row: Mapping[str, Any], text: str, where: str = "") -> CheckRecord:
    """The record leanfd checks for `text` answering the problem of dataset `row`, as leanfd's rollout
    builds it (`Problem.from_dict`, `answer_record`). RewardError for a row that is
    no problem, naming `where` and the field."""
    try:
        problem = Problem.from_dict({k: row[k] for k in _PROBLEM_FIELDS if row.get(k) is not None})
    except RecordError as e:
        raise RewardError(f"{where or 'a row'} is not a leanfd problem: {e} (the dataset needs a "
                          f"'formal_statement' column; 'header' and 'name' as in leanfd's JSONL records)") from None
    return answer_record(text, problem)


class LeanReward:
    """A TRL reward function (`reward_funcs=LeanReward(...)`) scoring each completion by Lean's verdict.

    In-process (default): checks on `verifier`, or the process's shared one for `verifier_config`
    (`shared_verifier`). With `url`: POSTs the records to a `leanfd serve` at that address
    (`/v1/check`, `Authorization: Bearer token` when a token is given). Scores and failures: the
    module docstring. `calls` counts the batches scored and `last_verdicts` holds the latest batch's
    verdicts, aligned with its completions.
    """

    def __init__(self, verifier: Verifier | None = None, *, url: str | None = None, token: str | None = None,
                 verifier_config: VerifierConfig | None = None, format_reward: float = 0.0,
                 timeout: float | None = None, on_error: OnError = "raise", retries: int = 3,
                 http_timeout: float = 3600.0, chunk: int = 64):
        if verifier is not None and url is not None:
            raise ValueError("give either verifier= (Lean in this process) or url= (a leanfd serve), not both")
        if on_error not in ("raise", "zero"):
            raise ValueError(f"on_error must be 'raise' or 'zero', not {on_error!r}")
        if token is not None and url is None:
            raise ValueError("token= is for a server: give url= too")
        self.__name__ = "lean_reward"  # what TRL logs the reward under (rewards/lean_reward/mean)
        self.format_reward, self.on_error = format_reward, on_error
        self.calls = 0
        self.last_verdicts: list[Verdict] = []
        if url is not None:
            self._check = _Remote(url, token, timeout, retries, http_timeout, chunk).check
        else:
            self._verifier = verifier
            self._config = verifier_config
            self._check = self._check_here

    def _check_here(self, records: list[CheckRecord]) -> list[Verdict]:
        verifier = self._verifier or shared_verifier(self._config)
        futures = [verifier.submit(r) for r in records]  # all in flight before any is awaited
        try:
            return [f.result() for f in futures]
        except LeanFDError as e:
            for f in futures:
                f.cancel()
            raise RewardError(f"Lean could not check the batch in this process: {e}") from e

    def __call__(self, prompts: list | None = None, completions: list | None = None, **columns: Any) -> list[float]:
        completions = completions or []
        log_metric = columns.get("log_metric")
        columns = {k: v for k, v in columns.items() if k not in _TRL_KEYWORDS and k != "completion_ids"}
        records = [check_record({k: v[i] for k, v in columns.items()}, completion_text(c), f"dataset row {i}")
                   for i, c in enumerate(completions)]
        scores = self.score(records)
        if callable(log_metric) and self.last_verdicts:  # TRL logs it beside its own metrics
            log_metric("leanfd/proved", sum(v.proved for v in self.last_verdicts) / len(self.last_verdicts))
        return scores

    def score(self, records: list[CheckRecord]) -> list[float]:
        """Check `records` (all at once) and score each verdict; see the module docstring."""
        self.calls += 1
        if not records:
            self.last_verdicts = []
            return []
        try:
            verdicts = self._check(records)
        except RewardError as e:
            if self.on_error == "raise":
                raise
            log.warning("no verdicts, so %d attempts score 0.0: %s", len(records), e)
            self.last_verdicts = []
            return [0.0] * len(records)
        self.last_verdicts = verdicts
        return [attempt_reward(v, self.format_reward) for v in verdicts]


class _Remote:
    """The records to a `leanfd serve`'s `POST /v1/check`, in chunks sent at once, verdicts back in order."""

    def __init__(self, url: str, token: str | None, timeout: float | None, retries: int, http_timeout: float,
                 chunk: int):
        import httpx

        self.url = url.rstrip("/")
        self.endpoint = self.url + "/v1/check"
        self.timeout, self.retries, self.chunk = timeout, max(1, retries), max(1, chunk)
        self.http_timeout = http_timeout
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(headers=headers, timeout=httpx.Timeout(http_timeout, connect=10.0))
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="leanfd-reward")

    def check(self, records: list[CheckRecord]) -> list[Verdict]:
        chunks = [records[i:i + self.chunk] for i in range(0, len(records), self.chunk)]
        return [v for part in self._pool.map(self._post, chunks) for v in part]

    def _post(self, records: list[CheckRecord]) -> list[Verdict]:
        import httpx

        body: dict[str, Any] = {"records": [_wire(r) for r in records]}
        if self.timeout is not None:
            body["timeout"] = self.timeout
        busy_until = time.monotonic() + self.http_timeout  # how long a busy server (429) is waited for
        failures = 0
        while True:
            try:
                response = self._client.post(self.endpoint, json=body)
            except httpx.ReadTimeout:  # the server has the checks and is slow: asking again would not help
                raise RewardError(f"leanfd serve at {self.url} did not answer within {self.http_timeout:g} s "
                                  "(http_timeout=)") from None
            except httpx.HTTPError as e:  # no connection, or it broke: a check is pure, so asking again is safe
                failures += 1
                if failures >= self.retries:
                    raise RewardError(f"cannot reach leanfd serve at {self.url} after {failures} tries: "
                                      f"{type(e).__name__}: {e} (is `leanfd serve` running there?)") from None
                time.sleep(2 ** (failures - 1))
                continue
            if response.status_code == 429 and time.monotonic() < busy_until:  # its queue is full: come back
                time.sleep(_retry_after(response))
                continue
            if response.status_code >= 500:
                failures += 1
                if failures < self.retries:
                    time.sleep(2 ** (failures - 1))
                    continue
            return self._verdicts(response, len(records))

    def _verdicts(self, response: Any, expected: int) -> list[Verdict]:
        where = f"leanfd serve at {self.url}"
        if response.status_code in (401, 403):
            raise RewardError(f"{where} refused the request (HTTP {response.status_code}: {_detail(response)}); "
                              "give token= the server's token")
        if response.status_code != 200:
            raise RewardError(f"{where} answered POST /v1/check with HTTP {response.status_code}: {_detail(response)}")
        try:
            verdicts = [Verdict.from_dict(d) for d in response.json()["verdicts"]]
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise RewardError(f"{where} answered 200 without verdicts ({type(e).__name__}: {e}): "
                              f"{response.text[:200]!r}") from None
        if len(verdicts) != expected:
            raise RewardError(f"{where} answered {len(verdicts)} verdicts for {expected} records")
        return verdicts


def _wire(r: CheckRecord) -> dict[str, str]:
    """What the server needs of a record: the problem and the attempt, not the dataset's other columns."""
    d = {"name": r.name, "header": r.header, "formal_statement": r.formal_statement}
    return {**d, "code": r.code} if r.code is not None else {**d, "proof": r.proof or ""}


def _retry_after(response: Any) -> float:
    """The seconds a 429 asks the client to wait (`Retry-After`), within 0.1 and 60; 1 when it says none."""
    try:
        return min(60.0, max(0.1, float(response.headers.get("Retry-After", 1))))
    except ValueError:
        return 1.0


def _detail(response: Any) -> str:
    """The server's own reason (`detail`, `error` or `message` of a JSON body), else the body's start."""
    try:
        body = response.json()
        detail = next((body[k] for k in ("detail", "error", "message") if body.get(k)), None)
    except (ValueError, AttributeError):
        detail = None
    return str(detail) if detail else (response.text[:200] or response.reason_phrase)


# --- verl ---------------------------------------------------------------------------------------

_rewards: dict[tuple, LeanReward] = {}
_rewards_lock = threading.Lock()


def _reward(url: str | None, token: str | None, format_reward: float, on_error: OnError) -> LeanReward:
    """One LeanReward per settings for the process (verl calls `compute_score` once per sample)."""
    url = url or os.environ.get("LEANFD_REWARD_URL") or None
    token = token or os.environ.get("LEANFD_REWARD_TOKEN") or os.environ.get("LEANFD_SERVE_TOKEN") or None
    key = (url, token, format_reward, on_error)
    with _rewards_lock:
        if key not in _rewards:
            _rewards[key] = LeanReward(url=url, token=token if url else None, format_reward=format_reward,
                                       on_error=on_error)
        return _rewards[key]


def _verl_row(ground_truth: Any, extra_info: Any) -> dict[str, Any]:
    """The problem of a verl sample: the statement in `ground_truth` (text or a dict of fields),
    `header` and `name` in `extra_info` (or in the `ground_truth` dict)."""
    row = dict(extra_info) if isinstance(extra_info, Mapping) else {}
    if isinstance(ground_truth, Mapping):
        row.update(ground_truth)
    else:
        row["formal_statement"] = ground_truth
    return row


def compute_score(data_source: str, solution_str: str, ground_truth: Any, extra_info: Any = None, *,
                  url: str | None = None, token: str | None = None, format_reward: float = 0.0,
                  on_error: OnError = "raise", **_: Any) -> float:
    """verl's reward function for one sample (`custom_reward_function.name=compute_score`)."""
    return compute_score_batch([data_source], [solution_str], [ground_truth], [extra_info], url=url, token=token,
                               format_reward=format_reward, on_error=on_error)[0]


def compute_score_batch(data_sources: Sequence[str], solution_strs: Sequence[str], ground_truths: Sequence[Any],
                        extra_infos: Sequence[Any] | None = None, *, url: str | None = None, token: str | None = None,
                        format_reward: float = 0.0, on_error: OnError = "raise", **_: Any) -> list[float]:
    """verl's batch reward function (`reward_manager=batch`): every sample checked at once."""
    extra_infos = extra_infos if extra_infos is not None else [None] * len(solution_strs)
    records = [check_record(_verl_row(g, e), s, f"sample {i} ({d})")
               for i, (d, s, g, e) in enumerate(zip(data_sources, solution_strs, ground_truths, extra_infos,
                                                     strict=True))]
    return _reward(url, token, format_reward, on_error).score(records)
