"""The optimizers import neither geoopt nor ``torch._dynamo`` where they need not (issue 16).

Without manifold parameters (tvae's ``TernaryVAE`` has none) geoopt is never imported; with
them geoopt is, but ``torch._dynamo`` (1-2.5 s of start-up, pulled in by the first call of a
torch optimizer's constructor, ``step`` or ``zero_grad``) still is not.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

_PROBE = """
import copy, json, pickle, sys
import torch
from tvae_geoopt import RiemannianAdam, RiemannianSGD

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
params = list(model.parameters())
if {manifold!r}:
    import geoopt

    ball = geoopt.PoincareBall()
    params.append(geoopt.ManifoldParameter(ball.expmap0(torch.randn(3, 2) * 0.1), manifold=ball))
for cls in (RiemannianAdam, RiemannianSGD):
    opt = cls(params, lr=1e-2, stabilize=1)
    for _ in range(2):
        opt.zero_grad()
        loss = model(torch.ones(5, 4)).square().sum()
        if {manifold!r}:
            loss = loss + ball.dist0(params[-1]).sum()
        loss.backward()
        opt.step()
    opt.load_state_dict(opt.state_dict())
    copy.deepcopy(opt)
    pickle.loads(pickle.dumps(opt))
    assert (opt.manifold_optimizer is not None) == {manifold!r}
print(json.dumps([m for m in ("torch._dynamo", "geoopt", "scipy") if m in sys.modules]))
"""


@pytest.mark.parametrize(
    ("manifold", "imported"), [(False, []), (True, ["geoopt", "scipy"])], ids=["plain", "manifold"]
)
def test_building_stepping_and_saving_imports_no_dynamo(
    manifold: bool, imported: list[str]
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(manifold=manifold)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == imported


def test_the_inner_optimizers_are_geoopts_and_torchs_classes(mixed_model):
    import geoopt
    import torch
    from tvae_geoopt import RiemannianAdam, RiemannianSGD

    from tvae_core.optim import EagerStart

    model = mixed_model()
    for cls, manifold_cls, torch_cls in (
        (RiemannianAdam, geoopt.optim.RiemannianAdam, torch.optim.Adam),
        (RiemannianSGD, geoopt.optim.RiemannianSGD, torch.optim.SGD),
    ):
        opt = cls(model.parameters(), lr=1e-3)
        assert isinstance(opt, EagerStart)
        assert isinstance(opt.manifold_optimizer, manifold_cls)
        assert isinstance(opt.manifold_optimizer, EagerStart)
        assert isinstance(opt.euclidean_optimizer, torch_cls)
        assert isinstance(opt.euclidean_optimizer, EagerStart)
