"""``TernaryVAE``: an MLP VAE whose latent is a point of the Poincaré ball.

The latent path, used by training, evaluation and export alike::

    trits --one-hot--> encoder --> mu_raw, logvar    (+ a linear map of the one-hot to mu_raw
                                                      with ``linear_path``)
    mu      = soft_clip_radius(mu_raw)            tangent vector at the origin (rho <= max_radius)
    z_mean  = exp_0(mu)                           the posterior mean on the ball
    z       = exp_0(mu + eps * std)  (training)   a reparameterised sample; z = z_mean in eval mode
    logits  = decoder(log_0(z))                   (B, n, 3), class c meaning trit c - 1;
                                                  forward gives the decoder mu + eps * std
                                                  itself (log_0 inverts exp_0)

The curvature is stored as geoopt's ``PoincareBall`` stores it (the parameter
``manifold.isp_c``, the inverse softplus of c, trained when learnable), so state dicts load
either way, but building and training the model imports neither geoopt nor scipy (half a
second of start-up). ``model.manifold`` is a geoopt ``PoincareBall`` holding that same
parameter, imported on first use. Every closed form reads c as a tensor and ``forward``
returns it (``outputs["curvature"]``) so losses reach it too.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

import torch
from torch import nn

from tvae_ternary.geometry import constant, expmap0, logmap0, soft_clip_radius
from tvae_ternary.space import n_trits_from_size

if TYPE_CHECKING:
    import geoopt

Activation = Literal["relu", "silu", "gelu", "tanh", "leaky_relu"]

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU,
}


class _Curvature(nn.Module):
    """The ball's curvature c > 0, stored as ``geoopt.PoincareBall`` stores it.

    ``isp_c`` is the inverse softplus of c, a parameter (trained only when learnable)
    computed with geoopt's operations, so its state dict and values are a ``PoincareBall``'s
    to the bit. ``TernaryVAE.manifold`` swaps this holder for a real ``PoincareBall`` that
    takes over the same parameter.
    """

    def __init__(self, c: float, learnable: bool) -> None:
        super().__init__()
        value = torch.as_tensor(c)
        if not torch.is_floating_point(value):
            value = value.to(torch.get_default_dtype())
        with torch.no_grad():
            isp_c = value.exp().sub_(1).log_()
        self.isp_c = nn.Parameter(isp_c, requires_grad=learnable)


def _mlp(sizes: Sequence[int], activation: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(_ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def auto_latent_dim(n_trits: int) -> int:
    """The ball's dimension for ``latent_dim: auto``: max(16, 2 n).

    A plane of its own for every digit's three values (a triangle, not a line), never fewer
    than 16 dimensions. With one dimension per digit fewer (2 n - 2, the lowest digit on a
    line) n = 9 met every bar, but from n = 10 the deepest digits, short of room, ran their
    triangles into each other: at n = 10, seed 2, depth 9 fell to 0.92 with 18 dimensions
    and 0.98 with 19, and every seed 0-4 met the bars with 20 (benchmarks/README.md, issue 11).
    """
    return max(16, 2 * n_trits)


class TernaryVAE(nn.Module):
    """MLP VAE of the 3^n ternary operations with a hyperbolic (Poincaré-ball) latent.

    Args:
        input_dim: number of operations N = 3^n (n is derived; filled from the dataset).
        latent_dim: dimension D of the Poincaré ball, or "auto" for
            :func:`auto_latent_dim` of the operations' n (16 up to n = 8, 2 n above).
        curvature: c > 0 of the ball (sectional curvature -c); the initial value if learnable.
        hidden_dims: widths of the decoder's hidden layers (in reverse) and, unless
            ``encoder_hidden_dims`` is given, of the encoder's.
        encoder_hidden_dims: widths of the encoder's hidden layers when they differ from
            ``hidden_dims``; ``[]`` makes the encoder one linear map of the one-hot input (with
            ``linear_path`` and ``mlp_mean=False`` it then gives only the log-variance, which
            needs no hidden layer: a cheaper step).
        learn_curvature: make c a parameter trained with the rest of the model.
        max_radius: cap (hyperbolic units) of the posterior mean's radius, kept well inside
            the ball for float32 accuracy; 0 disables the cap.
        activation: relu, silu, gelu, tanh or leaky_relu.
        logvar_min: lower clamp of the encoder's log-variance.
        logvar_max: upper clamp of the encoder's log-variance.
        linear_path: add a linear map from the one-hot input to the tangent mean (a skip path
            beside the MLP): TERNARY.md's perfect embedding is linear in the one-hot input, so
            this path can hold the whole tree, including operations never trained on.
        mlp_mean: let the MLP add to the tangent mean; False (with ``linear_path``) makes the
            mean exactly linear in the one-hot input, the MLP giving only the log-variance.
        digit_scale: the linear path reads digit k's one-hot times ``digit_scale^k`` (digit 0
            the lowest; None: every digit as it is). Its weights for digit k then start and
            move (an Adam step is about ``lr`` in each weight, whatever the gradient's size)
            in proportion to the scale digit k has in the embedding, ``ratio^k`` of the
            radial target: set it to that ratio. Without it a step of a high learning rate
            is larger than a deep digit's whole vector, which then never settles (lr 3e-2
            broke n >= 11; benchmarks/README.md, issue 16).
    """

    _trit_values: torch.Tensor  # buffer: the trit (-1, 0, 1) of each one-hot class
    _digit_scale: torch.Tensor | None  # buffer: digit_scale^k of each one-hot column

    def __init__(
        self,
        input_dim: int = 19683,
        latent_dim: int | Literal["auto"] = 16,
        curvature: float = 1.0,
        hidden_dims: tuple[int, ...] = (256, 256),
        learn_curvature: bool = False,
        max_radius: float = 4.0,
        activation: Activation = "silu",
        logvar_min: float = -12.0,
        logvar_max: float = 4.0,
        linear_path: bool = False,
        mlp_mean: bool = True,
        encoder_hidden_dims: tuple[int, ...] | None = None,
        digit_scale: float | None = None,
    ) -> None:
        super().__init__()
        self.n_trits = n_trits_from_size(input_dim, where="input_dim")
        if latent_dim == "auto":
            latent_dim = auto_latent_dim(self.n_trits)
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"latent_dim must be 'auto' or an integer >= 1, got {latent_dim!r}")
        if not curvature > 0:
            raise ValueError(f"curvature must be positive, got {curvature}")
        if max_radius < 0:
            raise ValueError(f"max_radius must be >= 0 (0 disables the cap), got {max_radius}")
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {', '.join(_ACTIVATIONS)}, got {activation!r}"
            )
        if any(h < 1 for h in hidden_dims):
            raise ValueError(f"hidden_dims must be positive widths, got {list(hidden_dims)}")
        if encoder_hidden_dims is not None and any(h < 1 for h in encoder_hidden_dims):
            raise ValueError(
                f"encoder_hidden_dims must be positive widths, got {list(encoder_hidden_dims)}"
            )
        if not logvar_min < logvar_max:
            raise ValueError(f"logvar_min ({logvar_min}) must be below logvar_max ({logvar_max})")
        self.input_dim = input_dim
        self.latent_dim = latent_dim
        self.max_radius = float(max_radius)
        self.logvar_min = float(logvar_min)
        self.logvar_max = float(logvar_max)
        in_features = 3 * self.n_trits
        hidden = [int(h) for h in hidden_dims]
        enc_hidden = (
            hidden if encoder_hidden_dims is None else [int(h) for h in encoder_hidden_dims]
        )
        self.encoder = _mlp([in_features, *enc_hidden, 2 * latent_dim], activation)
        self.decoder = _mlp([latent_dim, *reversed(hidden), in_features], activation)
        if not (linear_path or mlp_mean):
            raise ValueError("mlp_mean=False needs linear_path=True (the mean needs a path)")
        self.linear_path = bool(linear_path)
        self.mlp_mean = bool(mlp_mean)
        # The linear path into the tangent mean; None when disabled (no unused parameters).
        self.skip: nn.Linear | None = (
            nn.Linear(in_features, latent_dim, bias=False) if self.linear_path else None
        )
        if digit_scale is not None and not (0.0 < digit_scale <= 1.0 and self.linear_path):
            raise ValueError(
                f"digit_scale must lie in (0, 1], got {digit_scale}"
                if self.linear_path
                else "digit_scale scales the linear path: it needs linear_path=True"
            )
        scales = None
        if digit_scale is not None:
            powers = torch.arange(self.n_trits, dtype=torch.float64)
            # One-hot column 3k + c is digit k's class c (see one_hot).
            scales = (digit_scale**powers).repeat_interleave(3).to(torch.float32)
        #: digit_scale^k for each one-hot column (None without digit_scale); not saved.
        self.register_buffer("_digit_scale", scales, persistent=False)

        # Registered where geoopt's PoincareBall was, so parameters keep their order (and
        # optimizer states saved before load); straight into _modules, as the name is taken
        # by the ``manifold`` property.
        self._modules["manifold"] = _Curvature(curvature, learn_curvature)
        # The trit of each one-hot class; moves with the model, not saved in its state_dict.
        self.register_buffer("_trit_values", torch.tensor([-1.0, 0.0, 1.0]), persistent=False)

    @property
    def manifold(self) -> geoopt.PoincareBall:
        """The latent space as a ``geoopt.PoincareBall`` holding the model's curvature.

        The first call imports geoopt and puts the ball in place of the model's own holder of
        the curvature; the ball takes over the same ``isp_c`` parameter, so the state dict,
        the parameters and any optimizer built on them are unchanged.
        """
        held = self._modules["manifold"]
        if not isinstance(held, _Curvature):
            return held
        import geoopt

        ball = geoopt.PoincareBall(learnable=held.isp_c.requires_grad)
        ball.isp_c = held.isp_c
        self._modules["manifold"] = ball
        return ball

    @property
    def curvature(self) -> torch.Tensor:
        """c as a 0-dim tensor (a function of a parameter when learnable)."""
        # softplus(isp_c), what PoincareBall.c computes; read through _modules so that
        # asking for c never imports geoopt.
        isp_c: torch.Tensor = self._modules["manifold"].isp_c  # type: ignore[union-attr,assignment]
        return nn.functional.softplus(isp_c)

    def one_hot(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n) trits in {-1, 0, 1} -> (B, 3n) one-hot encoder input."""
        if x.shape[-1] != self.n_trits:
            raise ValueError(
                f"batch['x'] has {x.shape[-1]} trits per row but the model was built for "
                f"{self.n_trits} (input_dim={self.input_dim})"
            )
        # Class c is trit c - 1. A comparison, not nn.functional.one_hot, which checks its
        # input's range with a host round trip (aminmax + item) on every call.
        trits = x.round().clamp(-1, 1).unsqueeze(-1)
        dtype = next(self.encoder.parameters()).dtype
        return torch.eq(trits, self._trit_values.to(trits.dtype)).flatten(-2).to(dtype)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Trits (B, n) -> (mu, logvar), both (B, D) in the tangent space at the origin."""
        # The latent path (exp_0 / log_0 near the boundary) stays float32 under autocast.
        one_hot = self.one_hot(x)
        h = self.encoder(one_hot).float()
        mu, logvar = h.chunk(2, dim=-1)
        if self.skip is not None:
            scaled = one_hot if self._digit_scale is None else one_hot * self._digit_scale
            linear = self.skip(scaled).float()
            mu = mu + linear if self.mlp_mean else linear
        if self.max_radius > 0:
            mu = soft_clip_radius(mu, self.max_radius)
        return mu, logvar.clamp(self.logvar_min, self.logvar_max)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Points z (B, D) on the ball -> logits (B, n, 3), through log_0."""
        return self._logits(logmap0(z, self.curvature))

    def _logits(self, tangent: torch.Tensor) -> torch.Tensor:
        """Tangent vectors at the origin (B, D) -> logits (B, n, 3)."""
        out: torch.Tensor = self.decoder(tangent)
        return out.unflatten(-1, (self.n_trits, 3))

    @torch.no_grad()
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior means z_mean (B, D) on the ball, without gradients."""
        mu, _ = self.encode(x)
        return expmap0(mu, self.curvature)

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Encode ``batch["x"]``, sample (training) or take the mean (eval), and decode."""
        if not isinstance(batch, Mapping):
            raise TypeError(
                f"TernaryVAE takes the batch dict ({{'x': (B, n) trits, ...}}), not a "
                f"{type(batch).__name__}; call model({{'x': x}}) or model(batch)"
            )
        c = self.curvature
        mu, logvar = self.encode(batch["x"])
        z_mean = expmap0(mu, c)
        if self.training:
            z_tangent = mu + torch.randn_like(mu) * torch.exp(logvar * constant(0.5, logvar))
            z = expmap0(z_tangent, c)
        else:
            z_tangent, z = mu, z_mean
        # decode(z) reads log_0(z), which is z_tangent again (log_0 inverts exp_0 at any c):
        # the decoder takes it as it is, without the round trip and its two backward nodes.
        return {
            "logits": self._logits(z_tangent),
            "mu": mu,
            "logvar": logvar,
            "z": z,
            "z_mean": z_mean,
            "curvature": c,
        }
