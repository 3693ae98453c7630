"""Training a model handed over in Python (diagnose(), the probes).

Three things every in-process experiment needs:
  - `Batches`: an endless, replayable stream of batches from whatever the user
    has (a DataLoader, any iterable, an (inputs, targets) pair of tensors, a
    callable), and `split()`, which turns one batch into the model's arguments
    and the target;
  - `clone()`: deep copies of the model, optimizer, loss and scheduler, taken
    together so the copied optimizer holds the copied parameters;
  - `preserved_rng()`: every RNG the training may draw from is saved and put
    back, so the caller's random streams are exactly as they were.
Nothing here touches the caller's objects: experiments train the copies.
"""
from __future__ import annotations

import contextlib
import copy
import itertools
import random
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import torch

# An (inputs, targets) pair up to this many rows is trained on whole (full-batch);
# larger ones in shuffled mini-batches of PAIR_BATCH rows, the common default.
FULL_BATCH_ROWS = 1024
PAIR_BATCH = 64
# Dict batches: the keys tried, in order, for the model input and for the target.
INPUT_KEYS = ("input", "inputs", "x", "features", "image", "images", "input_ids", "data")
TARGET_KEYS = ("target", "targets", "y", "label", "labels")


class DataError(ValueError):
    """The data (or a batch of it) cannot be turned into a training step; says how to fix it."""


BatchFn = Callable[[Any], tuple[Any, Any]]


@contextlib.contextmanager
def preserved_rng(seed: int | None = None):
    """Save torch's (CPU and initialised CUDA devices), Python's and NumPy's RNG states,
    optionally seed them all with `seed`, and restore them exactly on exit."""
    cpu = torch.random.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    py = random.getstate()
    try:
        import numpy
        np_state = numpy.random.get_state()
    except ImportError:                      # numpy is optional
        numpy, np_state = None, None
    try:
        if seed is not None:
            torch.manual_seed(seed)          # seeds the CUDA devices too
            random.seed(seed)
            if numpy is not None:
                numpy.random.seed(seed)
        yield
    finally:
        torch.random.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
        random.setstate(py)
        if numpy is not None:
            numpy.random.set_state(np_state)


@dataclass
class Trainee:
    """The objects one training run updates: copies, never the caller's."""
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    loss_fn: Callable[..., torch.Tensor]
    scheduler: Any = None


def clone(model: torch.nn.Module, optimizer: torch.optim.Optimizer | None, loss_fn: Callable,
          scheduler: Any = None, *, make_optimizer: Callable | None = None) -> Trainee:
    """Deep copies, taken in one `deepcopy` so that the copied optimizer (and scheduler)
    refer to the copied parameters. Without an optimizer, `make_optimizer(params)` builds one."""
    try:
        m, o, l, s = copy.deepcopy((model, optimizer, loss_fn, scheduler))
    except Exception as e:
        raise TypeError(f"torchdoctor trains a copy of your model and cannot copy this one "
                        f"(copy.deepcopy failed: {type(e).__name__}: {e}). Objects such as open files, "
                        "locks or generators held by the model prevent copying.") from e
    if o is None:
        o = (make_optimizer or default_optimizer)(m.parameters())
    return Trainee(m, o, l, s)


def default_optimizer(params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """What diagnose() trains with when no optimizer is given: Adam at its default lr 1e-3."""
    return torch.optim.Adam(params, lr=1e-3)


def _is_pair(data: Any) -> bool:
    return (isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data)
            and data[0].dim() >= 1 and data[1].dim() >= 1 and data[0].shape[0] == data[1].shape[0]
            and data[0].shape[0] > 0)


class Batches:
    """An endless stream of batches that every run can replay from the start.

    - a callable: called once per step (seed the RNG and each run sees the same batches);
    - an (inputs, targets) pair of tensors: the whole set each step up to FULL_BATCH_ROWS
      rows, else shuffled mini-batches of `batch_size` (default PAIR_BATCH);
    - a re-iterable (DataLoader, list, dataset of batches): iterated again at each epoch;
    - a one-shot iterator (a generator): the batches it yields are kept as they are
      consumed, so later runs replay the same ones (cycling through them).
    """

    def __init__(self, data: Any, *, batch_size: int | None = None) -> None:
        if isinstance(data, Batches):               # shared: a probe replays the caller's stream
            self.__dict__.update(data.__dict__)
            if batch_size is not None:
                self.batch_size = batch_size
            return
        from torch.utils.data import DataLoader, Dataset, IterableDataset
        if isinstance(data, Dataset) and not isinstance(data, IterableDataset) and hasattr(data, "__len__"):
            # a map-style dataset yields examples, not batches: batch it as a DataLoader would
            data = DataLoader(data, batch_size=batch_size or PAIR_BATCH, shuffle=True)
        if data is None:
            raise DataError("no data: pass a DataLoader, an iterable of batches, "
                            "an (inputs, targets) pair of tensors, or a function returning a batch")
        self.data = data
        self.batch_size = batch_size
        self._cache: list[Any] | None = None
        self._source: Iterator | None = None
        if _is_pair(data):
            self.kind = "pair"
        elif callable(data) and not hasattr(data, "__iter__"):
            self.kind = "callable"
        elif hasattr(data, "__iter__"):
            self.kind = "iterator" if iter(data) is data else "iterable"
            if self.kind == "iterator":
                self._cache, self._source = [], data
        else:
            raise DataError(f"cannot draw batches from a {type(data).__name__}: pass a DataLoader, an iterable "
                            "of batches, an (inputs, targets) pair of tensors, or a function returning a batch")

    def stream(self) -> Iterator[Any]:
        """Batches from the start, for ever (raises DataError on empty data)."""
        if self.kind == "callable":
            while True:
                yield self.data()
        elif self.kind == "pair":
            x, y = self.data
            n = x.shape[0]
            size = self.batch_size or (n if n <= FULL_BATCH_ROWS else PAIR_BATCH)
            while True:
                order = torch.randperm(n) if size < n else torch.arange(n)
                for i in range(0, n, size):
                    idx = order[i:i + size].to(x.device)
                    yield x[idx], y[idx.to(y.device)]
        else:
            for epoch in itertools.count():
                got = False
                for b in self._epoch():
                    got = True
                    yield b
                if not got:
                    raise DataError("the data yielded no batch" if epoch == 0 else
                                    "the data yielded no batch on its second pass")

    def _epoch(self) -> Iterator[Any]:
        if self.kind == "iterable":
            yield from self.data
            return
        yield from list(self._cache)               # one-shot iterator: what was seen, then more
        for b in self._source:
            self._cache.append(b)
            yield b


def _to(x: Any, device: torch.device | None) -> Any:
    """Move the tensors of a (nested) batch to the model's device."""
    if device is None:
        return x
    if isinstance(x, torch.Tensor):
        return x.to(device) if x.device != device else x
    if isinstance(x, dict):
        return {k: _to(v, device) for k, v in x.items()}
    if isinstance(x, (list, tuple)) and not hasattr(x, "_fields"):
        return type(x)(_to(v, device) for v in x)
    return x


def split(batch: Any, batch_fn: BatchFn | None = None) -> tuple[Any, Any]:
    """(model arguments, target) of one batch: `batch_fn(batch)` when given; else a
    tuple (x, y) or (x1, …, xk, y); else a dict with an input key and a target key."""
    if batch_fn is not None:
        out = batch_fn(batch)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise DataError("batch_fn must return (model inputs, target)")
        return out[0], out[1]
    if isinstance(batch, (tuple, list)) and len(batch) >= 2:
        return (batch[0] if len(batch) == 2 else tuple(batch[:-1])), batch[-1]
    if isinstance(batch, dict):
        xk = next((k for k in INPUT_KEYS if k in batch), None)
        yk = next((k for k in TARGET_KEYS if k in batch), None)
        if xk is not None and yk is not None:
            return batch[xk], batch[yk]
        raise DataError(f"a dict batch with keys {sorted(batch)[:8]}: pass batch_fn=lambda b: (inputs, target) "
                        "to say which entries are the model's inputs and which the target")
    raise DataError(f"a batch of type {type(batch).__name__}: batches must be (inputs, target) tuples or dicts, "
                    "or pass batch_fn=lambda b: (inputs, target)")


def call_model(model: torch.nn.Module, inputs: Any) -> Any:
    """model(x), model(*xs) for a tuple, model(**kw) for a dict."""
    if isinstance(inputs, dict):
        return model(**inputs)
    if isinstance(inputs, tuple):
        return model(*inputs)
    return model(inputs)


def device_of(model: torch.nn.Module) -> torch.device | None:
    p = next(iter(model.parameters()), None)
    return p.device if p is not None else None


def compute_loss(t: Trainee, batch: Any, batch_fn: BatchFn | None, device: torch.device | None) -> torch.Tensor:
    """The loss of one batch, with the graph for backward."""
    inputs, target = split(_to(batch, device), batch_fn)
    loss = t.loss_fn(call_model(t.model, inputs), target)
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise DataError(f"loss_fn must return a single number (a scalar tensor); it returned {shape}")
    return loss


def train(t: Trainee, batches: Iterator[Any], steps: int, *, batch_fn: BatchFn | None = None,
          on_step: Callable[[int, float], None] | None = None) -> int:
    """The plain training loop every experiment uses: train mode, zero_grad, forward,
    loss, backward, step, scheduler step. Returns the steps taken (a StopTraining
    raised by an observer's budget ends it early and propagates)."""
    t.model.train()
    device = device_of(t.model)
    done = 0
    for _ in range(steps):
        loss = compute_loss(t, next(batches), batch_fn, device)
        t.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        t.optimizer.step()
        if t.scheduler is not None:
            t.scheduler.step()
        done += 1
        if on_step is not None:
            on_step(done, float(loss.detach()))
    return done
