"""``HomeostasisController``: adapts the KL weight β so that the KL stays near its target."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

#: The error is clipped to this magnitude, so β moves by at most a factor exp(gain) per update.
MAX_ERROR = 1.0


def _finite(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    return value


class HomeostasisController:
    """Keeps a VAE's KL divergence within ``target_kl ± kl_tolerance`` by adapting β.

    The rule is a PI controller on log β with a dead band. For a measured KL ``k``:

    - the error is 0 inside the band ``[target - tol, target + tol]``; outside it, the
      log-ratio to the target, ``log(k / target)``, clipped to ``[-1, 1]`` (a KL <= 0 counts
      as -1). Aiming at the target rather than at the band's edge makes a KL outside the
      band actually enter it instead of creeping towards the edge forever;
    - :meth:`update` integrates: ``log β ← log β + gain · error``, kept within
      ``[beta_min, beta_max]``. Too much KL raises β (more pressure towards the prior), too
      little (posterior collapse) lowers it; β moves by at most a factor ``exp(gain)`` per
      update and holds still while the KL is in the band;
    - :meth:`get_beta` is a pure read: the integrated β times ``exp(proportional_gain ·
      error(k))``, clipped to the bounds. With the default ``proportional_gain=0`` it is
      just the current β, whatever ``k`` is.

    So the seed's loop, ``beta = get_beta(kl)`` then ``update(kl)``, steps once per
    iteration: ``get_beta`` never changes the state. A KL that is NaN or infinite is
    ignored: β is kept and the update is counted in :attr:`skipped`.

    Log-errors make the loop linear for a KL that scales like ``β^-a``: each update outside
    the band shrinks ``log(k / target)`` by a factor ``1 - gain · a``, so the KL enters the
    band for ``0 < gain · a < 2``, without overshooting the target for ``gain · a <= 1``.

    Args:
        target_kl: the KL to hold (nats, as the KL loss reports it); > 0.
        kl_tolerance: half-width of the band in which β is left alone; >= 0.
        beta_init: β before the first update; within beta_min..beta_max.
        beta_min: smallest β the controller sets; > 0.
        beta_max: largest β the controller sets.
        gain: integral gain: the change of log β per update at full error.
        proportional_gain: proportional gain on log β applied by ``get_beta``; 0 turns it off.
    """

    def __init__(
        self,
        target_kl: float = 1.0,
        kl_tolerance: float = 0.5,
        beta_init: float = 1.0,
        beta_min: float = 1e-4,
        beta_max: float = 10.0,
        gain: float = 0.1,
        proportional_gain: float = 0.0,
    ) -> None:
        self.target_kl = _finite("target_kl", target_kl)
        self.kl_tolerance = _finite("kl_tolerance", kl_tolerance)
        self.beta_min = _finite("beta_min", beta_min)
        self.beta_max = _finite("beta_max", beta_max)
        self.gain = _finite("gain", gain)
        self.proportional_gain = _finite("proportional_gain", proportional_gain)
        if self.target_kl <= 0:
            raise ValueError(f"target_kl must be > 0, got {self.target_kl}")
        if self.kl_tolerance < 0:
            raise ValueError(f"kl_tolerance must be >= 0, got {self.kl_tolerance}")
        if not 0 < self.beta_min <= self.beta_max:
            raise ValueError(
                f"need 0 < beta_min <= beta_max, got beta_min={self.beta_min}, "
                f"beta_max={self.beta_max}"
            )
        if self.gain < 0 or self.proportional_gain < 0:
            raise ValueError(
                f"gain and proportional_gain must be >= 0, got {self.gain} and "
                f"{self.proportional_gain}"
            )
        beta_init = _finite("beta_init", beta_init)
        if not self.beta_min <= beta_init <= self.beta_max:
            raise ValueError(
                f"beta_init={beta_init} lies outside beta_min..beta_max = "
                f"{self.beta_min}..{self.beta_max}"
            )
        self._beta = beta_init
        self.last_kl: float | None = None
        self.updates = 0
        self.skipped = 0

    @property
    def beta(self) -> float:
        """The integrated β (what :meth:`get_beta` returns without a proportional term)."""
        return self._beta

    @property
    def band(self) -> tuple[float, float]:
        """The KL range ``(low, high)`` in which β is left alone."""
        return (self.target_kl - self.kl_tolerance, self.target_kl + self.kl_tolerance)

    def in_band(self, kl: float) -> bool:
        """True when ``kl`` lies within ``target_kl ± kl_tolerance``."""
        low, high = self.band
        return low <= float(kl) <= high

    def error(self, kl: float) -> float:
        """The controller's error for ``kl``: 0 in the band, else the clipped ``log(kl / target)``.

        NaN and infinite KLs give 0 (no information).
        """
        kl = float(kl)
        if not math.isfinite(kl):
            return 0.0
        if self.in_band(kl):
            return 0.0
        if kl <= 0:
            return -MAX_ERROR
        return min(MAX_ERROR, max(-MAX_ERROR, math.log(kl / self.target_kl)))

    def _clip(self, beta: float) -> float:
        return min(self.beta_max, max(self.beta_min, beta))

    def get_beta(self, current_kl: float | None = None) -> float:
        """The β to use now; reads the state and never changes it (see the class docstring)."""
        if current_kl is None or self.proportional_gain == 0.0:
            return self._beta
        return self._clip(self._beta * math.exp(self.proportional_gain * self.error(current_kl)))

    def update(self, current_kl: float) -> None:
        """Integrate one KL measurement (an epoch's mean KL); NaN or infinite ones are skipped."""
        kl = float(current_kl)
        if not math.isfinite(kl):
            self.skipped += 1
            return
        self.last_kl = kl
        self.updates += 1
        self._beta = self._clip(self._beta * math.exp(self.gain * self.error(kl)))

    def set_beta(self, beta: float) -> None:
        """Set β (clipped to the bounds), keeping the history and counters."""
        self._beta = self._clip(_finite("beta", beta))

    def reset(self, beta: float | None = None) -> None:
        """Forget the history; start again from ``beta`` (clipped to the bounds) or the current β."""
        if beta is not None:
            self._beta = self._clip(_finite("beta", beta))
        self.last_kl = None
        self.updates = 0
        self.skipped = 0

    def state_dict(self) -> dict[str, Any]:
        """β and the counters (numbers only); the settings come from the constructor."""
        return {
            "beta": self._beta,
            "last_kl": self.last_kl,
            "updates": self.updates,
            "skipped": self.skipped,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output; β is clipped to this controller's bounds."""
        if "beta" not in state:
            raise ValueError(
                f"homeostasis state has no 'beta' (keys: {', '.join(map(str, state)) or 'none'})"
            )
        self._beta = self._clip(_finite("beta", state["beta"]))
        last_kl = state.get("last_kl")
        self.last_kl = None if last_kl is None else float(last_kl)
        self.updates = int(state.get("updates", 0))
        self.skipped = int(state.get("skipped", 0))

    def __repr__(self) -> str:
        return (
            f"HomeostasisController(beta={self._beta:.4g}, target_kl={self.target_kl}, "
            f"kl_tolerance={self.kl_tolerance}, bounds=[{self.beta_min}, {self.beta_max}], "
            f"gain={self.gain}, proportional_gain={self.proportional_gain})"
        )
