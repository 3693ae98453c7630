"""Framework callbacks (Lightning, Hugging Face): a real tiny fit of the seed's models.

The seed's identity task (N(0,1) inputs, MSE against the input): a 10-5-10
bottleneck must be reported as capacity.bottleneck, a 10-64-10 model as healthy,
and every hook must be gone after the fit.
"""
from __future__ import annotations

import importlib
import os
import re
import sys

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from test_watch import no_hooks_left

STEPS, BATCH = 300, 64
# Lightning's own code on recent torch; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec.*is deprecated")


def need(module: str):
    """importorskip, except in CI, where `make test` installs the frameworks: a skip
    there would hide a broken install."""
    if os.environ.get("CI"):
        return importlib.import_module(module)
    return pytest.importorskip(module)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny matmuls on a shared 2-core machine: intra-op threads wait on each other and
    can make 300 steps take 20 s instead of 0.3 s. One thread, restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")           # nothing here may reach the hub


def identity_data(steps: int = STEPS, seed: int = 0) -> torch.Tensor:
    """One fresh N(0,1) batch per step, fixed by the seed (one epoch of `steps` batches)."""
    return torch.randn(steps * BATCH, 10, generator=torch.Generator().manual_seed(seed))


def mlp(width: int) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(10, width), nn.ReLU(), nn.Linear(width, 10))


def check_reports(bottleneck, wide, location: str) -> None:
    errors = [f for f in bottleneck.findings if f.severity == "error"]
    assert errors and errors[0].category == "capacity.bottleneck", bottleneck.summary
    assert errors[0].location == location
    assert bottleneck.steps_observed == STEPS and bottleneck.outcome == "finished"
    assert wide.status == "healthy", wide.summary


# ---- Lightning ----------------------------------------------------------------

def lightning_fit(width: int, seen: list | None = None, fail_at: int | None = None):
    pl = need("lightning.pytorch")
    from torchdoctor.integrations.lightning import TorchdoctorCallback

    class Identity(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = mlp(width)

        def training_step(self, batch, i):
            if i == fail_at:
                raise RuntimeError("boom")
            (x,) = batch
            return F.mse_loss(self.net(x), x)

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=0.01)

    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(identity_data()), batch_size=BATCH)
    callback = TorchdoctorCallback(on_report=seen.append if seen is not None else None)
    trainer = pl.Trainer(max_steps=STEPS, callbacks=[callback], accelerator="cpu", devices=1,
                         enable_progress_bar=False, logger=False, enable_checkpointing=False,
                         enable_model_summary=False)
    try:
        trainer.fit(Identity(), data)
    finally:
        assert no_hooks_left()
    return callback


def test_lightning_callback_finds_the_bottleneck_and_passes_the_wide_model():
    seen = []
    bottleneck = lightning_fit(5, seen)
    assert seen == [bottleneck.report()]                 # on_report got the final report
    # gradients are read in on_before_optimizer_step: at the step pre-hook the closure
    # (training_step, backward) has not run yet, .grad is empty at the first step
    obs = bottleneck.watch.observer
    assert obs.trace.grad_steps_checked == sum(obs._sampled(i) for i in range(STEPS)) > 0
    assert obs.trace.zero_grad_steps == 0
    check_reports(bottleneck.report(), lightning_fit(64).report(), "model.net.0 (Linear)")


def test_lightning_a_failing_fit_is_reported_as_crashed():
    seen = []
    with pytest.raises(RuntimeError, match="boom"):
        lightning_fit(5, seen, fail_at=30)
    assert len(seen) == 1 and seen[0].status == "crashed" and seen[0].steps_observed == 30


# ---- Hugging Face -------------------------------------------------------------

class IdentityModel(nn.Module):
    """What the Trainer expects of a model: keyword inputs and labels in, {"loss", "logits"} out."""

    def __init__(self, width: int, fail_at: int | None = None):
        super().__init__()
        self.net, self.calls, self.fail_at = mlp(width), 0, fail_at

    def forward(self, x, labels=None):
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("boom")
        logits = self.net(x)
        return {"loss": F.mse_loss(logits, labels), "logits": logits}


class IdentityDataset(torch.utils.data.Dataset):
    def __init__(self):
        self.x = identity_data()

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "labels": self.x[i]}


def hf_trainer(width: int, tmp_path, seen: list | None = None, fail_at: int | None = None, **extra):
    transformers = need("transformers")
    need("accelerate")
    from torchdoctor.integrations.huggingface import TorchdoctorCallback

    model = IdentityModel(width, fail_at)
    args = dict(output_dir=str(tmp_path), max_steps=STEPS, per_device_train_batch_size=BATCH,
                learning_rate=0.01, lr_scheduler_type="constant", report_to=[], use_cpu=True,
                save_strategy="no", logging_strategy="no", disable_tqdm=True, seed=0)
    args.update(extra)
    callback = TorchdoctorCallback(on_report=seen.append if seen is not None else None)
    trainer = transformers.Trainer(model=model, args=transformers.TrainingArguments(**args),
                                   train_dataset=IdentityDataset(), callbacks=[callback])
    return trainer, callback, model


def hf_train(width: int, tmp_path, seen: list | None = None, **extra):
    trainer, callback, model = hf_trainer(width, tmp_path, seen, **extra)
    with callback:
        trainer.train()
    assert no_hooks_left() and not any(p._backward_hooks for p in model.parameters())
    return callback


def test_hf_callback_finds_the_bottleneck_and_passes_the_wide_model(tmp_path):
    seen = []
    bottleneck = hf_train(5, tmp_path, seen)
    assert seen == [bottleneck.report()]                 # on_report got the final report
    check_reports(bottleneck.report(), hf_train(64, tmp_path).report(), "model.net.0 (Linear)")


def test_hf_gradients_are_read_once_per_step_before_clipping(tmp_path):
    # max_grad_norm=1e-3 clips every step: the norms seen must be the unclipped ones;
    # with two micro-batches per step, gradients are read once, when both are added up
    callback = hf_train(5, tmp_path, max_steps=20, max_grad_norm=1e-3, gradient_accumulation_steps=2)
    trace = callback.watch.observer.trace
    assert trace.steps == 20 and trace.grad_steps_checked == 20 and trace.zero_grad_steps == 0
    assert min(trace.grad_norm.head) > 0.01


def test_hf_a_failing_train_is_reported_as_crashed_and_hooks_are_removed(tmp_path):
    seen = []
    trainer, callback, model = hf_trainer(5, tmp_path, seen, fail_at=30)
    with pytest.raises(RuntimeError, match="boom"):
        with callback:
            trainer.train()
    assert no_hooks_left() and not any(p._backward_hooks for p in model.parameters())
    assert seen == [callback.report()]
    assert callback.report().status == "crashed" and callback.report().steps_observed == 29


@pytest.mark.parametrize("name, frameworks, extra", [
    ("lightning", ["lightning", "lightning.pytorch", "pytorch_lightning"], "torchdoctor[lightning]"),
    ("huggingface", ["transformers"], "torchdoctor[hf]")])
def test_without_the_framework_the_import_error_names_the_extra(monkeypatch, name, frameworks, extra):
    for module in frameworks:
        monkeypatch.setitem(sys.modules, module, None)          # None: "import X" raises ImportError
    monkeypatch.delitem(sys.modules, f"torchdoctor.integrations.{name}", raising=False)
    with pytest.raises(ImportError, match=re.escape(f"pip install {extra}")):
        importlib.import_module(f"torchdoctor.integrations.{name}")
