"""TernaryVAE: outputs, the latent path, curvature gradients, eval mode, settings errors."""

from __future__ import annotations

import pytest
import torch
from tvae_ternary.data import ternary_tensors
from tvae_ternary.geometry import distance, expmap0, logmap0, radius, soft_clip_radius
from tvae_ternary.model import TernaryVAE, auto_latent_dim
from tvae_ternary.space import all_trits

KEYS = {"logits", "mu", "logvar", "z", "z_mean", "curvature"}


def _batch(n: int = 4, rows: int = 10) -> dict[str, torch.Tensor]:
    return {k: v[:rows] for k, v in ternary_tensors(n).items()}


def test_output_keys_and_shapes() -> None:
    torch.manual_seed(0)
    model = TernaryVAE(input_dim=81, latent_dim=6, hidden_dims=(32, 16))
    out = model(_batch())
    assert set(out) == KEYS
    assert out["logits"].shape == (10, 4, 3)
    for key in ("mu", "logvar", "z", "z_mean"):
        assert out[key].shape == (10, 6)
    assert out["curvature"].dim() == 0
    assert (out["z"].norm(dim=-1) < 1).all()


def test_seed_constructor_derives_n() -> None:
    model = TernaryVAE(input_dim=19683, latent_dim=16, curvature=1.0)
    assert model.n_trits == 9


@pytest.mark.parametrize("bad", [100, 19682, 2])
def test_non_power_of_three_input_dim_is_rejected(bad: int) -> None:
    with pytest.raises(ValueError, match="input_dim must be a power of 3"):
        TernaryVAE(input_dim=bad)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"latent_dim": 0}, "latent_dim"),
        ({"latent_dim": "big"}, "latent_dim must be 'auto' or an integer"),
        ({"latent_dim": True}, "latent_dim must be 'auto' or an integer"),
        ({"curvature": 0.0}, "curvature"),
        ({"activation": "swish"}, "activation"),
        ({"max_radius": -1.0}, "max_radius"),
        ({"hidden_dims": (0,)}, "hidden_dims"),
    ],
)
def test_bad_settings_name_the_setting(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TernaryVAE(input_dim=27, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("n", "dim"), [(3, 16), (8, 16), (9, 18), (10, 20), (12, 24)])
def test_auto_latent_dim_gives_a_plane_to_every_digit(n: int, dim: int) -> None:
    assert auto_latent_dim(n) == dim
    if n <= 10:
        model = TernaryVAE(input_dim=3**n, latent_dim="auto", hidden_dims=(8,))
        assert model.latent_dim == dim
        assert model({"x": torch.zeros(2, n)})["z"].shape == (2, dim)


def test_wrong_trit_count_names_the_mismatch() -> None:
    model = TernaryVAE(input_dim=27)
    with pytest.raises(ValueError, match="built for 3"):
        model(_batch(n=4))


def test_eval_mode_uses_the_mean() -> None:
    torch.manual_seed(0)
    model = TernaryVAE(input_dim=81, latent_dim=4, hidden_dims=(16,)).eval()
    out = model(_batch())
    assert torch.equal(out["z"], out["z_mean"])
    again = model(_batch())
    assert torch.equal(out["logits"], again["logits"])
    model.train()
    sampled = model(_batch())
    assert not torch.equal(sampled["z"], sampled["z_mean"])


def test_latent_path_is_exp_of_mu_and_decoder_reads_log0() -> None:
    torch.manual_seed(0)
    model = TernaryVAE(input_dim=81, latent_dim=4, hidden_dims=(16,)).eval()
    out = model(_batch())
    assert torch.allclose(out["z_mean"], expmap0(out["mu"], out["curvature"]), atol=1e-6)
    assert torch.allclose(model.decode(out["z_mean"]), out["logits"])
    assert torch.allclose(logmap0(out["z_mean"], out["curvature"]), out["mu"], atol=1e-5)
    assert torch.allclose(model.embed(_batch()["x"]), out["z_mean"])


def test_radius_capped() -> None:
    torch.manual_seed(0)
    model = TernaryVAE(input_dim=27, latent_dim=3, hidden_dims=(8,), max_radius=2.0).eval()
    with torch.no_grad():
        model.encoder[-1].bias.fill_(100.0)
    out = model(_batch(n=3))
    assert radius(out["z_mean"], 1.0).max() <= 2.0 + 1e-4


def test_learnable_curvature_receives_gradients() -> None:
    torch.manual_seed(0)
    model = TernaryVAE(input_dim=81, latent_dim=4, hidden_dims=(16,), learn_curvature=True)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert "manifold.isp_c" in names
    out = model(_batch())
    # rho(exp_0(u)) = 2|u| for every c: the curvature acts through distances between points.
    z, c = out["z_mean"], out["curvature"]
    distance(z[:5], z[5:], c).sum().backward()
    grad = model.manifold.isp_c.grad
    assert grad is not None and grad.abs() > 0


def test_fixed_curvature_is_not_trained() -> None:
    model = TernaryVAE(input_dim=27, curvature=2.0)
    assert float(model.curvature) == pytest.approx(2.0)
    assert not model.manifold.isp_c.requires_grad


def test_state_dict_round_trip_with_weights_only_load(tmp_path: object) -> None:
    import pathlib

    path = pathlib.Path(str(tmp_path)) / "m.pt"
    model = TernaryVAE(input_dim=27, latent_dim=3, hidden_dims=(8,), learn_curvature=True)
    torch.save(model.state_dict(), path)
    other = TernaryVAE(input_dim=27, latent_dim=3, hidden_dims=(8,), learn_curvature=True)
    other.load_state_dict(torch.load(path, weights_only=True))
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), other.state_dict().values(), strict=True)
    )


def test_latent_path_stays_float32_under_bf16_autocast() -> None:
    torch.manual_seed(0)
    model = TernaryVAE(input_dim=81, latent_dim=4, hidden_dims=(16,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(_batch())
    assert {out[k].dtype for k in ("mu", "logvar", "z", "z_mean")} == {torch.float32}


def test_linear_path_adds_a_linear_map_of_the_one_hot() -> None:
    torch.manual_seed(0)
    model = TernaryVAE(input_dim=27, latent_dim=4, hidden_dims=(8,), linear_path=True)
    assert model.skip is not None
    assert TernaryVAE(input_dim=27, latent_dim=4, hidden_dims=(8,)).skip is None
    x = all_trits(3).float()
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.zero_()
        mu, _ = model.encode(x)
    # With the MLP silenced, mu is the (radius-clipped) linear image of the one-hot input.
    want = soft_clip_radius(model.one_hot(x) @ model.skip.weight.T, model.max_radius)
    assert torch.allclose(mu, want, atol=1e-6)


def test_mlp_mean_off_makes_the_mean_linear() -> None:
    torch.manual_seed(0)
    model = TernaryVAE(
        input_dim=27, latent_dim=4, hidden_dims=(8,), linear_path=True, mlp_mean=False
    )
    assert model.skip is not None
    x = all_trits(3).float()
    with torch.no_grad():
        mu, logvar = model.encode(x)
    want = soft_clip_radius(model.one_hot(x) @ model.skip.weight.T, model.max_radius)
    assert torch.allclose(mu, want, atol=1e-6)
    assert logvar.shape == mu.shape
    with pytest.raises(ValueError, match="mlp_mean"):
        TernaryVAE(input_dim=27, latent_dim=4, hidden_dims=(8,), mlp_mean=False)


def test_encoder_hidden_dims_apart_from_the_decoders() -> None:
    torch.manual_seed(0)
    model = TernaryVAE(
        input_dim=27, latent_dim=4, hidden_dims=(8, 6), encoder_hidden_dims=(5,), linear_path=True
    )
    enc = [m.out_features for m in model.encoder if isinstance(m, torch.nn.Linear)]
    dec = [m.out_features for m in model.decoder if isinstance(m, torch.nn.Linear)]
    assert (enc, dec) == ([5, 8], [6, 8, 9])
    # [] is one linear map of the one-hot input: the log-variance too is then linear in it.
    linear = TernaryVAE(
        input_dim=27,
        latent_dim=4,
        hidden_dims=(8,),
        encoder_hidden_dims=(),
        linear_path=True,
        mlp_mean=False,
    )
    (layer,) = linear.encoder
    x = all_trits(3).float()
    with torch.no_grad():
        _, logvar = linear.encode(x)
        want = (layer(linear.one_hot(x))).chunk(2, dim=-1)[1].clamp(-12.0, 4.0)
    assert torch.equal(logvar, want)
    with pytest.raises(ValueError, match="encoder_hidden_dims"):
        TernaryVAE(input_dim=27, encoder_hidden_dims=(0,))


def test_forward_with_cached_constants_is_the_float_formula(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """exp(0.5 logvar) with a cached 0-dim 0.5 (issue 16, item 2): the same outputs and
    gradients, to the bit, as with the Python float."""
    import tvae_ternary.geometry as geometry
    import tvae_ternary.model as model_module

    torch.manual_seed(0)
    model = TernaryVAE(input_dim=3**4, latent_dim=8, hidden_dims=(16,), linear_path=True)
    x = torch.randint(-1, 2, (32, 4)).float()

    def run() -> list[torch.Tensor]:
        model.zero_grad()
        torch.manual_seed(1)
        out = model({"x": x})
        (out["logits"].sum() + out["z"].square().sum() + out["z_mean"].sum()).backward()
        grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
        return [out[k].detach() for k in ("logits", "z", "z_mean", "mu", "logvar")] + grads

    fused = run()
    monkeypatch.setattr(model_module, "constant", lambda value, like: value)
    monkeypatch.setattr(geometry, "constant", lambda value, like: value)
    floats = run()
    for a, b in zip(fused, floats, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("training", [True, False])
def test_logits_are_decode_of_z_without_the_round_trip(training: bool) -> None:
    """The forward decodes z's tangent vector, not log_0(z): log_0 inverts exp_0 at any c,
    so the logits and every gradient (the curvature's included) are those of decode(z)."""
    torch.manual_seed(0)
    model = TernaryVAE(input_dim=3**4, latent_dim=8, hidden_dims=(16,), learn_curvature=True).train(
        training
    )
    batch = _batch(rows=40)

    def run(round_trip: bool) -> list[torch.Tensor]:
        model.zero_grad()
        torch.manual_seed(1)
        out = model(batch)
        logits = model.decode(out["z"]) if round_trip else out["logits"]
        target = torch.randint(0, 3, logits.shape[:-1], generator=torch.Generator().manual_seed(2))
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), target.flatten())
        (loss + out["z"].square().sum()).backward()
        grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
        return [logits.detach(), *grads]

    direct, round_trip = run(False), run(True)
    assert len(direct) == len(round_trip) > 3
    for a, b in zip(direct, round_trip, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=2e-5)  # float32 round trip


def test_digit_scale_scales_each_digits_column_of_the_linear_path() -> None:
    torch.manual_seed(0)
    model = TernaryVAE(
        input_dim=3**4,
        latent_dim=8,
        hidden_dims=(16,),
        linear_path=True,
        mlp_mean=False,
        max_radius=0.0,
        digit_scale=0.5,
    ).eval()
    scales = model._digit_scale
    assert scales is not None
    assert torch.equal(scales, torch.tensor([1.0] * 3 + [0.5] * 3 + [0.25] * 3 + [0.125] * 3))
    assert "_digit_scale" not in model.state_dict()  # from the config, never from a file
    batch = _batch(rows=30)
    assert model.skip is not None
    # The mean is the linear map whose weight for digit k is the parameter times 0.5^k.
    want = model.one_hot(batch["x"]) @ (model.skip.weight * scales).T
    torch.testing.assert_close(model(batch)["mu"], want)
    # An Adam step moves digit k's weights in proportion to 0.5^k.
    model.train()
    before = model.skip.weight.detach() * scales
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model(batch)["mu"].square().sum().backward()
    opt.step()
    moved = (model.skip.weight.detach() * scales - before).abs().view(8, 4, 3).amax(dim=(0, 2))
    torch.testing.assert_close(
        moved, 1e-2 * torch.tensor([1.0, 0.5, 0.25, 0.125]), rtol=1e-3, atol=0
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"digit_scale": 0.0, "linear_path": True}, "digit_scale must lie in"),
        ({"digit_scale": 1.5, "linear_path": True}, "digit_scale must lie in"),
        ({"digit_scale": 0.65}, "needs linear_path=True"),
    ],
)
def test_bad_digit_scale_names_the_setting(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TernaryVAE(input_dim=27, **kwargs)  # type: ignore[arg-type]
