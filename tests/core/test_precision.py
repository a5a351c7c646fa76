"""Mixed precision: ``trainer.precision`` 32, bf16-mixed (CPU and CUDA), 16-mixed (CUDA only).

The training forward and the losses run under autocast; evaluation (validation losses and
metrics) runs in float32, because metrics rank radii and distances that bf16 would tie.
Hyperbolic maths must stay in float32 inside autocast regions: autocast only lowers GEMM-like
ops, so a model keeps its latent path in float32 by upcasting the encoder's output, and a
loss that runs a GEMM (all-pairs distances) disables autocast around it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, ClassVar

import pytest
import torch

from tests.conftest import TOY_CONFIG, TOY_PLUGIN
from tvae_core import ConfigError, Trainer, build_config, hookimpl
from tvae_core.testing import plugin_manager


class DtypeProbe:
    """A zero-weight loss recording whether autocast is on and the dtype it sees."""

    requires = frozenset({"outputs.recon"})
    seen: list[tuple[bool, torch.dtype]]
    last: ClassVar[DtypeProbe]

    def __init__(self) -> None:
        self.seen = []
        DtypeProbe.last = self

    def __call__(
        self, outputs: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:
        recon = outputs["recon"]
        self.seen.append((torch.is_autocast_enabled(recon.device.type), recon.dtype))
        return recon.float().mean() * 0.0


class ProbePlugin:
    @hookimpl
    def tvae_register_losses(self, register: Any) -> None:
        register("dtype_probe", DtypeProbe)


def _toy(precision: str, epochs: int = 3) -> dict[str, Any]:
    cfg = copy.deepcopy(TOY_CONFIG)
    cfg.update(epochs=epochs, callbacks=[])
    cfg["model"]["dropout"] = 0.0
    cfg["losses"] = [{"name": "mse"}, {"name": "dtype_probe", "weight": 0.0}]
    cfg["trainer"] = {"precision": precision, "val_every": 1, "progress": False, "device": "cpu"}
    return cfg


def _fit(cfg: dict[str, Any], *plugins: object | str) -> Trainer:
    trainer = Trainer(build_config(cfg), plugins=plugin_manager(*plugins))
    trainer.fit()
    return trainer


def test_16_mixed_needs_cuda() -> None:
    trainer = Trainer(
        build_config(_toy("16-mixed")), plugins=plugin_manager(str(TOY_PLUGIN), ProbePlugin())
    )
    with pytest.raises(ConfigError, match=r"trainer\.precision: '16-mixed' needs a CUDA device"):
        trainer.setup()


def test_bf16_mixed_trains_under_autocast_and_evaluates_in_float32() -> None:
    bf16 = _fit(_toy("bf16-mixed"), str(TOY_PLUGIN), ProbePlugin())
    seen = DtypeProbe.last.seen
    steps = bf16.dataset.num_train_batches()
    per_epoch = steps + sum(1 for _ in bf16.dataset.eval_batches())  # validation every epoch
    train = [s for i, s in enumerate(seen) if i % per_epoch < steps]
    evaluation = [s for i, s in enumerate(seen) if i % per_epoch >= steps]
    assert train and all(s == (True, torch.bfloat16) for s in train)
    assert evaluation and all(s == (False, torch.float32) for s in evaluation)
    outputs, _ = bf16.evaluate()
    assert outputs["recon"].dtype == torch.float32

    fp32 = _fit(_toy("32"), str(TOY_PLUGIN), ProbePlugin())
    assert all(s == (False, torch.float32) for s in DtypeProbe.last.seen)
    for key in ("val/loss", "train/loss"):
        assert bf16.summary.final[key] == pytest.approx(fp32.summary.final[key], rel=0.02)


# -- the ternary VAE -------------------------------------------------------------------------
class TernaryComponents:
    """The ternary dataset, model, losses and metrics, straight from their modules."""

    @hookimpl
    def tvae_register_datasets(self, register: Any) -> None:
        register("ternary_ops", "tvae_ternary.data:TernaryOpsDataset")

    @hookimpl
    def tvae_register_models(self, register: Any) -> None:
        register("ternary_vae", "tvae_ternary.model:TernaryVAE")

    @hookimpl
    def tvae_register_losses(self, register: Any) -> None:
        register("reconstruction", "tvae_losses.vae:Reconstruction")
        register("kl", "tvae_losses.vae:KL")
        register("padic_ranking", "tvae_losses.geometric:PadicRanking")
        register("radial", "tvae_losses.geometric:Radial")

    @hookimpl
    def tvae_register_metrics(self, register: Any) -> None:
        register("coverage", "tvae_ternary.metrics:Coverage")
        register("hierarchy", "tvae_ternary.metrics:Hierarchy")
        register("radial_accuracy", "tvae_ternary.metrics:RadialAccuracy")
        register("triplet_accuracy", "tvae_ternary.metrics:TripletAccuracy")


def _latent_dtypes_under_bf16() -> dict[str, torch.dtype]:
    from tvae_ternary.model import TernaryVAE
    from tvae_ternary.space import all_trits

    torch.manual_seed(0)
    model = TernaryVAE(input_dim=3**5, latent_dim=4, hidden_dims=(16,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model({"x": all_trits(5).float()})
    return {k: out[k].dtype for k in ("mu", "logvar", "z", "z_mean")}


def test_ternary_latent_path_stays_float32_under_autocast() -> None:
    pytest.importorskip("tvae_ternary")
    assert set(_latent_dtypes_under_bf16().values()) == {torch.float32}


#: How far bf16-mixed may land from float32 after the same short run at n = 5 (measured
#: differences: coverage <= 0.025, hierarchy <= 0.001, accuracies <= 0.003, loss <= 1.5 %).
TOLERANCE = {
    "val/coverage": 0.06,
    "val/hierarchy": 0.02,
    "val/radial_accuracy": 0.02,
    "val/triplet_accuracy": 0.02,
}


def test_bf16_mixed_ternary_metrics_match_float32() -> None:
    pytest.importorskip("tvae_ternary")
    pytest.importorskip("tvae_losses")
    base: dict[str, Any] = {
        "seed": 0,
        "epochs": 40,
        "data": {"name": "ternary_ops", "n_trits": 5, "batch_size": 32},
        "model": {"name": "ternary_vae", "latent_dim": 16},
        "optimizer": {"name": "adam", "lr": 3e-3},
        "scheduler": {"name": "warmup_cosine", "warmup_epochs": 2},
        "losses": [
            {"name": "reconstruction"},
            {"name": "kl", "weight": 0.01, "free_bits": 0.1},
            {"name": "padic_ranking", "weight": 0.5},
            {"name": "radial", "weight": 0.5},
        ],
        "metrics": ["coverage", "hierarchy", "radial_accuracy", "triplet_accuracy"],
        "trainer": {"val_every": 1000, "progress": False, "device": "cpu", "num_threads": 1},
        "plugins": {"required": []},
    }
    finals = {}
    for precision in ("32", "bf16-mixed"):
        cfg = copy.deepcopy(base)
        cfg["trainer"]["precision"] = precision
        finals[precision] = _fit(cfg, TernaryComponents()).summary.final
    fp32, bf16 = finals["32"], finals["bf16-mixed"]
    assert fp32["val/coverage"] > 0.8, "the float32 reference run did not learn"
    for key, tol in TOLERANCE.items():
        assert bf16[key] == pytest.approx(fp32[key], abs=tol), key
    assert bf16["val/loss"] == pytest.approx(fp32["val/loss"], rel=0.05)
