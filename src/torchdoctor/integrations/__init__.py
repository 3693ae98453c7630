"""Adapters that run `torchdoctor.Watch` inside other training frameworks (optional extras)."""
