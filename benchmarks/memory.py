"""What torchdoctor's observation costs in memory: peak RSS under `torchdoctor run`
minus the script's own, on a 21-million-parameter MLP trained on CPU.

    .venv/bin/python benchmarks/memory.py [--steps 200] [--rounds 2] [--verify-rounds 1] [--default-malloc]

The script (benchmarks/scripts/mlp_20m.py: 1024-4096-4096-10 ReLU MLP, SGD with
momentum, batches of 32 from a DataLoader, fixed seed) is run plainly,
`python mlp_20m.py --steps N`, and under `torchdoctor run --no-verify`, for N
and for 4N optimizer steps. Each round runs the four in a rotated order, so
that neither kind is always first on this shared, noisy machine. The tool's
extra memory is the median peak under torchdoctor minus the median plain peak
(each round's difference is shown too), as a share of the script's own peak.
Target: under 10%, and no larger at 4N than at N (the observer's records are
bounded).

Method. Every measurement is one fresh process started by this benchmark and
reaped with os.wait4(), whose rusage.ru_maxrss is the kernel's high-water mark
of that process's resident memory (KiB on Linux): the peak itself, not a
sample of it. `python mlp_20m.py` and `torchdoctor run --no-verify` start no
processes of their own (the DataLoader has no workers), so the figure is that
one process's peak.

With verification, torchdoctor re-runs the script in separate child
processes, and wait4's ru_maxrss would be the largest of the tree's peaks, not
the parent's. So that run goes through a small wrapper (`python -c`, running
torchdoctor's CLI in-process) that writes getrusage(RUSAGE_SELF).ru_maxrss at
exit: the torchdoctor process's own peak. The re-runs' peaks cannot come from
RUSAGE_CHILDREN: Linux charges a child started by (v)fork+exec with its
parent's high-water mark at the exec. So while that run goes, the benchmark
samples every 0.25 s each re-run's VmHWM (its own high-water mark since the
exec; /proc/<pid>/status), the torchdoctor process's VmRSS while re-runs
exist, and the proportional set size of the whole process tree (PSS,
/proc/<pid>/smaps_rollup: shared library pages split between the processes
that map them), what the machine holds while `--jobs` re-runs go at once. The
verified runs use `--double-softmax` (a final Softmax before
CrossEntropyLoss, which torchdoctor confirms by re-running without it), so that
there are re-runs to measure; their plain counterpart runs the same variant.

The allocator. With glibc's defaults, the same process's peak moves from run
to run in steps of about 16 MiB, plain or observed alike: the mmap threshold is
dynamic (raised, up to 32 MiB, whenever a mapped chunk is freed), so whether a
16 MiB tensor gets a mapping of its own, returned when freed, or heap space
that stays, varies with the order of earlier frees. Every run
here therefore sets MALLOC_MMAP_THRESHOLD_=131072 (glibc's initial value, now
fixed): tensors of 128 KiB and more are mapped and unmapped, and a peak repeats
to within 1 MiB, so differences of a few MiB are real. `--default-malloc`
leaves the allocator alone, for the figures as a user's run would see them
(noisy by those 16 MiB steps; take more rounds).

One round is four runs of the script, 10N steps in all: 10-20 minutes at
N=200 on the 2-core development machine (shared with other jobs), and the
verification round about 7.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "scripts" / "mlp_20m.py"
BIN = Path(sys.executable).parent
TOOL = [str(BIN / "torchdoctor"), "run", "-q", "--no-verify", "--fail-on", "never"]

# Runs torchdoctor's CLI in this process and writes, at exit, its own peak RSS (ru_maxrss,
# KiB). Not RUSAGE_CHILDREN for the re-runs: a child spawned by vfork/fork+exec is charged
# with the parent's high-water mark at exec (Linux keeps the old mm's in the child's maxrss).
WRAPPER = """
import atexit, json, os, resource, sys
def _report():
    with open(os.environ["TORCHDOCTOR_BENCH_RUSAGE"], "w") as f:
        json.dump({"self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}, f)
atexit.register(_report)
sys.argv = ["torchdoctor", *sys.argv[1:]]
from torchdoctor.cli import main
main()
"""


def _kib(pid: int, field: str, path: str = "status") -> int:
    """A "Field: N kB" line of /proc/<pid>/<path> (0 once the process is gone)."""
    try:
        with open(f"/proc/{pid}/{path}") as f:
            m = re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M)
        return int(m.group(1)) if m else 0
    except OSError:
        return 0


def _tree(pid: int) -> list[int]:
    """pid and its descendants, from the parent ids in /proc/*/stat."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
                parent[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    out, frontier = [pid], [pid]
    while frontier:
        frontier = [c for c, p in parent.items() if p in frontier]
        out += frontier
    return out


def measure(cmd: list[str], env: dict | None = None, sample_tree: bool = False) -> dict:
    """Run `cmd` to completion in a fresh process: its ru_maxrss (MiB) from os.wait4, the
    wall time, its stderr, and (sample_tree) from samples every 0.25 s: the peak PSS of its
    process tree, the largest VmHWM of its children, and its own VmRSS while it has children."""
    t0 = time.monotonic()
    tree_peak, child_hwm, parent_rss = [0], [0], [0]
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.25):
                tree = _tree(proc.pid)
                tree_peak[0] = max(tree_peak[0], sum(_kib(p, "Pss", "smaps_rollup") for p in tree))
                if len(tree) > 1:
                    child_hwm[0] = max([child_hwm[0], *(_kib(p, "VmHWM") for p in tree[1:])])
                    parent_rss[0] = max(parent_rss[0], _kib(proc.pid, "VmRSS"))
        sampler = threading.Thread(target=sample, daemon=True)
        if sample_tree:
            sampler.start()
        _, status, ru = os.wait4(proc.pid, 0)
        done.set()
        proc.returncode = os.waitstatus_to_exitcode(status)     # reaped here: Popen must not wait again
        if sample_tree:
            sampler.join()
        err.seek(0)
        text = err.read().decode(errors="replace")
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited with {proc.returncode}:\n{text[-3000:]}")
    return {"peak": ru.ru_maxrss / 1024, "wall": time.monotonic() - t0, "stderr": text,
            "tree": tree_peak[0] / 1024, "children": child_hwm[0] / 1024, "during": parent_rss[0] / 1024}


def plain(steps: int, *extra: str) -> list[str]:
    return [sys.executable, str(SCRIPT), "--steps", str(steps), *extra]


def tool(steps: int) -> list[str]:
    return [*TOOL, str(SCRIPT), "--steps", str(steps)]


def verified(steps: int) -> dict:
    """torchdoctor run with its re-runs, through WRAPPER: its own peak, and measure()'s samples."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "rusage.json")
        env = dict(os.environ, TORCHDOCTOR_BENCH_RUSAGE=out)
        cmd = [sys.executable, "-c", WRAPPER, "run", "--fail-on", "never", str(SCRIPT),
               "--steps", str(steps), "--double-softmax"]
        r = measure(cmd, env=env, sample_tree=True)
        with open(out) as f:
            ru = json.load(f)
    runs = re.search(r"testing suspicions with (\d+) re-runs", r["stderr"])
    r.update(self=ru["self"] / 1024, reruns=int(runs.group(1)) if runs else 0)
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200, help="N: the short run's steps (the long run: 4N)")
    ap.add_argument("--rounds", type=int, default=2, help="rounds of plain/tool runs at N and 4N (0: none)")
    ap.add_argument("--verify-rounds", type=int, default=1, help="rounds with verification (0: none)")
    ap.add_argument("--default-malloc", action="store_true",
                    help="leave glibc's dynamic mmap threshold on (noisier; see the docstring)")
    a = ap.parse_args()
    n = a.steps
    if not a.default_malloc:                 # inherited by every run, re-runs included
        os.environ["MALLOC_MMAP_THRESHOLD_"] = "131072"
    kinds = [("plain", n), ("tool", n), ("plain", 4 * n), ("tool", 4 * n)]
    peaks: dict[tuple[str, int], list[float]] = {k: [] for k in kinds}
    walls: dict[tuple[str, int], list[float]] = {k: [] for k in kinds}
    print(f"{SCRIPT.name}: N={n} and 4N={4 * n} steps, {a.rounds} rounds (rotated order), "
          f"{os.cpu_count()} cores, " + ("glibc's default malloc" if a.default_malloc else
                                         "MALLOC_MMAP_THRESHOLD_=131072"))
    for r in range(a.rounds):
        order = kinds[r % len(kinds):] + kinds[:r % len(kinds)]
        for kind, steps in order:
            m = measure(plain(steps) if kind == "plain" else tool(steps))
            peaks[(kind, steps)].append(m["peak"])
            walls[(kind, steps)].append(m["wall"])
            print(f"  round {r + 1}: {kind:5s} {steps:5d} steps: peak {m['peak']:7.1f} MiB, "
                  f"{m['wall']:6.1f} s", file=sys.stderr)

    if not a.rounds:
        return verify_table(a, n)
    print(f"\nPeak RSS, MiB: median of {a.rounds} rounds, each round's in brackets; extra = median "
          "under torchdoctor minus median plain (in brackets: tool minus plain within each round):\n")
    print("| steps | `python mlp_20m.py` | `torchdoctor run --no-verify` | extra | extra / script's peak |")
    print("|---|---|---|---|---|")
    extra = {}
    for steps in (n, 4 * n):
        p, t = peaks[("plain", steps)], peaks[("tool", steps)]
        diffs = [b - a_ for a_, b in zip(p, t)]
        extra[steps] = statistics.median(t) - statistics.median(p)
        share = extra[steps] / statistics.median(p)
        fmt = lambda xs, sign="": ", ".join(f"{x:{sign}.1f}" for x in xs)     # noqa: E731
        print(f"| {steps} | {statistics.median(p):.1f} ({fmt(p)}) | {statistics.median(t):.1f} ({fmt(t)}) "
              f"| {extra[steps]:+.1f} ({fmt(diffs, '+')}) | {share:.1%} |")
    print(f"\nextra at {4 * n} steps minus extra at {n}: {extra[4 * n] - extra[n]:+.1f} MiB "
          f"(target: about 0; the largest spread of one kind of run over the rounds: "
          f"{max(max(v) - min(v) for v in peaks.values()):.1f} MiB)")
    wt = {k: statistics.median(v) for k, v in walls.items()}
    print(f"wall time, median (rough: other jobs share this machine): plain {wt[('plain', n)]:.0f} s / "
          f"{wt[('plain', 4 * n)]:.0f} s, torchdoctor run --no-verify {wt[('tool', n)]:.0f} s / "
          f"{wt[('tool', 4 * n)]:.0f} s")

    verify_table(a, n)


def verify_table(a: argparse.Namespace, n: int) -> None:
    if a.verify_rounds:
        print(f"\nWith verification (`--double-softmax`, N={n} steps; re-runs are separate processes, "
              f"{os.cpu_count()} at once by default), MiB:\n")
        print("| round | script alone | torchdoctor process: own peak | extra / script's peak "
              "| re-runs | torchdoctor process while they run | largest re-run's peak "
              "| whole tree at once (PSS) |")
        print("|---|---|---|---|---|---|---|---|")
        for r in range(a.verify_rounds):
            pairs = [lambda: measure(plain(n, "--double-softmax")), lambda: verified(n)]
            first, second = pairs if r % 2 == 0 else pairs[::-1]
            x, y = first(), second()
            p, v = (x, y) if r % 2 == 0 else (y, x)
            print(f"| {r + 1} | {p['peak']:.1f} | {v['self']:.1f} | {(v['self'] - p['peak']) / p['peak']:.1%} "
                  f"| {v['reruns']} | {v['during']:.0f} | {v['children']:.1f} | {v['tree']:.0f} |")
        print("\n(the last three sampled every 0.25 s: VmRSS, VmHWM and the sum of PSS)")


if __name__ == "__main__":
    main()
