"""On CUDA: fused kernels for ordinary weights, equivalence to geoopt, and checkpoint loading.

Skipped where there is no GPU; the project's device check runs it.
"""

from __future__ import annotations

import copy
import io

import geoopt
import pytest
import torch
from tvae_geoopt import RiemannianAdam

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _on_cuda(model):
    model = model.to("cuda")
    model.x = model.x.to("cuda")
    return model


def test_adam_matches_geoopt_on_cuda(mixed_model, run_steps, max_difference):
    ours, theirs = _on_cuda(mixed_model()), _on_cuda(mixed_model())
    optimizer = RiemannianAdam(ours.parameters(), lr=1e-2, weight_decay=1e-3)
    assert optimizer.euclidean_optimizer is not None
    assert optimizer.euclidean_optimizer.param_groups[0]["fused"] is True
    reference = geoopt.optim.RiemannianAdam(theirs.parameters(), lr=1e-2, weight_decay=1e-3)
    run_steps(ours, optimizer, 25)
    run_steps(theirs, reference, 25)
    assert max_difference(ours, theirs) < 1e-5


def test_a_checkpoint_read_to_cpu_loads_back_onto_cuda(mixed_model, run_steps, max_difference):
    a = _on_cuda(mixed_model())
    opt_a = RiemannianAdam(a.parameters(), lr=1e-2)
    run_steps(a, opt_a, 3)
    buffer = io.BytesIO()
    torch.save(opt_a.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, map_location="cpu", weights_only=True)

    b = _on_cuda(mixed_model())
    b.load_state_dict(copy.deepcopy(a.state_dict()))
    opt_b = RiemannianAdam(b.parameters(), lr=1e-2)
    opt_b.load_state_dict(state)
    # fused kernels keep the step on the parameter's device; geoopt keeps a Python int
    assert opt_b.state[b.scale]["step"].device.type == "cuda"
    assert opt_b.state[b.scale]["exp_avg"].device.type == "cuda"
    assert isinstance(opt_b.state[b.points]["step"], int)
    assert opt_b.state[b.points]["exp_avg"].device.type == "cuda"
    run_steps(a, opt_a, 3)
    run_steps(b, opt_b, 3)
    assert max_difference(a, b) == 0.0
