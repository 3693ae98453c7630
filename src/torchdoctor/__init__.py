"""torchdoctor: why is my PyTorch model not learning? Watches a training run,
tests its suspicions by re-running the training with one change, and reports
the causes it confirmed."""
__version__ = "0.1.0"

from .report.model import Finding, Report  # noqa: E402

__all__ = ["Finding", "Report", "__version__"]
