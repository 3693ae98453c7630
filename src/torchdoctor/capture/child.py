"""Entry point of a re-run: `python -m torchdoctor.capture.child SPEC.json`.

Seeds every RNG the same way, installs the observer with the interventions of
the spec, runs the script quietly for the given number of steps, with its file
writes redirected into a scratch folder (sandbox.py), and writes the loss
curve to the spec's output file.
"""
from __future__ import annotations

import json
import os
import random
import sys
import time

# Seconds between two progress writes: the parent polls twice a second.
PROGRESS_EVERY = 0.25


def main(spec_path: str) -> None:
    with open(spec_path) as f:
        spec = json.load(f)
    import torch

    from ..experiments.interventions import Intervention
    from .hooks import Observer
    from .sandbox import WriteSandbox
    from .script import run_script

    torch.manual_seed(spec["seed"])
    random.seed(spec["seed"])
    try:
        import numpy
        numpy.random.seed(spec["seed"])
    except ImportError:
        pass
    interventions = [Intervention.from_dict(d) for d in spec["interventions"]]
    deadline = time.monotonic() + spec["timeout"]
    # progress: the step count, fixed-width at offset 0 of a file the parent polls; the fd is
    # opened before the sandbox redirects the script's writes
    fd = os.open(spec["progress"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC) if spec.get("progress") else None
    last = [0.0]

    def on_step(steps: int, loss) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY:
            last[0] = now
            os.pwrite(fd, f"{steps:>12d}".encode(), 0)
    obs = Observer(max_steps=spec["steps"], deadline=deadline, interventions=interventions,
                   on_step=on_step if fd is not None else None)
    files = os.path.join(os.path.dirname(spec["out"]), "files")    # removed by the parent
    os.makedirs(files, exist_ok=True)
    with WriteSandbox(files), obs:
        result = run_script(spec["script"], spec["args"], quiet=True, timeout=spec["timeout"])
    out = {"outcome": result.outcome, "steps": obs.trace.steps or obs.trace.manual_updates,
           "error": result.error,
           "loss": obs.trace.curve().to_dict()}
    if fd is not None:
        os.close(fd)
    with open(spec["out"], "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main(sys.argv[1])
