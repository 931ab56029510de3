"""Prompts for provers, and turning a model's completion back into what the verifier checks.

Two styles:
- `completion`: DeepSeek-Prover-V1.5's non-CoT prompt, `Complete the following Lean 4 code:` and an
  open ```lean4 block holding header, informal prefix and statement; the model continues with the
  proof and closes the block. Few-shot examples come first, each a closed block with its proof.
- `chat`: a list of `{"role", "content"}` messages (system, then a user/assistant pair per example,
  then the problem); the model answers with a whole ```lean4 block.

Templates are the files `leanfd/data/templates/*.txt`; any of them can be replaced by a file of one's
own (the final newline of a template file is dropped). Placeholders, `{name}` with a known name, are
filled in one pass, so braces in Lean code or in the values are left alone: `{name}`, `{header}`,
`{informal_prefix}`, `{formal_statement}`, `{goal}`, `{code}` (header + informal prefix + statement,
trailing whitespace removed) and, in example templates, `{formal_proof}`.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal, Union

from leanfd.data.benchmarks import Problem, iter_jsonl
from leanfd.data.errors import DataError
from leanfd.lean.records import BadLine, CheckRecord
from leanfd.lean.syntax import LeanSyntaxError, split_header, tokenize
from leanfd.lean.vocabulary import STATEMENT_KEYWORDS

logger = logging.getLogger(__name__)

Style = Literal["completion", "chat"]
STYLES: tuple[str, ...] = ("completion", "chat")
TEMPLATE_NAMES = ("completion", "completion_example", "chat_system", "chat_user", "chat_assistant")
Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": ...}
Prompt = Union[str, list[Message]]
PathLike = Union[str, Path]


def load_template(name: str, path: PathLike | None = None) -> str:
    """The packaged template `name` (one of TEMPLATE_NAMES), or the file at `path` instead."""
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise DataError(f"cannot read the {name} template {path}: {e}") from None
    else:
        if name not in TEMPLATE_NAMES:
            raise DataError(f"no packaged template {name!r}; the templates are {', '.join(TEMPLATE_NAMES)}")
        text = resources.files("leanfd.data").joinpath("templates", f"{name}.txt").read_text(encoding="utf-8")
    return text[:-1] if text.endswith("\n") else text


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def fill_template(template: str, values: Mapping[str, str]) -> str:
    """Fill `{key}` for the keys of `values` in one pass; other braces stay as they are."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def problem_values(problem: Problem, proof: str | None = None) -> dict[str, str]:
    values = {
        "name": problem.name, "header": problem.header, "informal_prefix": problem.informal_prefix,
        "formal_statement": problem.formal_statement, "goal": problem.goal,
        "code": (problem.header + problem.informal_prefix + problem.formal_statement).rstrip(),
    }
    if proof is not None:
        values["formal_proof"] = proof
    return values


@dataclass(frozen=True)
class Example:
    """A few-shot example: a problem and a proof that follows its statement."""

    problem: Problem
    proof: str


def load_examples(path: PathLike) -> list[Example]:
    """Few-shot examples from a JSONL file of problems with `formal_proof` (the proof after the
    statement, as in DeepSeek-Prover's `minif2f_valid_few_shot.jsonl`). Bad lines are logged and skipped."""
    try:
        items = list(iter_jsonl(path))
    except OSError as e:
        raise DataError(f"cannot read the few-shot file {path}: {e}") from None
    examples: list[Example] = []
    for item in items:
        if isinstance(item, BadLine):
            logger.warning("%s:%d: skipped: %s", item.path, item.line, item.error)
        elif not isinstance(item.extra.get("formal_proof"), str):
            logger.warning("%s: example %r skipped: it has no 'formal_proof' string", path, item.name)
        else:
            examples.append(Example(item, item.extra["formal_proof"]))
    if not examples:
        raise DataError(f"{path} holds no few-shot example (records with 'formal_proof')")
    return examples


def pick_examples(examples: Sequence[Example], problem: Problem, k: int, seed: int = 0) -> list[Example]:
    """k examples other than the problem itself (by name), drawn without replacement; the same for
    the same problem and seed whatever else is being proved, so runs are reproducible."""
    pool = [e for e in examples if e.problem.name != problem.name]
    return random.Random(f"{seed}:{problem.uid}").sample(pool, min(k, len(pool)))


def completion_prompt(
    problem: Problem, examples: Sequence[Example] = (), *,
    template: str | None = None, example_template: str | None = None,
) -> str:
    """DeepSeek-Prover style: the examples' closed blocks, then the problem's open block.

    `template` and `example_template` are template texts (see `load_template`); None: the packaged ones.
    """
    template = load_template("completion") if template is None else template
    example_template = load_template("completion_example") if example_template is None else example_template
    shots = "".join(fill_template(example_template, problem_values(e.problem, e.proof)) for e in examples)
    return shots + fill_template(template, problem_values(problem))


def chat_prompt(
    problem: Problem, examples: Sequence[Example] = (), *,
    system: str | None = None, user_template: str | None = None, assistant_template: str | None = None,
) -> list[Message]:
    """Chat messages: the system text (none when empty), a user/assistant pair per example, the problem."""
    system = load_template("chat_system") if system is None else system
    user_template = load_template("chat_user") if user_template is None else user_template
    assistant_template = load_template("chat_assistant") if assistant_template is None else assistant_template
    messages: list[Message] = [{"role": "system", "content": system}] if system.strip() else []
    for e in examples:
        messages.append({"role": "user", "content": fill_template(user_template, problem_values(e.problem))})
        answer = fill_template(assistant_template, problem_values(e.problem, e.proof))
        messages.append({"role": "assistant", "content": answer})
    messages.append({"role": "user", "content": fill_template(user_template, problem_values(problem))})
    return messages


@dataclass
class PromptBuilder:
    """Builds the prompt of each problem for one style, with templates and examples read once.

    Template paths replace the packaged files: `template` the main one (`completion.txt` or
    `chat_user.txt`), `example_template` the one for examples (`completion_example.txt` or
    `chat_assistant.txt`), `system_template` the chat system message (an empty file: none).
    """

    style: Style = field(default="completion", metadata={"help": "completion (base models) or chat (instruct models)"})
    template: PathLike | None = field(default=None, metadata={"help": "file replacing the main template"})
    example_template: PathLike | None = field(default=None, metadata={"help": "file replacing the example template"})
    system_template: PathLike | None = field(default=None, metadata={"help": "file replacing the chat system message"})
    few_shot: PathLike | None = field(default=None, metadata={"help": "JSONL of examples with formal_proof"})
    num_few_shot: int = field(default=3, metadata={"help": "examples per prompt (DeepSeek-Prover-V1.5 used 3)"})
    seed: int = field(default=0, metadata={"help": "seeds the choice of examples"})

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise DataError(f"style must be one of {', '.join(STYLES)}, got {self.style!r}")
        if self.num_few_shot < 0:
            raise DataError(f"num_few_shot must be at least 0, got {self.num_few_shot}")
        chat = self.style == "chat"
        self._main = load_template("chat_user" if chat else "completion", self.template)
        self._example = load_template("chat_assistant" if chat else "completion_example", self.example_template)
        self._system = load_template("chat_system", self.system_template) if chat else ""
        self._examples = load_examples(self.few_shot) if self.few_shot is not None and self.num_few_shot else []

    def build(self, problem: Problem) -> Prompt:
        examples = pick_examples(self._examples, problem, self.num_few_shot, self.seed)
        if self.style == "chat":
            return chat_prompt(problem, examples, system=self._system, user_template=self._main,
                               assistant_template=self._example)
        return completion_prompt(problem, examples, template=self._main, example_template=self._example)


# --- completions back to check records ------------------------------------------------------------

_OPEN_FENCE = re.compile(r"```[ \t]*(lean4|lean)?[ \t]*\n")


def _declaration(name: str) -> re.Pattern[str] | None:
    """What declaring `name` looks like (`theorem NAME`, `lemma _root_.NAME`, ...); None for no name."""
    if not name:
        return None
    bare = re.escape(name.removeprefix("_root_."))
    return re.compile(rf"(?<![\w.'])(?:{'|'.join(STATEMENT_KEYWORDS)})\s+(?:_root_\.)?{bare}(?![\w.'!?])")


def _declares(text: str, decl: re.Pattern[str] | None) -> bool:
    return decl is not None and decl.search(text) is not None


def _starts_with_declaration(text: str, decl: re.Pattern[str] | None) -> bool:
    """Whether `text`, after imports, options, comments and modifiers, starts by declaring the theorem."""
    if decl is None:
        return False
    rest = text[split_header(text).end :]
    try:
        toks = tokenize(rest)
    except LeanSyntaxError:
        return False
    start = rest[toks[0].start:] if toks else ""
    start = re.sub(r"^(?:@\[[^\]]*\]\s*|(?:private|protected|noncomputable)\s+)*", "", start)
    return decl.match(start) is not None


def _blocks(text: str) -> list[tuple[str, str]]:
    """(language tag, content) of each fenced block; an unclosed last block runs to the end."""
    out, pos = [], 0
    while (m := _OPEN_FENCE.search(text, pos)) is not None:
        close = text.find("```", m.end())
        end = len(text) if close < 0 else close
        out.append((m.group(1) or "", text[m.end():end]))
        pos = len(text) if close < 0 else close + 3
    return out


def extract_proof(completion: str, problem: Problem) -> dict[str, str]:
    """The check-record field a completion stands for: `{"proof": ...}` or `{"code": ...}`.

    - A completion that opens a code block (```lean4, ```lean, or ``` with the theorem inside), or
      that starts by restating the theorem, is a whole answer: the last block declaring the
      theorem becomes `{"code": ...}`. Only the text after the last `</think>` is searched when
      there is one and it holds a block (reasoning models think first).
    - Otherwise the model continued the statement (completion prompts): the text up to the first
      ``` fence, trailing whitespace removed, is `{"proof": ...}`, as DeepSeek-Prover cuts it.
    - A code block without the theorem (tactics only) is taken as the proof.
    """
    decl = _declaration(problem.declared_name)
    text = completion
    if "</think>" in text:
        after = text.rsplit("</think>", 1)[1]
        if "```" in after or _declares(after, decl):
            text = after
    first = text.find("```")
    head = text if first < 0 else text[:first]
    if _starts_with_declaration(head, decl):
        return {"code": head.strip("\n").rstrip()}
    if first >= 0:
        blocks = _blocks(text[first:])
        opens = bool(blocks) and _OPEN_FENCE.match(text, first) is not None
        if opens and (blocks[0][0] or _declares(blocks[0][1], decl)):
            with_theorem = [content for _, content in blocks if _declares(content, decl)]
            if with_theorem:
                return {"code": with_theorem[-1].strip("\n").rstrip()}
            return {"proof": blocks[-1][1].rstrip()}
    return {"proof": head.rstrip()}


def answer_record(completion: str, problem: Problem) -> CheckRecord:
    """The record Lean checks for `completion` as an answer to `problem` (`extract_proof`, then
    `Problem.to_check_record`): what every sampler of leanfd, and its TRL reward, hands the verifier."""
    return problem.to_check_record(extract_proof(completion, problem))
