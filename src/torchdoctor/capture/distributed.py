"""Several processes, one diagnosis (torchrun, DDP).

Each rank observes its own process; `combine(trace)` then sends every other
rank's trace to rank 0, which merges them into one trace to judge. Outside
distributed training (world size 1) it returns the trace unchanged.

How the traces travel: through a key-value store every rank can reach, not
through collectives. Under torchrun that is the agent's TCPStore (it lives for
the whole job, so it still works after the script destroyed its process group);
otherwise the default process group's store. Collectives were the other choice
and are worse here: after one rank's script failed, or stopped a step earlier
(--timeout), the other ranks may sit inside one of the script's all-reduces, and
a gather issued next to it would hang until the group's timeout (30 min), or mix
up with it. With the store the other ranks post and go on, and rank 0 waits at
most WAIT_S for them. It also needs no gloo group next to an nccl one.

How the statistics are merged (`merge`), given that DDP gives every rank the
same weights and the same averaged gradients, but its own shard of the data:
  - the loss (per step and per backward call): the mean over the ranks, step by
    step, which is the loss of the global batch when the ranks' batches are equal;
  - samples of the data (inputs, targets, input-target pairs): pooled, each rank
    contributing in proportion to the rows it saw, so the pool stays a uniform
    sample of all the data;
  - counts about the data (batches with NaN/Inf, repeated batches): summed;
    the lowest loss value: the minimum; dead ReLU share: the lowest of the ranks
    (a unit dead overall is dead on every rank); sigmoid/tanh saturation: the mean;
  - everything about weights, gradients, learning rates, updates and structure,
    and the step counts: rank 0's (the same on every rank under DDP).
"""
from __future__ import annotations

import copy
import datetime
import itertools
import math
import os
import pickle
import socket
import time
from typing import Any

import torch

from .trace import LossInfo, RowReservoir, Series, Trace

WAIT_S = 60.0            # how long rank 0 waits for the other ranks' traces
POLL_S = 0.05           # seconds between looks at the store while waiting
CHUNK = 4 << 20          # bytes per stored value: torch's TCPStore server refuses values over 8 MiB
PREFIX = "torchdoctor"
_calls = itertools.count()          # combine() calls of this process: all ranks count alike
_session: dict[str, Any] = {}       # the store and key of the last combine(), for release()/wait_for_rank0()


def world() -> tuple[int, int]:
    """(rank, world size) of this process: the running process group's, else the one
    torchrun announces in the environment; (0, 1) outside distributed training."""
    try:
        import torch.distributed as dist
        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
    except Exception:
        pass
    try:
        rank, size = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 0, 1
    return (rank, size) if size > 1 and 0 <= rank < size else (0, 1)


def _store() -> Any:
    """A key-value store all ranks reach, or None."""
    import torch.distributed as dist
    env = os.environ
    timeout = datetime.timedelta(seconds=WAIT_S)
    if env.get("TORCHELASTIC_USE_AGENT_STORE") == "True" and env.get("MASTER_ADDR") and env.get("MASTER_PORT"):
        return dist.TCPStore(env["MASTER_ADDR"], int(env["MASTER_PORT"]), is_master=False,
                             timeout=timeout, wait_for_workers=False)
    if dist.is_available() and dist.is_initialized():
        return dist.distributed_c10d._get_default_store()
    return None


def _job() -> str:
    return f"{os.environ.get('TORCHELASTIC_RUN_ID', 'pg')}.{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}"


def _key() -> str:
    return f"{PREFIX}/{_job()}/{next(_calls)}"


def _put(store: Any, key: str, data: bytes) -> None:
    n = max(1, -(-len(data) // CHUNK))
    for i in range(n):
        store.set(f"{key}/{i}", data[i * CHUNK:(i + 1) * CHUNK])
    store.set(f"{key}/n", str(n))           # last: its presence says every chunk is there


def _wait(store: Any, key: str, seconds: float) -> bool:
    """Whether `key` appears within `seconds`. Polls: a store.wait() that times out
    prints warnings from C++ and raises."""
    deadline = time.monotonic() + seconds
    while not store.check([key]):
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_S)
    return True


def _get(store: Any, key: str, seconds: float) -> bytes | None:
    if not _wait(store, f"{key}/n", seconds):
        return None
    n = int(store.get(f"{key}/n"))
    data = b"".join(store.get(f"{key}/{i}") for i in range(n))
    for k in [f"{key}/n", *(f"{key}/{i}" for i in range(n))]:
        try:
            store.delete_key(k)
        except Exception:                   # stores without delete: the keys just stay
            pass
    return data


def combine(trace: Trace, result: Any = None) -> tuple[Trace, list[str]]:
    """(the trace to judge, notes about how it was combined). On rank 0 the merged trace
    of all ranks; on the other ranks their own trace, after sending it to rank 0.
    `result`: this rank's ScriptResult, so rank 0 can say when another rank's script failed."""
    rank, size = world()
    if size <= 1:
        return trace, []
    try:
        store = _store()
    except Exception as e:
        return trace, [f"Rank {rank} of {size}: could not reach the other ranks ({type(e).__name__}: {e}); "
                       "this diagnosis covers this rank only."]
    if store is None:
        return trace, [f"Rank {rank} of {size}: no process group or torchrun store to reach the other ranks; "
                       "this diagnosis covers this rank only."]
    key = _key()
    _session.update(store=store, key=key)
    if rank != 0:
        outcome = {"outcome": getattr(result, "outcome", "running"), "error": getattr(result, "error", None)}
        _put(store, f"{key}/{rank}", pickle.dumps((_portable(trace), outcome)))
        return trace, [f"Rank {rank} of {size}: this rank's statistics went to rank 0, whose report "
                       f"combines all {size} ranks."]
    deadline = time.monotonic() + WAIT_S
    traces, missing, notes = [trace], [], []
    for r in range(1, size):
        data = _get(store, f"{key}/{r}", deadline - time.monotonic())
        if data is None:
            missing.append(r)
            continue
        other, outcome = pickle.loads(data)
        traces.append(other)
        if outcome.get("outcome") in ("crashed", "exit"):
            notes.append(f"Rank {r}'s script failed: {outcome.get('error') or 'non-zero exit'}.")
    try:
        store.set(f"{key}/gathered", "1")
    except Exception:
        pass
    lead = f"Combined {len(traces)} of {size} ranks" if missing else f"Combined {size} ranks"
    notes.insert(0, f"{lead}: the loss is their mean step by step, the data samples are pooled; "
                    "gradients, learning rates and updates are rank 0's (DDP makes them the same).")
    if missing:
        notes.append(f"Rank(s) {', '.join(map(str, missing))} sent nothing within {WAIT_S:.0f} s "
                     "(still training, or stuck): their data is missing from this diagnosis.")
    return merge(traces), notes


def release() -> None:
    """Rank 0, once its report is out: lets ranks waiting in wait_for_rank0() exit."""
    store, key = _session.get("store"), _session.get("key")
    if store is not None and world()[0] == 0:
        try:
            store.set(f"{key}/done", "1")
        except Exception:
            pass


def wait_for_rank0() -> None:
    """Another rank whose script failed is about to exit non-zero, which makes torchrun
    stop every worker: first let rank 0 finish its report, if it is alive (it took the
    traces within WAIT_S); a rank 0 stuck in the script is left to torchrun."""
    store, key = _session.get("store"), _session.get("key")
    if store is None:
        return
    try:
        if _wait(store, f"{key}/gathered", WAIT_S):
            _wait(store, f"{key}/done", math.inf)
    except Exception:               # the store went away with the job: nothing to wait for
        pass


class StepStop:
    """--timeout under torchrun: rank 0's clock decides and every rank stops after the same
    optimizer step. Each rank stopping on its own clock could stop a step apart, leaving
    the others inside an all-reduce that never completes.

    After its deadline, rank 0 announces "stop when `steps` reaches k+1" (k: its steps
    now). No rank can be past step k+1 by then: DDP's all-reduce in the backward of step
    k+1 needs rank 0, which announces first, so every rank sees the announcement by the
    end of that step. The other ranks look for it once per step (a store round trip).
    `usable` is False when no store is reachable: the caller keeps its own clock then."""

    def __init__(self, observer: Any, deadline: float) -> None:
        self.observer, self.deadline = observer, deadline
        self.rank = world()[0]
        self.key = f"{PREFIX}/{_job()}/stop"
        self.stop_at: int | None = None
        self.handle: Any = None
        try:
            self.store = _store()
        except Exception:
            self.store = None
        self.usable = self.store is not None

    def __enter__(self) -> "StepStop":
        if self.usable:
            from torch.optim.optimizer import register_optimizer_step_post_hook
            self.handle = register_optimizer_step_post_hook(self._after_step)   # after the Observer's: steps counted
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.handle is not None:
            self.handle.remove()
            self.handle = None

    def _after_step(self, opt: Any, args: Any, kwargs: Any) -> None:
        try:                                # never raises into the user's script
            steps = self.observer.trace.steps
            if self.stop_at is None:
                if self.rank == 0 and time.monotonic() > self.deadline:
                    self.stop_at = steps + 1
                    self.store.set(self.key, str(self.stop_at))
                elif self.rank != 0 and self.store.check([self.key]):
                    self.stop_at = int(self.store.get(self.key))
            if self.stop_at is not None and steps >= self.stop_at:
                self.observer.stop("timeout")
        except Exception:
            pass


# ---- the merge ------------------------------------------------------------------
def merge(traces: list[Trace]) -> Trace:
    """One trace from the traces of all ranks, rank 0's first (see the module docstring)."""
    base = traces[0]
    if len(traces) == 1:
        return base
    out = copy.copy(base)                   # the inputs are left as they are
    out.loss = mean_series([t.loss for t in traces])
    out.backward_loss = mean_series([t.backward_loss for t in traces])
    out.inputs = pool([t.inputs for t in traces])
    out.input_nonfinite = sum(t.input_nonfinite for t in traces)
    out.same_batches = sum(t.same_batches for t in traces)
    out.batches_compared = sum(t.batches_compared for t in traces)
    out.wall_s = max(t.wall_s for t in traces)
    if base.nonfinite_module is None and base.nonfinite_weights is None:
        for t in traces[1:]:                # the first NaN origin any rank found
            if t.nonfinite_module is not None or t.nonfinite_weights is not None:
                out.nonfinite_module, out.nonfinite_weights = t.nonfinite_module, t.nonfinite_weights
                out.nonfinite_step = t.nonfinite_step
                break
    out.losses = [_merge_loss(l, [o for t in traces[1:] for o in t.losses if o.kind == l.kind])
                  for l in base.losses]
    out.activations = _merge_activations([t.activations for t in traces])
    return out


def _merge_loss(base: LossInfo, others: list[LossInfo]) -> LossInfo:
    if not others:
        return base
    out = copy.copy(base)
    every = [base, *others]
    out.targets = pool([l.targets for l in every])
    out.pairs = pool([l.pairs for l in every])
    out.pred_nonfinite = sum(l.pred_nonfinite for l in every)
    out.target_nonfinite = sum(l.target_nonfinite for l in every)
    out.min_value = min(l.min_value for l in every)
    return out


def _merge_activations(per_rank: list[dict[str, dict]]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for key in dict.fromkeys(k for acts in per_rank for k in acts):
        stats = [acts[key] for acts in per_rank if key in acts]
        st = dict(stats[0])
        dead = [s["dead_share"] for s in stats if s.get("dead_share") is not None]
        sat = [s["saturated"] for s in stats if s.get("saturated") is not None]
        st["dead_share"] = min(dead) if dead else None
        st["saturated"] = sum(sat) / len(sat) if sat else None
        st["n"] = sum(s.get("n", 0) for s in stats)
        out[key] = st
    return out


def _values(s: Series) -> dict[int, float]:
    """Every step whose value `s` still holds: its head, its tail and its decimated history."""
    v = dict(s.history)
    v.update(enumerate(s.head))
    tail = s.tail_values()
    v.update(zip(range(s.count - len(tail), s.count), tail))
    return v


def mean_series(series: list[Series]) -> Series:
    """Step by step, the mean of the ranks that hold a value at that step."""
    series = [s for s in series if s.count]
    if len(series) <= 1:
        return series[0] if series else Series()
    base, values = series[0], [_values(s) for s in series]

    def mean(step: int) -> float:
        xs = [v[step] for v in values if step in v]
        return sum(xs) / len(xs)
    out = Series()
    out.count = base.count
    out.head = [mean(i) for i in range(len(base.head))]
    tail_len = len(base.tail)
    out.tail = [mean(i) for i in range(base.count - tail_len, base.count)]   # oldest first: ring position 0
    out.history = [(s, mean(s)) for s, _ in base.history]
    out._stride = base._stride
    # a step with NaN/Inf on any rank has a non-finite mean: the count is at least the largest
    # of the ranks' (which steps coincide is not kept), the first one the earliest
    out.nonfinite = max(s.nonfinite for s in series)
    firsts = [s.first_nonfinite for s in series if s.first_nonfinite is not None]
    out.first_nonfinite = min(firsts) if firsts else None
    return out


def pool(reservoirs: list[RowReservoir | None]) -> RowReservoir | None:
    """One uniform sample of rows from the ranks' samples: each rank gives a share of the
    pool in proportion to the rows it saw. Uses its own generator (never the user's RNG)."""
    full = [r for r in reservoirs if r is not None and r.filled]
    if len(full) <= 1:
        return full[0] if full else reservoirs[0]
    base = full[0]
    width = base.rows.shape[1]
    full = [r for r in full if r.rows.shape[1] == width]
    seen = sum(r.seen for r in full)
    gen = torch.Generator().manual_seed(0)
    parts = []
    for r in full:
        k = min(r.filled, max(1, round(base.max_rows * r.seen / max(seen, 1))))
        parts.append(r.sample()[torch.randperm(r.filled, generator=gen)[:k]])
    rows = torch.cat(parts)
    rows = rows[torch.randperm(rows.shape[0], generator=gen)]     # no rank first
    out = RowReservoir(max(base.max_rows, rows.shape[0]), base.max_elements)
    out.rows, out.filled, out.seen = rows, rows.shape[0], seen
    return out


def _portable(trace: Trace) -> Trace:
    """A copy small enough to send: sampled rows only (a reservoir's spare room and the
    storage behind a slice would travel too)."""
    out = copy.copy(trace)
    out.inputs = _compact(trace.inputs)
    out.losses = []
    for l in trace.losses:
        l2 = copy.copy(l)
        l2.targets, l2.pairs = _compact(l.targets), _compact(l.pairs)
        out.losses.append(l2)
    out.activations = {k: {n: v for n, v in st.items() if not n.startswith("_")}
                       for k, st in trace.activations.items()}
    return out


def _compact(r: RowReservoir | None) -> RowReservoir | None:
    if r is None or r.rows is None:
        return r
    out = copy.copy(r)
    out.rows = r.sample().clone()
    return out


# ---- re-runs --------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def single_process_env(env: dict[str, str]) -> dict[str, str]:
    """The environment of a re-run: a DDP script launched by torchrun (or with its
    variables set) re-runs as a job of one process on its own port, so its
    init_process_group succeeds alone and parallel re-runs do not collide."""
    launched = any(k in env for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_PORT")) \
        or any(k.startswith("TORCHELASTIC_") for k in env)
    if not launched:
        return env
    out = {k: v for k, v in env.items() if not k.startswith("TORCHELASTIC_")}
    out.update(WORLD_SIZE="1", RANK="0", LOCAL_RANK="0", LOCAL_WORLD_SIZE="1", GROUP_RANK="0",
               GROUP_WORLD_SIZE="1", ROLE_RANK="0", ROLE_WORLD_SIZE="1",
               MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()))
    return out
