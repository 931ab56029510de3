"""One error contract: what the user can fix is a `LeanFDError` (ConfigError names the option, InputError the
file or record) and exits 2 with one line; anything else that escapes a command is a bug of leanfd, reported
as one (exit 1, a short message, the traceback only with --debug)."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from conftest import REPO

import leanfd.commands.report as report_command
from leanfd.cli import main
from leanfd.config import load
from leanfd.feedback.compiler import render
from leanfd.feedback.critic import FeedbackConfig, LLMCritic
from leanfd.lean import verifier as verifier_module
from leanfd.lean.auto_backend import SNAPSHOT_MIN_LINES, AutoBackend
from leanfd.lean.errors import ConfigError, InputError, LeanFDError, RecordError
from leanfd.lean.records import Verdict
from leanfd.lean.run import LeanRun
from leanfd.lean.verifier import BACKENDS, BackendName, Verifier, VerifierConfig
from leanfd.lsp.settings import Settings, SettingsError
from leanfd.models.base import Backend, Completion, SamplingConfig
from leanfd.train.config import RolloutConfig, TrainConfig


def test_the_user_errors_are_leanfd_errors_and_value_errors():
    for cls in (ConfigError, InputError, RecordError, SettingsError):
        assert issubclass(cls, LeanFDError) and issubclass(cls, ValueError) and cls.exit_code == 2
    assert issubclass(RecordError, InputError) and issubclass(SettingsError, ConfigError)


def _raising(exc: BaseException):
    def run(args):
        raise exc

    return run


def test_a_library_bug_exits_1_with_a_short_message_and_no_traceback(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(report_command, "run", _raising(ValueError("a bug deep inside")))
    assert main(["report", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("leanfd: internal error: ValueError: a bug deep inside\n")
    assert "run again with --debug for the traceback" in err and "report it" in err
    assert "Traceback" not in err


def test_a_library_bug_shows_its_traceback_with_debug(tmp_path):
    code = ("import sys, leanfd.commands.report as r\n"
            "def run(args): raise ValueError('a bug deep inside')\n"
            "r.run = run\n"
            "from leanfd.cli import main\n"
            f"sys.exit(main(['--debug', 'report', {str(tmp_path)!r}]))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert res.returncode == 1
    assert "Traceback (most recent call last)" in res.stderr and "ValueError: a bug deep inside" in res.stderr
    assert "internal error" not in res.stderr


def test_a_module_leanfd_itself_needs_is_a_bug_not_a_missing_extra(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(report_command, "run", _raising(ModuleNotFoundError("no module", name="leanfd.nothing")))
    assert main(["report", str(tmp_path)]) == 1
    assert "internal error: ModuleNotFoundError" in capsys.readouterr().err


@pytest.mark.parametrize("exc", [ConfigError("--jobs must be at least 1, got 0"),
                                 InputError("runs/a/summary.json: not a summary `leanfd prove` wrote")],
                         ids=["config", "input"])
def test_a_user_error_exits_2_with_its_message_only(monkeypatch, tmp_path, capsys, exc):
    monkeypatch.setattr(report_command, "run", _raising(exc))
    assert main(["report", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"leanfd: error: {exc}\n"


def test_a_config_error_names_the_option_as_the_user_gave_it(tmp_path):
    with pytest.raises(ConfigError, match="^--temperature must be greater than 0, got 0"):
        load(TrainConfig, overrides={"model": "m", "dataset": "d", "temperature": 0})  # a command-line value
    y = tmp_path / "c.yaml"
    y.write_text("model: m\ndataset: d\nrollout: {top_p: 1.5}\n")
    with pytest.raises(ConfigError, match="^rollout.top_p must be at most 1, got 1.5"):
        load(TrainConfig, y)  # a YAML value: its path in the file
    with pytest.raises(ConfigError, match="^temperature must be greater than 0"):
        RolloutConfig(temperature=0)  # a Python caller: the field
    with pytest.raises(ConfigError, match="backend must be one of"):
        VerifierConfig(backend="fast")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="feedback content"):
        FeedbackConfig(content="oracle")  # type: ignore[arg-type]
    with pytest.raises(SettingsError, match="^inlineTimeout must be at least 0"):
        Settings().merge({"inlineTimeout": -1})  # an editor's setting: its camelCase key


def test_lora_dropout_from_the_command_line_is_named_as_a_flag():
    with pytest.raises(ConfigError, match="^--lora-dropout must be less than 1"):
        load(TrainConfig, overrides={"model": "m", "dataset": "d", "lora_dropout": 1})


def test_a_corrupt_summary_is_an_input_error_naming_the_file(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    (tmp_path / "summary.json").write_text("{not json")
    assert main(["report", str(tmp_path), "--plot", str(tmp_path / "p.png")]) == 2
    err = capsys.readouterr().err
    assert "summary.json: not a summary" in err and "internal error" not in err


def test_every_backend_name_has_a_constructor_and_none_is_a_default():
    from typing import get_args

    assert set(BACKENDS) == set(get_args(BackendName))


class _Ran:
    """A stand-in for a Lean backend: every run is `ok`, with no messages."""

    def __init__(self) -> None:
        self.runs = 0

    async def run(self, header: str, body: str, timeout: float) -> LeanRun:
        self.runs += 1
        return LeanRun("ok")

    async def aclose(self) -> None:
        pass


def test_auto_names_on_its_run_the_backend_it_chose():
    made = {"server": _Ran(), "snapshot": _Ran()}
    auto = AutoBackend({k: (lambda k=k: made[k]) for k in made})
    short, long = "prelude\n", "prelude\n" * SNAPSHOT_MIN_LINES
    assert asyncio.run(auto.run(short, "x", 1)).backend == "server"
    assert asyncio.run(auto.run(long, "x", 1)).backend == "snapshot"
    assert (made["server"].runs, made["snapshot"].runs) == (1, 1)


class _Toolchain:
    bundled = False

    def version(self) -> str:
        return "4.35.0"


def test_the_verdict_of_auto_names_the_backend_that_ran_it(monkeypatch):
    """The verdict's backend is the one auto's run reports, not one derived again from the header."""

    class Reports(_Ran):
        async def run(self, header: str, body: str, timeout: float) -> LeanRun:
            run = await super().run(header, body, timeout)
            run.backend = "snapshot"  # what a routing backend says it used
            return run

    monkeypatch.setitem(verifier_module.BACKENDS, "auto", lambda v: Reports())
    record = {"name": "t", "header": "prelude\n", "formal_statement": "theorem t : True :=", "proof": " trivial"}
    with Verifier(VerifierConfig(backend="auto"), toolchain=_Toolchain()) as v:  # type: ignore[arg-type]
        verdict: Verdict = v.check(record)
    assert verdict.backend == "snapshot"  # a 1-line header: choosing again would have said server
    monkeypatch.setitem(verifier_module.BACKENDS, "cli", lambda v: _Ran())
    with Verifier(VerifierConfig(backend="cli"), toolchain=_Toolchain()) as v:  # type: ignore[arg-type]
        assert v.check(record).backend == "cli"


class _Echo(Backend):
    """A model that answers each prompt with the prompt itself, and cannot stream."""

    kind = "echo"
    model_name = "echo"

    def __init__(self) -> None:
        self.prompts: list = []

    async def agenerate(self, prompts, sampling=None, *, seeds=None):
        self.prompts += prompts
        return [[Completion(text=p if isinstance(p, str) else p[-1]["content"])] for p in prompts]


def test_on_sample_is_part_of_every_backend_and_a_no_op_where_it_cannot_stream():
    called = []
    echo = _Echo()
    assert not echo.streams_samples
    out = echo.generate(["a", "b"], SamplingConfig(n=1), on_sample=lambda i, j, c: called.append(i))
    assert [[c.text for c in row] for row in out] == [["a"], ["b"]] and called == []
    echo.close()


def test_the_critic_fills_its_template_once():
    """An attempt (or a statement) that contains `{attempt}` or `{statement}` is text: never expanded again."""
    echo = _Echo()
    critic = LLMCritic(echo, template=None)
    critic.template = "S: {statement}\nA: {attempt}\nC: {compiler_feedback}"
    attempt = "exact foo -- {attempt} {statement} {compiler_feedback}"
    verdict = Verdict(name="t", status="failed", reason="error")
    asyncio.run(critic.afeedback("theorem t : {statement} = 1 :=", attempt, verdict))
    compiler = render(attempt, verdict)  # it quotes the attempt, braces and all
    assert echo.prompts[0][0]["content"] == f"S: theorem t : {{statement}} = 1 :=\nA: {attempt}\nC: {compiler}"
