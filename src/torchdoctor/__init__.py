"""torchdoctor: why is my PyTorch model not learning? Watches a training run,
tests its suspicions by re-running the training with one change, and reports
the causes it confirmed."""
__version__ = "0.1.0"

from .report.model import Finding, Report  # noqa: E402
from .api import diagnose  # noqa: E402
from .watch import Watch, watch  # noqa: E402


def __getattr__(name: str):
    """The probes, imported on first use."""
    if name in ("LRRange", "lr_range_test"):
        from .experiments import lr_range
        return getattr(lr_range, name)
    if name in ("OverfitResult", "overfit_one_batch"):
        from .experiments import overfit_batch
        return getattr(overfit_batch, name)
    raise AttributeError(f"module 'torchdoctor' has no attribute {name!r}")


__all__ = ["Finding", "Report", "Watch", "LRRange", "OverfitResult", "diagnose", "watch", "lr_range_test",
           "overfit_one_batch", "__version__"]
