"""Feedback on proof attempts: compiler feedback (deterministic) and privileged LLM feedback."""

from leanfd.feedback.compiler import RenderOptions, render
from leanfd.feedback.critic import Feedback, FeedbackConfig, LLMCritic, teacher_feedback

__all__ = ["Feedback", "FeedbackConfig", "LLMCritic", "RenderOptions", "render", "teacher_feedback"]
