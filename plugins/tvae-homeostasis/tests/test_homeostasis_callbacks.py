"""The homeostasis and curriculum callbacks drive a real LossRegistry through a fake trainer."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from tvae_homeostasis import CurriculumCallback, HomeostasisCallback

from tvae_core import CallbackList, ConfigError, LossRegistry


def _registry(**weights: float) -> LossRegistry:
    registry = LossRegistry()
    for name, weight in weights.items():
        registry.add(name, lambda outputs, batch: torch.zeros(()), weight)
    return registry


def _trainer(registry: LossRegistry, *callbacks) -> SimpleNamespace:
    # A one-dimensional latent: per-dimension KL (the default unit) is the whole KL.
    model = SimpleNamespace(latent_dim=1)
    return SimpleNamespace(losses=registry, callbacks=CallbackList(callbacks), model=model)


def _fake_kl(beta: float) -> float:
    """A posterior whose KL shrinks as β grows: KL(β) = 8 / β."""
    return 8.0 / beta


def _run(callback: HomeostasisCallback, registry: LossRegistry, epochs: range) -> list[float]:
    """Epochs whose mean KL answers the weight in force during them; the β used per epoch."""
    used = []
    for epoch in epochs:
        callback.on_epoch_start(epoch)
        beta = registry.weight("kl")
        used.append(beta)
        callback.on_epoch_end(epoch, {"train/loss": 1.0, "train/kl": _fake_kl(beta)})
    return used


def test_homeostasis_sets_the_kl_weight_each_epoch_until_the_kl_is_in_band():
    registry = _registry(reconstruction=1.0, kl=1.0)
    callback = HomeostasisCallback(target_kl=1.0, kl_tolerance=0.5, gain=0.5)
    callback.on_fit_start(_trainer(registry, callback))
    used = _run(callback, registry, range(40))
    assert used[0] == 1.0
    assert used == sorted(used)
    assert callback.controller.in_band(_fake_kl(registry.weight("kl")))
    assert registry.weight("reconstruction") == 1.0


def test_homeostasis_starts_from_the_configured_weight_unless_given_beta_init():
    registry = _registry(kl=0.25)
    callback = HomeostasisCallback()
    callback.on_fit_start(_trainer(registry))
    assert callback.controller.beta == 0.25
    explicit = HomeostasisCallback(beta_init=2.0)
    explicit.on_fit_start(_trainer(registry))
    assert registry.weight("kl") == 2.0


def test_homeostasis_drives_a_loss_of_another_name_from_another_metric():
    registry = _registry(kl_free_bits=1.0)
    callback = HomeostasisCallback(loss="kl_free_bits", monitor="train/kl_free_bits")
    callback.on_fit_start(_trainer(registry))
    callback.on_epoch_end(0, {"train/kl_free_bits": 100.0})
    assert registry.weight("kl_free_bits") == pytest.approx(math.exp(0.1))


def test_resume_restores_the_controller_and_continues_identically():
    straight_registry = _registry(kl=1.0)
    straight = HomeostasisCallback(gain=0.3)
    straight.on_fit_start(_trainer(straight_registry))
    expected = _run(straight, straight_registry, range(12))

    first_registry = _registry(kl=1.0)
    first = HomeostasisCallback(gain=0.3)
    first.on_fit_start(_trainer(first_registry))
    used = _run(first, first_registry, range(5))
    saved = CallbackList([first]).state_dict()  # as the engine stores it in checkpoints

    # The engine restores callback state before on_fit_start; the registry's weights are
    # left at their configured values here to show the callback re-applies its own β.
    resumed_registry = _registry(kl=1.0)
    resumed = HomeostasisCallback(gain=0.3)
    CallbackList([resumed]).load_state_dict(saved)
    resumed.on_fit_start(_trainer(resumed_registry))
    used += _run(resumed, resumed_registry, range(5, 12))
    assert used == expected


def test_state_loaded_after_fit_start_is_applied_at_once():
    registry = _registry(kl=1.0)
    callback = HomeostasisCallback()
    callback.on_fit_start(_trainer(registry))
    callback.load_state_dict({"controller": {"beta": 3.0, "last_kl": 1.0}})
    assert registry.weight("kl") == 3.0


def test_non_finite_kl_keeps_beta():
    registry = _registry(kl=1.0)
    callback = HomeostasisCallback()
    callback.on_fit_start(_trainer(registry))
    callback.on_epoch_end(0, {"train/kl": math.nan})
    callback.on_epoch_end(1, {"train/kl": math.inf})
    assert registry.weight("kl") == 1.0
    assert callback.controller.skipped == 2


def test_missing_loss_is_a_config_error_at_fit_start():
    callback = HomeostasisCallback()
    with pytest.raises(ConfigError, match=r"homeostasis\.loss: the run has no loss named 'kl' "
                                          r"\(its losses: reconstruction\)"):  # fmt: skip
        callback.on_fit_start(_trainer(_registry(reconstruction=1.0)))


def test_a_train_monitor_that_no_loss_logs_is_a_config_error_at_fit_start():
    callback = HomeostasisCallback(monitor="train/kll")
    with pytest.raises(
        ConfigError, match=r"the run logs no 'train/kll' \(it logs train/loss, train/kl\)"
    ):
        callback.on_fit_start(_trainer(_registry(kl=1.0)))


def test_a_train_monitor_missing_from_the_logs_is_a_config_error():
    callback = HomeostasisCallback(monitor="train/kl")
    callback.on_fit_start(_trainer(_registry(kl=1.0)))
    with pytest.raises(ConfigError, match=r"'train/kl' is not among the epoch's metrics "
                                          r"\(train/loss, val/kl\)"):  # fmt: skip
        callback.on_epoch_end(0, {"train/loss": 1.0, "val/kl": 2.0, "lr": 1e-3})


def test_a_val_monitor_updates_on_validation_epochs_only():
    registry = _registry(kl=1.0)
    callback = HomeostasisCallback(monitor="val/kl")
    callback.on_fit_start(_trainer(registry))
    callback.on_epoch_end(0, {"train/kl": 50.0})
    assert callback.controller.updates == 0
    callback.on_validation_end(1, {"val/kl": 50.0})
    callback.on_epoch_end(1, {"train/kl": 50.0, "val/kl": 50.0})
    assert callback.controller.updates == 1
    with pytest.raises(ConfigError, match="'val/kl' is not among"):
        callback.on_validation_end(2, {"val/loss": 1.0})


def test_using_a_callback_without_fit_start_is_an_error():
    with pytest.raises(RuntimeError, match="on_fit_start"):
        HomeostasisCallback().on_epoch_end(0, {"train/kl": 1.0})
    with pytest.raises(RuntimeError, match="on_fit_start"):
        CurriculumCallback({"kl": 1.0}).on_epoch_start(0)


def test_bad_homeostasis_settings_fail_at_construction():
    with pytest.raises(ValueError, match=r"beta_init=50\.0 lies outside"):
        HomeostasisCallback(beta_init=50.0)


def test_curriculum_sets_base_weight_times_difficulty_at_each_epoch_start():
    registry = _registry(reconstruction=1.0, padic_ranking=0.0, radial=0.0)
    callback = CurriculumCallback(
        {"padic_ranking": 0.5, "radial": 2.0}, start_difficulty=0.2, warmup_epochs=4
    )
    callback.on_fit_start(_trainer(registry, callback))
    seen = []
    for epoch in range(6):
        callback.on_epoch_start(epoch)
        seen += [registry.weight("padic_ranking"), registry.weight("radial")]
    assert seen == pytest.approx([0.1, 0.4, 0.2, 0.8, 0.3, 1.2, 0.4, 1.6, 0.5, 2.0, 0.5, 2.0])
    assert registry.weight("reconstruction") == 1.0
    assert callback.weights(2) == pytest.approx({"padic_ranking": 0.3, "radial": 1.2})


def test_curriculum_on_resume_uses_the_epoch_it_resumes_at():
    registry = _registry(padic_ranking=0.0)
    callback = CurriculumCallback({"padic_ranking": 1.0}, start_difficulty=0.0, warmup_epochs=10)
    callback.load_state_dict(callback.state_dict())
    callback.on_fit_start(_trainer(registry))
    callback.on_epoch_start(7)
    assert registry.weight("padic_ranking") == pytest.approx(0.7)


def test_curriculum_rejects_unknown_losses_and_a_loss_driven_by_homeostasis():
    registry = _registry(kl=1.0, padic_ranking=0.5)
    with pytest.raises(ConfigError, match=r"curriculum\.losses\.padic: the run has no loss"):
        CurriculumCallback({"padic": 1.0}).on_fit_start(_trainer(registry))
    both = CurriculumCallback({"kl": 1.0})
    with pytest.raises(ConfigError, match="homeostasis already sets the weight of loss 'kl'"):
        both.on_fit_start(_trainer(registry, HomeostasisCallback(), both))


def test_curriculum_needs_at_least_one_finite_base_weight():
    with pytest.raises(ValueError, match="at least one loss"):
        CurriculumCallback({})
    with pytest.raises(ValueError, match=r"losses\.kl: base weight must be finite"):
        CurriculumCallback({"kl": math.nan})


def test_target_kl_is_per_latent_dimension_by_default():
    """16 dimensions: the seed's target 1.0 +- 0.5 holds a total KL of 8-24 nats."""
    registry = _registry(kl=1.0)
    callback = HomeostasisCallback(target_kl=1.0, kl_tolerance=0.5, gain=0.5)
    trainer = SimpleNamespace(
        losses=registry, callbacks=CallbackList([callback]), model=SimpleNamespace(latent_dim=16)
    )
    callback.on_fit_start(trainer)
    assert callback.kl_scale == 16
    callback.on_epoch_end(0, {"train/kl": 20.0})  # 1.25 nats per dimension: in the band
    assert registry.weight("kl") == 1.0
    callback.on_epoch_end(1, {"train/kl": 40.0})  # 2.5 per dimension: above it, β rises
    assert registry.weight("kl") == pytest.approx(math.exp(0.5 * math.log(2.5)))
    total = HomeostasisCallback(target_kl=1.0, kl_tolerance=0.5, kl_unit="total")
    total.on_fit_start(SimpleNamespace(losses=_registry(kl=1.0), model=None))
    assert total.kl_scale == 1


def test_a_band_below_ln_n_nats_is_refused_at_fit_start():
    model = SimpleNamespace(latent_dim=16, input_dim=19683)  # ln 19683 = 9.9 nats
    trainer = SimpleNamespace(losses=_registry(kl=1.0), model=model)
    with pytest.raises(ConfigError, match=r"homeostasis\.target_kl: .* 1\.5 nats .* ln 19683"):
        HomeostasisCallback(target_kl=1.0, kl_tolerance=0.5, kl_unit="total").on_fit_start(trainer)
    HomeostasisCallback(target_kl=1.0, kl_tolerance=0.5).on_fit_start(trainer)  # 24 nats: fine
    with pytest.raises(ConfigError, match=r"kl_unit: 'dim' .* latent_dim.*set kl_unit: total"):
        HomeostasisCallback().on_fit_start(SimpleNamespace(losses=_registry(kl=1.0), model=None))


def test_guards_keep_beta_from_trading_coverage_away():
    registry = _registry(kl=1.0)
    callback = HomeostasisCallback(target_kl=1.0, kl_tolerance=0.0, gain=0.5)
    callback.on_fit_start(_trainer(registry, callback))
    callback.on_epoch_end(0, {"train/kl": 8.0, "val/coverage": 1.0})  # best at β = 1.0
    raised = registry.weight("kl")
    assert raised > 1.0
    callback.on_epoch_end(1, {"train/kl": 8.0})  # no validation: the guard does not act
    assert registry.weight("kl") > raised
    callback.on_epoch_end(2, {"train/kl": 8.0, "val/coverage": 0.9})  # coverage fell
    assert registry.weight("kl") == 1.0  # back to the β of the best coverage
    callback.on_epoch_end(3, {"train/kl": 8.0, "val/coverage": 0.95})  # still below: held
    assert registry.weight("kl") == 1.0
    callback.on_epoch_end(4, {"train/kl": 0.1, "val/coverage": 0.95})  # lowering is allowed
    assert registry.weight("kl") < 1.0
    state = callback.state_dict()
    again = HomeostasisCallback(target_kl=1.0, kl_tolerance=0.0, gain=0.5)
    again.load_state_dict(state)
    assert again._guards == {"val/coverage": (1.0, 1.0)}
    unguarded = HomeostasisCallback(target_kl=1.0, kl_tolerance=0.0, gain=0.5, guard=[])
    other = _registry(kl=1.0)
    unguarded.on_fit_start(_trainer(other, unguarded))
    for epoch, coverage in enumerate([1.0, 0.5, 0.2]):
        unguarded.on_epoch_end(epoch, {"train/kl": 8.0, "val/coverage": coverage})
    assert other.weight("kl") > 2.0


def test_every_guard_counts_and_the_defaults_are_coverage_and_the_balanced_accuracies():
    assert HomeostasisCallback().guard == [
        "val/coverage",
        "val/level_radial_accuracy",
        "val/depth_triplet_accuracy",
    ]
    registry = _registry(kl=1.0)
    callback = HomeostasisCallback(target_kl=1.0, kl_tolerance=0.0, gain=0.5)
    callback.on_fit_start(_trainer(registry, callback))
    logs = {"train/kl": 8.0, "val/coverage": 1.0, "val/depth_triplet_accuracy": 0.9}
    callback.on_epoch_end(0, logs)
    callback.on_epoch_end(1, {**logs, "val/depth_triplet_accuracy": 0.95})  # better: rises
    risen = registry.weight("kl")  # two full-error steps (the error clips at 1): e^(2 * 0.5)
    assert risen == pytest.approx(math.e)
    # Coverage holds but depth order falls: back to the β in force at its best, e^0.5.
    callback.on_epoch_end(2, {**logs, "val/depth_triplet_accuracy": 0.94})
    assert registry.weight("kl") == pytest.approx(math.exp(0.5))
    assert risen > registry.weight("kl")
