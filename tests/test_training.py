"""Swapped networks train, differentiate, compile, serialise and run under DDP like the original."""

from __future__ import annotations

import copy
import io
import os
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ai3

from helpers import CONV_IMPLEMENTED, assert_layer_close


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 8, 3, padding=1, groups=2)
        self.c3 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        x = F.relu(self.c1(x))
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        x = F.relu(self.c3(x))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def data(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(8, 3, 12, 12, generator=g), torch.randint(0, 5, (8,), generator=g)


def train(net: nn.Module, steps: int, lr: float = 0.05):
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    x, y = data()
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("algo", CONV_IMPLEMENTED)
def test_twenty_sgd_steps_match_torch(algo):
    torch.manual_seed(0)
    ref = SmallCNN()
    net = copy.deepcopy(ref)
    ai3.swap_conv2d(net, algo)
    torch_losses = train(ref, 20)
    ai3_losses = train(net, 20)
    assert max(abs(a - b) for a, b in zip(torch_losses, ai3_losses)) < 1e-4, (torch_losses, ai3_losses)
    assert torch_losses[-1] < torch_losses[0]  # it did learn
    for (n, p), (_, q) in zip(net.named_parameters(), ref.named_parameters()):
        assert_layer_close(p, q, msg=n)


@pytest.mark.parametrize("algo", CONV_IMPLEMENTED)
def test_compile_fullgraph_train_step_matches_eager(algo):
    torch.manual_seed(0)
    net = SmallCNN()
    ai3.swap_conv2d(net, algo)
    x, y = data()
    eager_loss = F.cross_entropy(net(x), y)
    eager_grads = torch.autograd.grad(eager_loss, list(net.parameters()))
    compiled = torch.compile(net, backend="aot_eager", fullgraph=True)
    loss = F.cross_entropy(compiled(x), y)
    grads = torch.autograd.grad(loss, list(net.parameters()))
    assert abs(loss.item() - eager_loss.item()) < 1e-5
    for g, e in zip(grads, eager_grads):
        assert_layer_close(g, e)


def test_compile_inductor_eval_and_train():
    torch.manual_seed(0)
    net = SmallCNN()
    ref = copy.deepcopy(net)
    ai3.swap_conv2d(net, "default")
    x, y = data()
    compiled = torch.compile(net, fullgraph=True)  # inductor
    with torch.no_grad():
        assert_layer_close(compiled.eval()(x), ref.eval()(x))
    compiled.train(), ref.train()
    loss = F.cross_entropy(compiled(x), y)
    loss.backward()
    F.cross_entropy(ref(x), y).backward()
    for (n, p), (_, q) in zip(net.named_parameters(), ref.named_parameters()):
        assert_layer_close(p.grad, q.grad, msg=n)


@pytest.mark.parametrize("algo", CONV_IMPLEMENTED)
@pytest.mark.parametrize("requires_grad", [False, True])
def test_opcheck_every_algorithm(algo, requires_grad):
    g = torch.Generator().manual_seed(1)
    samples = [
        (torch.randn(2, 4, 7, 8, generator=g), torch.randn(6, 2, 3, 3, generator=g), torch.randn(6, generator=g),
         [1, 1], [1, 1, 1, 1], [1, 1], 2, "zeros"),
        (torch.randn(1, 3, 9, 9, generator=g), torch.randn(4, 3, 3, 3, generator=g), None,
         [1, 1], [0, 1, 2, 0], [1, 1], 1, "reflect"),
    ]
    if algo != "winograd":
        samples.append((torch.randn(2, 3, 9, 8, generator=g), torch.randn(4, 3, 2, 3, generator=g), None,
                        [2, 1], [1, 1, 0, 2], [2, 1], 1, "zeros"))
    for x, w, b, *rest in samples:
        args = [t.requires_grad_(requires_grad) if isinstance(t, torch.Tensor) else t for t in (x, w, b)]
        torch.library.opcheck(torch.ops.ai3.conv2d.default, (*args, *rest, algo))


def test_save_load_and_weights_only_state_dict(tmp_path):
    torch.manual_seed(0)
    net = SmallCNN()
    keys = list(net.state_dict())
    ai3.swap_conv2d(net, ["direct", "smm", "winograd"])
    assert list(net.state_dict()) == keys
    x, _ = data()
    expected = net(x)
    torch.save(net.state_dict(), tmp_path / "sd.pt")
    fresh = SmallCNN()
    fresh.load_state_dict(torch.load(tmp_path / "sd.pt", weights_only=True))
    ai3.swap_conv2d(fresh, ["direct", "smm", "winograd"])
    assert_layer_close(fresh(x), expected)
    buf = io.BytesIO()
    torch.save(net, buf)
    buf.seek(0)
    whole = torch.load(buf, weights_only=False)
    assert [m.algorithm for m in whole.modules() if isinstance(m, ai3.Conv2d)] == ["direct", "smm", "winograd"]
    assert_layer_close(whole(x), expected)


def test_to_float64_after_swap():
    torch.manual_seed(0)
    net = SmallCNN()
    ref = copy.deepcopy(net).double()
    ai3.swap_conv2d(net, "implicit precomp gemm")
    net.to(torch.float64)
    x, _ = data()
    x = x.double()
    out = net(x)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, ref(x), atol=1e-10, rtol=1e-10)


def _ddp_worker(rank: int, world: int, use_ai3: bool, out_dir: str) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    torch.set_num_threads(1)
    # A file rendezvous (one per run): no TCP port to pick, so nothing to race for.
    init = f"file://{os.path.join(out_dir, f'rendezvous_{int(use_ai3)}')}"
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        torch.manual_seed(0)
        net = SmallCNN()
        if use_ai3:
            ai3.swap_conv2d(net, "default")
        model = DDP(net)
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        x, y = data(seed=rank)  # each rank its own shard
        for _ in range(5):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
        if rank == 0:
            torch.save({k: v.detach().clone() for k, v in net.state_dict().items()},
                       os.path.join(out_dir, f"ddp_{int(use_ai3)}.pt"))
        dist.barrier()
    finally:
        dist.destroy_process_group()
    # Reached only on success. Skip the interpreter's teardown: torch's gloo threads abort
    # there ("terminate called without an active exception") in about 1 of 8 runs on this
    # machine, with or without ai3 imported (reproduced with plain torch DDP).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def test_ddp_two_processes_match_plain_torch(tmp_path):
    import torch.multiprocessing as mp

    for use_ai3 in (False, True):
        mp.spawn(_ddp_worker, args=(2, use_ai3, str(tmp_path)), nprocs=2, join=True)
    plain = torch.load(tmp_path / "ddp_0.pt", weights_only=True)
    swapped = torch.load(tmp_path / "ddp_1.pt", weights_only=True)
    assert list(plain) == list(swapped)
    for k in plain:
        torch.testing.assert_close(swapped[k], plain[k], atol=1e-4, rtol=1e-4, msg=k)
    torch.manual_seed(0)
    initial = SmallCNN().state_dict()  # what both runs started from
    assert all(not torch.equal(plain[k], initial[k]) for k in plain if k.endswith("weight")), "nothing trained"
