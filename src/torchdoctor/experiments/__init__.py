"""Code that re-runs training with one change and measures the result."""
