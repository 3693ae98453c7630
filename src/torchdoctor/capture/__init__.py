"""Code that observes a run: hooks, bounded traces, running a user's script."""
