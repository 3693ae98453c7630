"""`TorchdoctorCallback`: watch a Hugging Face `Trainer.train()` and diagnose it.

    callback = TorchdoctorCallback()
    trainer = Trainer(model=model, args=args, train_dataset=data, callbacks=[callback])
    with callback:                      # optional: removes the hooks if train() raises
        trainer.train()
    callback.report()

A thin adapter on `torchdoctor.Watch`: the watch starts in `on_train_begin` (the
model and the optimizer the Trainer built) and stops in `on_train_end`. The
Trainer has no event for a failed `train()`, hence the optional `with` block,
which stops the watch and reports the run as crashed.

Where gradients are read. The Trainer clips them (`max_grad_norm`, 1.0 by
default) before `on_pre_optimizer_step`, and a clipped norm can no longer show
that gradients explode. So they are read when the last backward of each step
has finished (all micro-batches of gradient accumulation added up), before
clipping. With fp16 and a GradScaler, `.grad` holds scaled gradients until the
scaler unscales them, so they are read in the optimizer's step hook instead:
unscaled, but after clipping. Needs `pip install torchdoctor[hf]`.
"""
from __future__ import annotations

from typing import Any, Callable

try:
    from transformers import TrainerCallback
except ImportError:                           # pragma: no cover - depends on what is installed
    raise ImportError("torchdoctor.integrations.huggingface needs transformers: "
                      "pip install torchdoctor[hf]") from None
import torch

from ..report.model import Report
from ..watch import WATCH_SAMPLE_EVERY, Watch

# The autograd engine runs a queued callback once the whole backward pass is done (after
# every .grad is written); DDP and FSDP rely on it for the same purpose.
_ENGINE = getattr(torch.autograd.Variable, "_execution_engine", None)


class TorchdoctorCallback(TrainerCallback):
    """Observe `trainer.train()` with a `Watch`; `.report()` gives the findings so far,
    the final report once training has ended.

    on_report: called with the final report when training ends (or, inside a `with`
    block, crashes), e.g. to log it; torchdoctor itself never prints.
    """

    def __init__(self, *, sample_every: int = WATCH_SAMPLE_EVERY,
                 on_report: Callable[[Report], Any] | None = None) -> None:
        self.sample_every = sample_every
        self.on_report = on_report
        self.watch: Watch | None = None
        self._final: Report | None = None
        self._optimizer: Any = None
        self._grad_hooks: list[Any] = []
        self._queued = False

    # ---- Trainer events -------------------------------------------------------
    def on_train_begin(self, args: Any, state: Any, control: Any, model: torch.nn.Module | None = None,
                       optimizer: Any = None, **kwargs: Any) -> None:
        if self.watch is not None and self._final is None:      # a train() that raised outside `with`
            self._finish(RuntimeError("train() ended without on_train_end"))
        if model is None:
            return                                               # nothing to watch (not seen in practice)
        # fp16: accelerate's AcceleratedOptimizer holds the GradScaler; its step unscales first
        after_backward = _ENGINE is not None and optimizer is not None and getattr(optimizer, "scaler", None) is None
        self.watch = Watch(model, optimizer, sample_every=self.sample_every, grads_at_step=not after_backward)
        self._final, self._optimizer, self._queued = None, optimizer, False
        self.watch.start()
        if after_backward:
            self._grad_hooks = [p.register_hook(self._on_grad) for p in model.parameters() if p.requires_grad]

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._finish(None)

    # ---- reading gradients before clipping ---------------------------------------
    def _on_grad(self, grad: torch.Tensor) -> None:
        if not self._queued:                  # once per backward pass, whichever parameter comes first
            self._queued = True
            _ENGINE.queue_callback(self._after_backward)

    def _after_backward(self) -> None:
        self._queued = False
        # gradient accumulation: only the last micro-batch of a step has the final gradients
        state = getattr(self._optimizer, "gradient_state", None)
        if self.watch is not None and getattr(state, "sync_gradients", True):
            self.watch.observe_grads(self._optimizer)

    # ---- results ---------------------------------------------------------------
    def report(self) -> Report:
        """The diagnosis so far during training, the final one after it."""
        if self._final is not None:
            return self._final
        if self.watch is None:
            raise RuntimeError("TorchdoctorCallback has not seen training start yet")
        return self.watch.report()

    def __enter__(self) -> "TorchdoctorCallback":
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self._finish(exc)                    # never swallows train()'s own exception

    def _finish(self, exc: BaseException | None) -> None:
        for h in self._grad_hooks:
            h.remove()
        self._grad_hooks.clear()
        if self.watch is None or self._final is not None:
            return
        self._final = self.watch.stop(exc)
        if self.on_report is not None:
            self.on_report(self._final)
