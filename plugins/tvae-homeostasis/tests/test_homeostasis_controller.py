"""HomeostasisController: its update rule, bounds, convergence, state and the seed's loop."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tvae_homeostasis import HomeostasisController

kl_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-1.0, 100.0),
)


@given(
    kls=st.lists(kl_values, max_size=60),
    beta_min=st.floats(1e-6, 1.0),
    span=st.floats(1.0, 1e4),
    gain=st.floats(0.0, 5.0),
    proportional_gain=st.floats(0.0, 5.0),
)
def test_beta_stays_within_bounds_for_any_kl_sequence(kls, beta_min, span, gain, proportional_gain):
    beta_max = beta_min * span
    controller = HomeostasisController(
        beta_init=beta_min, beta_min=beta_min, beta_max=beta_max, gain=gain,
        proportional_gain=proportional_gain,
    )  # fmt: skip
    for kl in kls:
        beta = controller.get_beta(kl)
        assert beta_min <= beta <= beta_max
        controller.update(kl)
        assert beta_min <= controller.beta <= beta_max
    assert controller.updates + controller.skipped == len(kls)


@given(st.lists(st.sampled_from([math.nan, math.inf, -math.inf]), min_size=1, max_size=10))
def test_non_finite_kls_are_ignored(kls):
    controller = HomeostasisController(beta_init=2.0)
    controller.update(3.0)
    beta, last = controller.beta, controller.last_kl
    for kl in kls:
        assert controller.get_beta(kl) == beta
        controller.update(kl)
    assert (controller.beta, controller.last_kl) == (beta, last)
    assert controller.skipped == len(kls)


def test_update_rule_is_multiplicative_with_a_dead_band():
    c = HomeostasisController(target_kl=1.0, kl_tolerance=0.5, beta_init=1.0, gain=0.1)
    c.update(1.2)  # inside [0.5, 1.5]: no change
    assert c.beta == 1.0
    c.update(math.exp(0.5))  # above: error log(kl / target) = 0.5
    assert c.beta == pytest.approx(math.exp(0.05))
    c.update(100.0)  # far above: error clipped to 1
    assert c.beta == pytest.approx(math.exp(0.15))
    c.update(0.4)  # below: error log(0.4)
    assert c.beta == pytest.approx(math.exp(0.15 + 0.1 * math.log(0.4)))
    c.update(0.0)  # no KL at all (collapse): full error downwards
    assert c.beta == pytest.approx(math.exp(0.15 + 0.1 * math.log(0.4) - 0.1))


def test_too_much_kl_raises_beta_and_too_little_lowers_it():
    high, low = HomeostasisController(), HomeostasisController()
    for _ in range(5):
        high.update(10.0)
        low.update(0.01)
    assert high.beta > 1.0 > low.beta


def test_get_beta_is_a_pure_read_and_the_seed_loop_steps_once_per_iteration():
    stepped, seed_loop = HomeostasisController(), HomeostasisController()
    for kl in (4.0, 3.0, 2.5, 0.1):
        stepped.update(kl)
        seed_loop.get_beta(kl)
        seed_loop.get_beta(kl)
        seed_loop.update(kl)
        assert seed_loop.beta == stepped.beta
    assert seed_loop.updates == 4


def test_proportional_term_acts_only_in_get_beta():
    c = HomeostasisController(beta_init=1.0, gain=0.1, proportional_gain=0.5)
    assert c.get_beta(math.e) == pytest.approx(math.exp(0.5))
    assert c.get_beta(1.0) == 1.0
    assert c.get_beta() == 1.0
    assert c.beta == 1.0


@pytest.mark.parametrize("exponent", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("scale", [0.05, 20.0])
def test_converges_into_the_band_on_a_toy_kl_model(exponent, scale):
    """KL(β) = scale · β^-exponent: the posterior's KL shrinks as β grows."""
    c = HomeostasisController(target_kl=1.0, kl_tolerance=0.25, beta_min=1e-3, beta_max=1e3,
                              gain=0.3)  # fmt: skip
    kl = scale
    for _ in range(200):
        kl = scale * c.get_beta(kl) ** -exponent
        c.update(kl)
    assert c.in_band(kl)
    settled = c.beta
    for _ in range(20):  # and it stays there
        c.update(scale * c.get_beta() ** -exponent)
    assert c.beta == settled


def test_unreachable_target_parks_beta_at_its_bound():
    c = HomeostasisController(target_kl=1.0, kl_tolerance=0.1, beta_max=5.0)
    for _ in range(100):
        c.update(50.0 * c.beta**-0.1)  # would need β far above beta_max
    assert c.beta == 5.0


def test_state_round_trip_restores_beta_and_counters():
    c = HomeostasisController(beta_init=0.5)
    for kl in (3.0, 4.0, math.nan, 0.2):
        c.update(kl)
    restored = HomeostasisController()
    restored.load_state_dict(c.state_dict())
    assert restored.state_dict() == c.state_dict()
    assert restored.beta == c.beta and restored.skipped == 1 and restored.updates == 3
    for kl in (5.0, 0.3):
        c.update(kl)
        restored.update(kl)
    assert restored.beta == c.beta


def test_loaded_beta_is_clipped_to_the_new_bounds():
    c = HomeostasisController(beta_max=2.0)
    c.load_state_dict({"beta": 8.0})
    assert c.beta == 2.0
    with pytest.raises(ValueError, match="no 'beta'"):
        c.load_state_dict({"updates": 3})


def test_reset_starts_over():
    c = HomeostasisController()
    c.update(10.0)
    c.reset(100.0)
    assert (c.beta, c.updates, c.last_kl) == (10.0, 0, None)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target_kl": 0.0}, "target_kl must be > 0"),
        ({"target_kl": math.nan}, "target_kl must be a finite number"),
        ({"kl_tolerance": -0.1}, "kl_tolerance must be >= 0"),
        ({"beta_min": 2.0, "beta_max": 1.0}, "beta_min <= beta_max"),
        ({"beta_min": 0.0}, "0 < beta_min"),
        ({"beta_init": 20.0}, "beta_init=20.0 lies outside"),
        ({"gain": -1.0}, "gain and proportional_gain must be >= 0"),
    ],
)
def test_bad_settings_are_one_line_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HomeostasisController(**kwargs)


def test_tolerance_wider_than_target_has_no_lower_edge():
    c = HomeostasisController(target_kl=1.0, kl_tolerance=2.0)
    c.update(0.0)
    assert c.beta == 1.0


def test_seed_snippet_runs_as_shown():
    """The seed's "Homeostasis Controller" loop, with only the import changed."""
    from tvae_homeostasis import HomeostasisController

    controller = HomeostasisController(
        target_kl=1.0,
        kl_tolerance=0.5,
    )
    recon_loss, epochs = 2.0, 30
    current_kl, betas = 6.0, []
    for _epoch in range(epochs):
        # Get adaptive beta
        beta = controller.get_beta(current_kl)

        # Use in loss
        kl_loss = current_kl
        loss = recon_loss + beta * kl_loss
        assert loss > 0

        # Update controller
        controller.update(current_kl)
        betas.append(beta)
        current_kl = 6.0 / controller.get_beta() ** 1.5  # a fake KL answering β
    assert betas == sorted(betas) and betas[-1] > betas[0]
    assert controller.in_band(current_kl)
