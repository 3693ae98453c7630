"""Re-run the user's script in child processes, each with one change, and collect the loss.

Every re-run of one diagnosis uses the same seed and the same step budget as
the others, so the baseline re-run and each changed run see the same data and
are compared at equal steps. Independent re-runs go in parallel, one per core.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from typing import Callable

from ..capture.distributed import single_process_env
from ..capture.trace import Series
from ..checks.base import RunOutcome
from .interventions import Intervention

SEED = 0


@dataclass
class RunSpec:
    script: str
    args: list[str]
    cwd: str
    steps: int                     # stop after this many optimizer steps
    timeout: float                 # seconds for the whole child, start-up included
    interventions: list[dict] = field(default_factory=list)
    seed: int = SEED
    threads: int = 1


def run_one(spec: RunSpec) -> RunOutcome:
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="torchdoctor-") as tmp:
        spec_path, out_path = os.path.join(tmp, "spec.json"), os.path.join(tmp, "out.json")
        with open(spec_path, "w") as f:
            json.dump({**asdict(spec), "out": out_path}, f)
        env = dict(os.environ, OMP_NUM_THREADS=str(spec.threads), MKL_NUM_THREADS=str(spec.threads),
                   PYTHONHASHSEED=str(spec.seed))
        env = single_process_env(env)      # a torchrun job's script re-runs as a job of one process
        try:
            proc = subprocess.run([sys.executable, "-m", "torchdoctor.capture.child", spec_path],
                                  cwd=spec.cwd, env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  timeout=spec.timeout)
        except subprocess.TimeoutExpired:
            return RunOutcome("error", error=f"re-run did not finish within {spec.timeout:.0f} s",
                              wall_s=time.monotonic() - t0)
        if not os.path.exists(out_path):
            tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            return RunOutcome("error", error=f"re-run failed (exit {proc.returncode}): {tail[0]}",
                              wall_s=time.monotonic() - t0)
        with open(out_path) as f:
            out = json.load(f)
    return RunOutcome(out["outcome"], steps=out["steps"], loss=Series.from_dict(out["loss"]),
                      error=out.get("error"), wall_s=time.monotonic() - t0)


def run_many(base: RunSpec, variants: list[list[Intervention]], *, jobs: int | None = None,
             on_done: Callable[[int, RunOutcome], None] | None = None) -> list[RunOutcome]:
    """Run the baseline (no change) and each variant; results in the same order, baseline first."""
    specs = [base] + [RunSpec(**{**asdict(base), "interventions": [i.to_dict() for i in v]})
                      for v in variants]
    cores = os.cpu_count() or 1
    jobs = max(1, min(jobs or cores, len(specs)))
    for s in specs:
        s.threads = max(1, cores // jobs)
    results: list[RunOutcome | None] = [None] * len(specs)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(run_one, s): i for i, s in enumerate(specs)}
        for fut in as_completed(futures):
            i = futures[fut]
            results[i] = fut.result()
            if on_done is not None:
                on_done(i, results[i])
    return results  # type: ignore[return-value]
