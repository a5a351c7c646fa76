"""One optimizer facade over two inner ones: geoopt for manifold tensors, torch for the rest.

geoopt's Riemannian optimizers step every parameter in a Python loop of a dozen tensor
operations, even an ordinary weight, whose Riemannian update *is* the Euclidean one.
:class:`SplitOptimizer` routes each parameter by type instead: a ``geoopt.ManifoldTensor``
(every ``geoopt.ManifoldParameter`` is one) goes to an inner geoopt optimizer, any other
tensor to an inner torch optimizer (fused kernels where torch has them) with the same
hyperparameters. To its users it is one ``torch.optim.Optimizer``:

- ``param_groups`` are the groups the user gave. Hyperparameters set on them, by hand or
  by an LR scheduler, are copied into the inner groups at every ``step``.
- ``state`` is one mapping shared by both inner optimizers (their parameters are
  disjoint), so ``state_dict()`` has torch's usual layout, indexed in the user's
  parameter order, and ``zero_grad``, gradient clipping and ``GradScaler`` see every
  parameter through ``param_groups``.
- ``load_state_dict`` takes that layout, also from a plain geoopt or torch optimizer over
  the same parameters, and converts each step counter to the form its inner optimizer
  keeps (a Python int for geoopt, a float tensor for torch).

Neither geoopt nor ``torch._dynamo`` is imported for a model without manifold tensors (as
tvae's ``TernaryVAE``): a tensor can only be a ``ManifoldTensor`` once geoopt is imported,
and the facade and its torch optimizer are :class:`tvae_core.optim.EagerStart` ones.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any

import torch

from tvae_core.optim import EagerStart

MANIFOLD = "manifold"
EUCLIDEAN = "euclidean"

#: What the optimizers accept as ``params``: tensors, (name, tensor) pairs or group dicts.
Params = Iterable[Any]

_FUSED_DEVICES = ("cpu", "cuda")


def is_manifold_tensor(param: torch.Tensor) -> bool:
    """True for tensors that carry a geoopt manifold and need the Riemannian update."""
    # Looked up, not imported: before geoopt is imported no tensor can be a ManifoldTensor.
    tensors = sys.modules.get("geoopt.tensor")
    return tensors is not None and isinstance(param, tensors.ManifoldTensor)


def fused_supported(params: Iterable[torch.Tensor]) -> bool:
    """True when torch's fused optimizer kernels accept every tensor of ``params``."""
    tensors = list(params)
    return bool(tensors) and all(
        t.is_floating_point() and not t.is_sparse and t.device.type in _FUSED_DEVICES
        for t in tensors
    )


def _scalar_step_dtype(fused: bool) -> torch.dtype:
    # torch keeps Adam's step in float64 only when that is the default dtype and not fused.
    if not fused and torch.get_default_dtype() == torch.float64:
        return torch.float64
    return torch.float32


class SplitOptimizer(EagerStart):
    """Base of the split optimizers; subclasses name their hyperparameters and inner classes.

    Subclasses set :attr:`hyperparameters` (group keys copied to both inner optimizers),
    :attr:`manifold_only` (keys only the geoopt optimizer knows), :attr:`mirrored` (keys
    the geoopt optimizer updates in its own groups, copied back so they are saved), and
    implement :meth:`_new_manifold_optimizer` and :meth:`_new_euclidean_optimizer`.
    """

    hyperparameters: tuple[str, ...] = ()
    manifold_only: tuple[str, ...] = ()
    mirrored: tuple[str, ...] = ()

    def __init__(self, params: Params, defaults: dict[str, Any], *, fused: bool | None) -> None:
        self._fused = fused
        self._inner: dict[str, torch.optim.Optimizer] = {}
        # Per user group: (inner optimizer kind, index of the matching inner group).
        self._links: list[list[tuple[str, int]]] = []
        super().__init__(params, defaults)

    # -- what subclasses provide --------------------------------------------------------
    def _new_manifold_optimizer(self, groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
        raise NotImplementedError

    def _new_euclidean_optimizer(self, groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
        raise NotImplementedError

    # -- routing ------------------------------------------------------------------------
    @property
    def manifold_optimizer(self) -> torch.optim.Optimizer | None:
        """The inner geoopt optimizer (None while no manifold tensor is optimized)."""
        return self._inner.get(MANIFOLD)

    @property
    def euclidean_optimizer(self) -> torch.optim.Optimizer | None:
        """The inner torch optimizer (None while every parameter is a manifold tensor)."""
        return self._inner.get(EUCLIDEAN)

    def _keys(self, kind: str) -> tuple[str, ...]:
        return self.hyperparameters + (self.manifold_only if kind == MANIFOLD else ())

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group as torch does, and route its parameters to the inner optimizers."""
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        manifold = [p for p in group["params"] if is_manifold_tensor(p)]
        ordinary = [p for p in group["params"] if not is_manifold_tensor(p)]
        links = []
        for kind, params in ((MANIFOLD, manifold), (EUCLIDEAN, ordinary)):
            if params:
                links.append((kind, self._attach(kind, params, group)))
        self._links.append(links)

    def _attach(self, kind: str, params: list[torch.Tensor], group: dict[str, Any]) -> int:
        inner_group: dict[str, Any] = {"params": params}
        inner_group.update({key: group[key] for key in self._keys(kind)})
        if kind == EUCLIDEAN:
            fused = fused_supported(params) if self._fused is None else self._fused
            inner_group["fused"] = fused
        inner = self._inner.get(kind)
        if inner is None:
            make: Callable[[list[dict[str, Any]]], torch.optim.Optimizer] = (
                self._new_manifold_optimizer if kind == MANIFOLD else self._new_euclidean_optimizer
            )
            inner = make([inner_group])
            inner.state = self.state
            self._inner[kind] = inner
            return 0
        inner.add_param_group(inner_group)
        return len(inner.param_groups) - 1

    def _inner_groups(self) -> Iterable[tuple[str, dict[str, Any], dict[str, Any]]]:
        for group, links in zip(self.param_groups, self._links, strict=True):
            for kind, index in links:
                yield kind, group, self._inner[kind].param_groups[index]

    def _sync(self) -> None:
        """Copy the user's hyperparameters (and mirrored counters) into the inner groups."""
        for kind, group, inner_group in self._inner_groups():
            for key in self._keys(kind):
                inner_group[key] = group[key]
            if kind == MANIFOLD:
                for key in self.mirrored:
                    if key in group:
                        inner_group[key] = group[key]

    def _mirror_back(self) -> None:
        for kind, group, inner_group in self._inner_groups():
            if kind == MANIFOLD:
                for key in self.mirrored:
                    if key in inner_group:
                        group[key] = inner_group[key]

    # -- the Optimizer API --------------------------------------------------------------
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One step of both inner optimizers; ``closure`` (if given) is evaluated once first."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._sync()
        for inner in self._inner.values():
            inner.step()
        self._mirror_back()
        return loss

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load torch's optimizer layout (from this class, geoopt's or torch's optimizer)."""
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            for key, value in self.defaults.items():
                group.setdefault(key, value)
        for inner in self._inner.values():
            inner.state = self.state
        self._normalize_steps()
        self._sync()

    def _normalize_steps(self) -> None:
        for kind, _group, inner_group in self._inner_groups():
            for p in inner_group["params"]:
                state = self.state.get(p)
                if not state or "step" not in state:
                    continue
                step = state["step"]
                if kind == MANIFOLD:
                    state["step"] = int(step.item() if isinstance(step, torch.Tensor) else step)
                    continue
                on_device = bool(inner_group.get("fused") or inner_group.get("capturable"))
                dtype = _scalar_step_dtype(on_device)
                device = p.device if on_device else torch.device("cpu")
                if isinstance(step, torch.Tensor):
                    state["step"] = step.detach().to(dtype=dtype, device=device)
                else:
                    state["step"] = torch.tensor(float(step), dtype=dtype, device=device)

    def __getstate__(self) -> dict[str, Any]:
        # torch pickles only defaults, state and param_groups; the routing must survive
        # copy.deepcopy and pickling too (the shared state stays shared through the memo).
        state = super().__getstate__()
        state.update(_inner=self._inner, _links=self._links, _fused=self._fused)
        return state
