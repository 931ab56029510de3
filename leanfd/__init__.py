"""leanfd: a Lean 4 proving toolchain (verify, train with Feedback Distillation and GRPO, prove, serve)."""

__version__ = "0.1.0"
