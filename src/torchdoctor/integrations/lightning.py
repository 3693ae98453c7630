"""`TorchdoctorCallback`: watch a Lightning `Trainer.fit` and diagnose it.

    callback = TorchdoctorCallback()
    trainer = Trainer(callbacks=[callback])
    trainer.fit(model)
    callback.report()

A thin adapter on `torchdoctor.Watch`: the watch starts when training starts
(after the sanity check, whose no-grad validation is not training), gradients
are read in `on_before_optimizer_step` (AMP-unscaled, before Lightning clips
them) and the watch stops when training ends or fails (`on_exception`).
Works with `lightning` (`import lightning.pytorch`) and the older
`pytorch_lightning` package; needs `pip install torchdoctor[lightning]`.
"""
from __future__ import annotations

from typing import Any, Callable

try:                                          # the unified package first, as Lightning recommends
    import lightning.pytorch as pl
except ImportError:                           # pragma: no cover - depends on what is installed
    try:
        import pytorch_lightning as pl
    except ImportError:
        raise ImportError("torchdoctor.integrations.lightning needs Lightning: "
                          "pip install torchdoctor[lightning]") from None

from ..report.model import Report
from ..watch import WATCH_SAMPLE_EVERY, Watch


class TorchdoctorCallback(pl.Callback):
    """Observe `trainer.fit` with a `Watch`; `.report()` gives the findings so far,
    the final report once training has ended.

    on_report: called with the final report when training ends (or crashes), e.g.
    to log it; torchdoctor itself never prints.
    """

    def __init__(self, *, sample_every: int = WATCH_SAMPLE_EVERY,
                 on_report: Callable[[Report], Any] | None = None) -> None:
        super().__init__()
        self.sample_every = sample_every
        self.on_report = on_report
        self.watch: Watch | None = None
        self._final: Report | None = None

    # ---- Lightning hooks -----------------------------------------------------
    def on_train_start(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule") -> None:
        opts = list(trainer.optimizers)
        # grads_at_step=False: in automatic optimization the closure (training_step,
        # backward) runs inside optimizer.step(), after the step pre-hook, so the
        # gradients are read in on_before_optimizer_step instead (AMP-unscaled there).
        self.watch = Watch(pl_module, opts[0] if opts else None, sample_every=self.sample_every,
                           grads_at_step=False)
        self._final = None
        self.watch.start()

    def on_before_optimizer_step(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule",
                                 optimizer: Any) -> None:
        if self.watch is not None:
            self.watch.observe_grads(optimizer)

    def on_train_end(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule") -> None:
        self._finish(None)

    def on_exception(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule",
                     exception: BaseException) -> None:
        self._finish(exception)

    # ---- results ---------------------------------------------------------------
    def report(self) -> Report:
        """The diagnosis so far during training, the final one after it."""
        if self._final is not None:
            return self._final
        if self.watch is None:
            raise RuntimeError("TorchdoctorCallback has not seen training start yet")
        return self.watch.report()

    def _finish(self, exc: BaseException | None) -> None:
        if self.watch is None or self._final is not None:
            return
        self._final = self.watch.stop(exc)
        if self.on_report is not None:
            self.on_report(self._final)
