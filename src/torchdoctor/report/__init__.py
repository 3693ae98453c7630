"""The report and the code that renders it."""
from .model import Finding, Report

__all__ = ["Finding", "Report"]
