"""The observer's own memory: small next to the model, bounded in the number of steps,
and given back before the diagnosis goes on (benchmarks/memory.py measures the process)."""
import gc
import weakref

import torch
import torch.nn as nn
import torch.nn.functional as F

import torchdoctor.doctor as doctor
from torchdoctor.capture.hooks import Observer
from torchdoctor.capture.trace import RowReservoir


def held_tensor_bytes(obs: Observer, exclude: set[int]) -> tuple[int, int]:
    """Bytes of the tensor storages reachable from the observer, each storage once, less those
    in `exclude` (data_ptrs of the script's own weights, gradients, optimizer state): (in the
    row reservoirs, elsewhere). A view counts its whole storage: that is what it keeps alive."""
    seen_obj, seen_storage = set(), set(exclude)
    totals = [0, 0]

    def visit(obj, in_reservoir: bool) -> None:
        if id(obj) in seen_obj:
            return
        seen_obj.add(id(obj))
        if isinstance(obj, torch.Tensor):
            st = obj.untyped_storage()
            if st.data_ptr() not in seen_storage:
                seen_storage.add(st.data_ptr())
                totals[in_reservoir] += st.nbytes()
            return
        in_reservoir = in_reservoir or isinstance(obj, RowReservoir)
        if isinstance(obj, dict):
            for k, v in obj.items():
                visit(k, in_reservoir)
                visit(v, in_reservoir)
        elif isinstance(obj, (list, tuple, set)):
            for v in obj:
                visit(v, in_reservoir)
        elif type(obj).__module__.startswith("torchdoctor") and hasattr(obj, "__dict__"):
            visit(vars(obj), in_reservoir)     # its records; not the script's modules or optimizers

    visit(vars(obs), False)
    return totals[1], totals[0]


def test_the_observer_holds_little_and_no_more_after_more_steps():
    # 256x256, 256x64 and 10x256 weights: 85 k parameters, quick to train for 240 steps
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def train(steps):
        for _ in range(steps):
            x, y = torch.randn(32, 64), torch.randint(0, 10, (32,))
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

    def script_owned() -> set[int]:
        tensors = [t for p in model.parameters() for t in (p, p.grad) if t is not None]
        tensors += [v for s in opt.state.values() for v in s.values() if isinstance(v, torch.Tensor)]
        return {t.untyped_storage().data_ptr() for t in tensors}

    obs = Observer()
    with obs:
        train(60)
        reservoirs, other = held_tensor_bytes(obs, script_owned())
        train(180)
        reservoirs_4x, other_4x = held_tensor_bytes(obs, script_owned())
    # The row reservoirs (inputs, input/target pairs, targets) are capped at 2^20 float32
    # each (4 MiB); here about 2.1 MB. Everything else: 64 first values per parameter and
    # at most 4096 int64 indices per weight matrix for update sizes (~90 kB). Indices taken
    # as randperm(numel)[:4096] kept the whole int64 permutation alive: 8 bytes per weight
    # element, 0.7 MB here (168 MB for the 21 M-parameter MLP of benchmarks/memory.py).
    assert reservoirs <= 3 * 4 * 2**20
    assert other < 256 * 2**10, f"the observer holds {other / 2**20:.1f} MiB of tensors outside its reservoirs"
    assert (reservoirs_4x, other_4x) == (reservoirs, other)      # no growth from 60 to 240 steps


def test_release_lets_the_scripts_model_and_optimizer_go():
    def train(model, opt):
        # in a frame of its own: the observer reads the calling frame's f_locals to name the
        # model, and on Python < 3.13 that snapshot holds the frame's locals until it ends
        for _ in range(3):
            loss = F.mse_loss(model(torch.randn(4, 8)), torch.randn(4, 1))
            opt.zero_grad()
            loss.backward()
            opt.step()

    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    obs = Observer()
    with obs:
        train(model, opt)
    obs.finish({})
    refs = [weakref.ref(model), weakref.ref(opt)]
    del model, opt
    gc.collect()
    assert all(r() is not None for r in refs)            # the observer still holds them
    obs.release()
    gc.collect()
    assert all(r() is None for r in refs)
    assert obs.trace.steps == 3 and obs.trace.params    # the records stay


def test_diagnose_script_frees_the_scripts_model_before_judging(tmp_path, monkeypatch):
    script = tmp_path / "train.py"
    script.write_text(
        "import sys, weakref\nimport torch, torch.nn as nn\n"
        "model = nn.Linear(4, 1)\nopt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "def step():\n"                               # a function: the globals form a cycle
        "    loss = nn.functional.mse_loss(model(torch.randn(8, 4)), torch.randn(8, 1))\n"
        "    opt.zero_grad(); loss.backward(); opt.step()\n"
        "for _ in range(5):\n    step()\n"
        "sys.modules['torch']._torchdoctor_test_ref = weakref.ref(model)\n")
    alive = []
    judge = doctor.judge

    def spy(*args, **kwargs):
        alive.append(torch._torchdoctor_test_ref() is not None)
        return judge(*args, **kwargs)
    monkeypatch.setattr(doctor, "judge", spy)
    try:
        report, _ = doctor.diagnose_script(str(script), [], doctor.Options(verify=False))
    finally:
        ref = torch.__dict__.pop("_torchdoctor_test_ref", None)
    assert ref is not None and alive == [False]
    assert report.steps_observed == 5


def test_the_latest_predictions_kept_are_capped_for_wide_outputs():
    # segmentation-shaped logits (B, C, H, W): one row is C*H*W = 344064 values, 11 MB in all
    model = nn.Conv2d(3, 21, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def train():
        for _ in range(2):
            loss = F.cross_entropy(model(torch.randn(8, 3, 128, 128)), torch.randint(0, 21, (8, 128, 128)))
            opt.zero_grad()
            loss.backward()
            opt.step()
    obs = Observer()
    with obs:
        train()
    preds = obs.trace.loss_info.last_preds
    assert preds.shape == (3, 21 * 128 * 128)          # whole rows, at most 2^20 values (4 MiB)
