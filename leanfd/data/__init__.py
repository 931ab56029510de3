"""Data for batch proving: benchmark loaders, prompts, and the pass@k estimator. Pure functions, no Lean
process and no model: `leanfd.prove` and `leanfd.train` put them to work."""

from leanfd.data.benchmarks import DEFAULT_HEADER, Problem, load_problems, write_lean_dir
from leanfd.data.errors import DataError
from leanfd.data.passk import pass_at_k, pass_at_k_table, summarize, tally
from leanfd.data.prompts import PromptBuilder, extract_proof

__all__ = [
    "DEFAULT_HEADER", "DataError", "Problem", "PromptBuilder", "extract_proof", "load_problems",
    "pass_at_k", "pass_at_k_table", "summarize", "tally", "write_lean_dir",
]
