"""TernaryVAE holds its curvature as geoopt's PoincareBall did, without importing geoopt.

The parameter ``manifold.isp_c`` keeps its name, value (to the bit), dtype, place among the
parameters and ``requires_grad``, so model and optimizer states saved when the model held a
``geoopt.PoincareBall`` load unchanged; ``model.manifold`` still gives a ``PoincareBall``,
sharing the model's parameter (issue 16, item 4).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import geoopt
import pytest
import torch
from tvae_ternary.data import ternary_tensors
from tvae_ternary.model import TernaryVAE

SMALL = {"input_dim": 81, "latent_dim": 4, "hidden_dims": (16,)}


def _batch(rows: int = 12) -> dict[str, torch.Tensor]:
    return {k: v[:rows] for k, v in ternary_tensors(4).items()}


def _as_before(curvature: float, learnable: bool, **kwargs: object) -> TernaryVAE:
    """A model as the constructor built it before: a geoopt PoincareBall as ``manifold``."""
    torch.manual_seed(0)
    model = TernaryVAE(curvature=curvature, learn_curvature=learnable, **kwargs)  # type: ignore[arg-type]
    model._modules["manifold"] = geoopt.PoincareBall(c=curvature, learnable=learnable)
    return model


@pytest.mark.parametrize("curvature", [1.0, 2.0, 0.5, 1e-3, 7.25])
@pytest.mark.parametrize("learnable", [False, True])
def test_the_stored_curvature_is_geoopts_to_the_bit(curvature: float, learnable: bool) -> None:
    ours = TernaryVAE(curvature=curvature, learn_curvature=learnable, **SMALL)  # type: ignore[arg-type]
    ball = geoopt.PoincareBall(c=curvature, learnable=learnable)
    mine = ours.state_dict()["manifold.isp_c"]
    assert mine.dtype == ball.isp_c.dtype and mine.shape == ball.isp_c.shape
    assert torch.equal(mine, ball.isp_c.detach())
    assert torch.equal(ours.curvature, ball.c.detach())
    param = dict(ours.named_parameters())["manifold.isp_c"]
    assert param.requires_grad is learnable


@pytest.mark.parametrize("learnable", [False, True])
def test_a_state_saved_with_geoopts_ball_loads(tmp_path: Path, learnable: bool) -> None:
    old = _as_before(2.0, learnable, **SMALL)
    old_opt = torch.optim.Adam(old.parameters(), lr=1e-2)
    for _ in range(3):
        old_opt.zero_grad()
        out = old(_batch())
        (out["logits"].square().mean() + out["z"].square().sum() * out["curvature"]).backward()
        old_opt.step()
    path = tmp_path / "before.pt"
    torch.save({"model": old.state_dict(), "optimizer": old_opt.state_dict()}, path)
    saved = torch.load(path, weights_only=True)

    new = TernaryVAE(curvature=1.0, learn_curvature=learnable, **SMALL)  # type: ignore[arg-type]
    assert [n for n, _ in new.named_parameters()] == [n for n, _ in old.named_parameters()]
    assert list(new.state_dict()) == list(old.state_dict())
    new.load_state_dict(saved["model"])
    new_opt = torch.optim.Adam(new.parameters(), lr=1e-2)
    new_opt.load_state_dict(saved["optimizer"])
    assert "geoopt" not in type(new._modules["manifold"]).__module__
    assert torch.equal(new.curvature, old.curvature)
    if learnable:
        assert float(new.curvature.detach()) != 2.0  # the trained value came with the state
    old.eval(), new.eval()
    with torch.no_grad():
        a, b = old(_batch()), new(_batch())
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # and one more step of each stays identical: the optimizer state matched the parameters
    for model, opt in ((old, old_opt), (new, new_opt)):
        model.train()
        torch.manual_seed(3)
        opt.zero_grad()
        out = model(_batch())
        (out["logits"].square().mean() + out["z"].square().sum() * out["curvature"]).backward()
        opt.step()
    for (name, p), q in zip(old.state_dict().items(), new.state_dict().values(), strict=True):
        assert torch.equal(p, q), name


@pytest.mark.parametrize("learnable", [False, True])
def test_manifold_is_a_poincare_ball_sharing_the_curvature(learnable: bool) -> None:
    model = TernaryVAE(curvature=2.0, learn_curvature=learnable, **SMALL)  # type: ignore[arg-type]
    param = dict(model.named_parameters())["manifold.isp_c"]
    keys = list(model.state_dict())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)  # built before manifold is asked for
    ball = model.manifold
    assert isinstance(ball, geoopt.PoincareBall)
    assert model.manifold is ball
    assert ball.isp_c is param
    assert torch.equal(ball.c, model.curvature)
    assert list(model.state_dict()) == keys
    assert [p for _, p in model.named_parameters()][-1] is param
    if learnable:
        before = float(model.curvature.detach())
        opt.zero_grad()
        out = model(_batch())
        ball.dist(out["z_mean"][:6], out["z_mean"][6:]).sum().backward()
        opt.step()
        assert float(model.curvature.detach()) != before
        assert torch.equal(ball.c, model.curvature)
    # the ball serves geoopt's own tensors too
    point = geoopt.ManifoldParameter(ball.projx(torch.randn(3, 4) * 0.1), manifold=ball)
    assert ball.check_point_on_manifold(point)


def test_a_model_moved_after_asking_for_manifold_moves_the_balls_curvature() -> None:
    model = TernaryVAE(curvature=2.0, **SMALL)  # type: ignore[arg-type]
    ball = model.manifold
    model.double()
    assert ball.isp_c.dtype == torch.float64
    assert model.curvature.dtype == torch.float64
    assert float(ball.c) == pytest.approx(2.0)


_PROBE = """
import json, sys, torch
from tvae_ternary.data import ternary_tensors
from tvae_ternary.model import TernaryVAE
batch = {k: v[:16] for k, v in ternary_tensors(4).items()}
for learnable in (False, True):
    model = TernaryVAE(input_dim=81, latent_dim=4, hidden_dims=(16,), learn_curvature=learnable)
    out = model(batch)
    (out["logits"].mean() + out["z"].sum() * out["curvature"]).backward()
    model.load_state_dict(model.state_dict())
    model.eval()(batch)
before = [m for m in ("geoopt", "scipy") if m in sys.modules]
model.manifold
print(json.dumps({"before": before, "after": "geoopt" in sys.modules}))
"""


def test_building_and_training_imports_neither_geoopt_nor_scipy() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"before": [], "after": True}
