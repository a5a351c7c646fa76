"""Reconstruction and KL: values on known inputs and gradients."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tvae_losses.vae import KL, Reconstruction, gaussian_kl_per_dim


def test_reconstruction_known_values() -> None:
    x = torch.tensor([[-1.0, 0.0, 1.0]])
    uniform = torch.zeros(1, 3, 3)
    assert float(Reconstruction()({"logits": uniform}, {"x": x})) == pytest.approx(3 * math.log(3))
    assert float(Reconstruction("mean")({"logits": uniform}, {"x": x})) == pytest.approx(
        math.log(3)
    )
    exact = torch.nn.functional.one_hot(x.long() + 1, 3).float() * 50
    assert float(Reconstruction()({"logits": exact}, {"x": x})) < 1e-6


def test_reconstruction_gradient_raises_the_target_logit() -> None:
    x = torch.tensor([[1.0, -1.0]])
    logits = torch.zeros(1, 2, 3, requires_grad=True)
    Reconstruction()({"logits": logits}, {"x": x}).backward()
    assert logits.grad is not None
    assert logits.grad[0, 0, 2] < 0 and logits.grad[0, 1, 0] < 0
    assert logits.grad[0, 0, 0] > 0


def test_reconstruction_settings_errors() -> None:
    with pytest.raises(ValueError, match="reduction"):
        Reconstruction("max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="label_smoothing"):
        Reconstruction(label_smoothing=1.0)


@settings(derandomize=True, max_examples=30, deadline=None)
@given(st.floats(-3, 3), st.floats(-4, 2))
def test_kl_matches_torch_distributions(mu: float, logvar: float) -> None:
    m, lv = torch.tensor([[mu]], dtype=torch.float64), torch.tensor([[logvar]], dtype=torch.float64)
    ref = torch.distributions.kl_divergence(
        torch.distributions.Normal(m, (0.5 * lv).exp()), torch.distributions.Normal(0.0, 1.0)
    )
    assert torch.allclose(gaussian_kl_per_dim(m, lv), ref)


def test_kl_is_zero_at_the_prior_and_sums_dimensions() -> None:
    zeros = torch.zeros(4, 3)
    assert float(KL()({"mu": zeros, "logvar": zeros}, {})) == 0.0
    mu = torch.ones(4, 3)
    assert float(KL()({"mu": mu, "logvar": zeros}, {})) == pytest.approx(1.5)


def test_free_bits_floor_each_dimension_and_stop_its_gradient() -> None:
    mu = torch.tensor([[0.1, 2.0]], requires_grad=True)
    logvar = torch.zeros(1, 2)
    value = KL(free_bits=0.5)({"mu": mu, "logvar": logvar}, {})
    assert float(value.detach()) == pytest.approx(0.5 + 2.0)
    value.backward()
    assert mu.grad is not None
    assert mu.grad[0, 0] == 0 and mu.grad[0, 1] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="free_bits"):
        KL(free_bits=-1)


def test_requires_name_the_keys() -> None:
    assert Reconstruction.requires == {"outputs.logits", "batch.x"}
    assert KL.requires == {"outputs.mu", "outputs.logvar"}
