"""Checks judge a trace: one module per check, listed in registry.py."""
from .base import Context, Experiment, RunOutcome
from .registry import BY_CODE, CHECKS, get

__all__ = ["BY_CODE", "CHECKS", "Context", "Experiment", "RunOutcome", "get"]
