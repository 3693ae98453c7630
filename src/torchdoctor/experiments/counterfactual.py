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
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from typing import Callable

from ..capture.distributed import single_process_env
from ..capture.trace import Series
from ..checks.base import RunOutcome
from .interventions import Intervention

SEED = 0
# Seconds between two looks at a running re-run (its progress, its time budget).
POLL_S = 0.5


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


def run_one(spec: RunSpec, on_progress: Callable[[int], None] | None = None) -> RunOutcome:
    """Run the script once in a child process; `on_progress(steps)` is called about twice a
    second with the child's step count while it runs."""
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="torchdoctor-") as tmp:
        spec_path, out_path = os.path.join(tmp, "spec.json"), os.path.join(tmp, "out.json")
        progress_path = os.path.join(tmp, "progress")
        with open(spec_path, "w") as f:
            json.dump({**asdict(spec), "out": out_path, "progress": progress_path}, f)
        env = dict(os.environ, OMP_NUM_THREADS=str(spec.threads), MKL_NUM_THREADS=str(spec.threads),
                   PYTHONHASHSEED=str(spec.seed))
        env = single_process_env(env)      # a torchrun job's script re-runs as a job of one process
        with subprocess.Popen([sys.executable, "-m", "torchdoctor.capture.child", spec_path],
                              cwd=spec.cwd, env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
            # stderr drains in a thread: a child writing much of it must never block on the pipe
            err: list[bytes] = []
            reader = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)
            reader.start()
            try:
                while True:
                    try:
                        proc.wait(timeout=POLL_S)
                        break
                    except subprocess.TimeoutExpired:
                        if time.monotonic() - t0 > spec.timeout:
                            proc.kill()
                            proc.wait()
                            return RunOutcome("error", error=f"re-run did not finish within {spec.timeout:.0f} s",
                                              wall_s=time.monotonic() - t0)
                        if on_progress is not None:
                            on_progress(_read_steps(progress_path))
            except BaseException:                  # Ctrl-C: the child goes too
                proc.kill()
                raise
            reader.join(timeout=5)
        if not os.path.exists(out_path):
            text = b"".join(err).decode(errors="replace")
            tail = text.strip().splitlines()[-1:] or ["no output"]
            return RunOutcome("error", error=f"re-run failed (exit {proc.returncode}): {tail[0]}",
                              wall_s=time.monotonic() - t0)
        with open(out_path) as f:
            out = json.load(f)
    return RunOutcome(out["outcome"], steps=out["steps"], loss=Series.from_dict(out["loss"]),
                      error=out.get("error"), wall_s=time.monotonic() - t0)


def _read_steps(path: str) -> int:
    try:
        with open(path, "rb") as f:
            return int(f.read(12).strip() or 0)
    except (OSError, ValueError):
        return 0


def run_many(base: RunSpec, variants: list[list[Intervention]], *, jobs: int | None = None,
             on_done: Callable[[int, RunOutcome], None] | None = None,
             on_progress: Callable[[int, int], None] | None = None) -> list[RunOutcome]:
    """Run the baseline (no change) and each variant; results in the same order, baseline first.
    on_progress(i, steps) reports run i's steps while it runs (from its worker thread)."""
    specs = [base] + [RunSpec(**{**asdict(base), "interventions": [i.to_dict() for i in v]})
                      for v in variants]
    cores = os.cpu_count() or 1
    jobs = max(1, min(jobs or cores, len(specs)))
    for s in specs:
        s.threads = max(1, cores // jobs)
    results: list[RunOutcome | None] = [None] * len(specs)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(run_one, s, None if on_progress is None else
                               (lambda steps, i=i: on_progress(i, steps))): i for i, s in enumerate(specs)}
        for fut in as_completed(futures):
            i = futures[fut]
            results[i] = fut.result()
            if on_done is not None:
                on_done(i, results[i])
    return results  # type: ignore[return-value]
