"""Test helpers for plugin authors: load a plugin for one test, train it tiny, check conformance.

Everything here needs only torch and the core, never a first-party plugin, so a plugin's
tests run wherever ``tvae-core`` is installed::

    from tvae_core.testing import check_component, plugin_manager, run_tiny

    import my_plugin.plugin

    def test_registers_my_loss():
        pm = plugin_manager(my_plugin.plugin)          # builtins + this plugin only
        assert ("loss", "my_loss") in pm.registry

    def test_my_loss_conforms():
        check_component("loss", "my_plugin.losses:MyLoss", {"margin": 0.1})

    def test_trains():
        summary = run_tiny({"losses": [{"name": "my_loss"}]}, plugins=[my_plugin.plugin])
        assert summary.status == "completed"

The tiny fixtures (:class:`TinyTernaryData`, :class:`TinyVAE`) mimic the real ones at toy
size: batches carry ``x`` (B, n) float trits, ``index`` and ``valuation``; the model returns
``logits`` (B, n, 3), ``mu``, ``logvar``, ``z`` and ``z_mean`` (on the unit Poincaré ball).
They are registered by :data:`tiny_plugin` under the names ``tiny_ternary``, ``tiny_vae``,
``tiny_reconstruction``, ``tiny_kl`` and ``tiny_coverage``.
"""

from __future__ import annotations

import copy
import inspect
import math
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from tvae_core._callbacks import Callback
from tvae_core._data import TensorDataset
from tvae_core._errors import PluginError
from tvae_core._hookspecs import hookimpl
from tvae_core._losses import missing_keys
from tvae_core._plugins import PluginManager
from tvae_core._registry import KINDS, Component, RegisterFn

__all__ = [
    "TINY_CONFIG",
    "ConformanceError",
    "TinyCoverage",
    "TinyKL",
    "TinyReconstruction",
    "TinyTernaryData",
    "TinyVAE",
    "check_component",
    "conformance_problems",
    "plugin_manager",
    "run_tiny",
    "tiny_batch",
    "tiny_plugin",
    "tiny_trits",
    "tiny_valuation",
]


# -- loading plugins for one test ------------------------------------------------------------
def _object_name(obj: object, taken: Iterable[str]) -> str:
    base = str(getattr(obj, "__name__", None) or type(obj).__name__)
    name, i = base, 2
    while name in set(taken):
        name, i = f"{base}_{i}", i + 1
    return name


def _loader(obj: object) -> Callable[[], object]:
    return lambda: obj


def plugin_manager(
    *plugins: object | str, autoload: bool = False, strict: bool = True
) -> PluginManager:
    """A :class:`tvae_core.PluginManager` holding the built-ins and ``plugins``.

    Each plugin is a module or object with hook implementations, or a string as
    ``tvae --plugin`` takes it (a module name, a ``.py`` path, ``no:NAME`` to block one).
    Installed plugins are not loaded unless ``autoload`` is True, so a test sees only what
    it names. With ``strict`` (the default) a plugin that fails to load or register raises
    :class:`tvae_core.PluginError` with the reason instead of being skipped quietly.
    """
    specs = [p for p in plugins if isinstance(p, str)]
    objects = [p for p in plugins if not isinstance(p, str)]
    pm = PluginManager(specs, autoload=autoload)
    pm.load()
    for obj in objects:
        name = _object_name(obj, pm.infos)
        label = getattr(obj, "__name__", None) or f"{type(obj).__module__}.{type(obj).__qualname__}"
        # The core loads plugins only from specs; objects go through the same isolation path.
        pm.add_plugin(
            name, _loader(obj), module=str(label), version=getattr(obj, "__version__", None)
        )
    if strict:
        mine = {str(s) for s in specs} | {i.name for i in pm.infos.values() if i.source == "object"}
        _ = pm.registry
        failed = [i for i in pm.failed() if i.name in mine or i.module in mine]
        if failed:
            raise PluginError(
                "; ".join(f"plugin {i.name!r} ({i.module}) failed: {i.error}" for i in failed)
            )
    return pm


# -- a tiny ternary space ----------------------------------------------------------------------
def tiny_trits(n_trits: int) -> torch.Tensor:
    """All 3^n operations as (3^n, n) float trits; position 0 is the least significant."""
    index = torch.arange(3**n_trits)
    powers = 3 ** torch.arange(n_trits)
    return ((index[:, None] // powers) % 3 - 1).to(torch.float32)


def tiny_valuation(n_trits: int) -> torch.Tensor:
    """The 3-adic valuation of each index 0..3^n-1, with v(0) = n."""
    index = torch.arange(3**n_trits)
    v = torch.zeros_like(index)
    for k in range(1, n_trits + 1):
        v += (index % 3**k == 0).long()
    return v


class TinyTernaryData(TensorDataset):
    """All 3^n ternary operations as ``x``, ``index`` and ``valuation`` tensors.

    Args:
        n_trits: trits per operation (1..8; keep it small in tests).
        batch_size: rows per training step.
    """

    def __init__(self, n_trits: int = 3, batch_size: int = 9) -> None:
        if not 1 <= n_trits <= 8:
            raise ValueError(f"n_trits must lie in 1..8 for the tiny dataset, got {n_trits}")
        tensors = {
            "x": tiny_trits(n_trits),
            "index": torch.arange(3**n_trits),
            "valuation": tiny_valuation(n_trits),
        }
        super().__init__(tensors, batch_size=batch_size)
        self.n_trits = n_trits

    def model_context(self) -> dict[str, Any]:
        return {"input_dim": 3**self.n_trits}


def tiny_batch(n_trits: int = 3) -> dict[str, torch.Tensor]:
    """Every operation of the tiny space as one batch."""
    return dict(TinyTernaryData(n_trits, batch_size=3**n_trits).eval_tensors)


class TinyVAE(torch.nn.Module):
    """A small MLP VAE whose latent lives on the unit Poincaré ball (curvature -1).

    Args:
        input_dim: number of operations 3^n (filled from the dataset).
        latent_dim: dimension of the latent ball.
        hidden: width of the hidden layers.
    """

    def __init__(self, input_dim: int = 27, latent_dim: int = 2, hidden: int = 16) -> None:
        super().__init__()
        n = round(math.log(input_dim, 3)) if input_dim > 0 else 0
        if n < 1 or 3**n != input_dim:
            raise ValueError(f"input_dim must be a power of 3, got {input_dim}")
        self.n_trits = n
        self.encoder = torch.nn.Sequential(
            torch.nn.Linear(n, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 2 * latent_dim)
        )
        self.decoder = torch.nn.Sequential(
            torch.nn.Linear(latent_dim, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 3 * n)
        )

    @staticmethod
    def expmap0(v: torch.Tensor) -> torch.Tensor:
        """Map a tangent vector at the origin onto the unit ball."""
        norm = v.norm(dim=-1, keepdim=True).clamp_min(1e-7)
        return torch.tanh(norm).clamp_max(1 - 1e-5) * v / norm

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        mu, logvar = self.encoder(batch["x"]).chunk(2, dim=-1)
        logvar = logvar.clamp(-8.0, 8.0)
        z_mean = self.expmap0(mu)
        if self.training:
            z = self.expmap0(mu + torch.randn_like(mu) * torch.exp(0.5 * logvar))
        else:
            z = z_mean
        logits = self.decoder(z).view(len(z), self.n_trits, 3)
        return {"logits": logits, "mu": mu, "logvar": logvar, "z": z, "z_mean": z_mean}


class TinyReconstruction:
    """Cross-entropy of the decoded trits."""

    requires = frozenset({"outputs.logits", "batch.x"})

    def __call__(
        self, outputs: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:
        target = (batch["x"] + 1).long()
        return torch.nn.functional.cross_entropy(outputs["logits"].transpose(1, 2), target)


class TinyKL:
    """KL divergence of the Gaussian posterior from the standard normal, per sample."""

    requires = frozenset({"outputs.mu", "outputs.logvar"})

    def __call__(
        self, outputs: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:
        mu, logvar = outputs["mu"], outputs["logvar"]
        return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(-1)).mean()


class TinyCoverage:
    """Fraction of operations whose decoded trits all match."""

    requires = frozenset({"outputs.logits", "batch.x"})

    def __call__(
        self, outputs: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor]
    ) -> float:
        decoded = outputs["logits"].argmax(-1) - 1
        return float((decoded == batch["x"].long()).all(-1).float().mean())


class _TinyPlugin:
    """Registers the tiny fixtures, so that a test config can name them."""

    __name__ = "tiny"

    @hookimpl
    def tvae_register_datasets(self, register: RegisterFn) -> None:
        register("tiny_ternary", TinyTernaryData, description="All 3^n operations (tiny n)")

    @hookimpl
    def tvae_register_models(self, register: RegisterFn) -> None:
        register("tiny_vae", TinyVAE, description="A small MLP VAE with a Poincaré-ball latent")

    @hookimpl
    def tvae_register_losses(self, register: RegisterFn) -> None:
        register("tiny_reconstruction", TinyReconstruction)
        register("tiny_kl", TinyKL)

    @hookimpl
    def tvae_register_metrics(self, register: RegisterFn) -> None:
        register("tiny_coverage", TinyCoverage)


#: The plugin object that registers the tiny fixtures; :func:`run_tiny` adds it.
tiny_plugin = _TinyPlugin()

#: The run :func:`run_tiny` starts from: 2 epochs on the 27 operations of n = 3.
TINY_CONFIG: dict[str, Any] = {
    "seed": 0,
    "epochs": 2,
    "data": {"name": "tiny_ternary", "n_trits": 3, "batch_size": 9},
    "model": {"name": "tiny_vae", "latent_dim": 2, "hidden": 16},
    "optimizer": {"name": "adam", "lr": 1e-2},
    "scheduler": None,
    "losses": [{"name": "tiny_reconstruction", "weight": 1.0}],
    "metrics": ["tiny_coverage"],
    "callbacks": [],
    "trainer": {"device": "cpu", "progress": False, "val_every": 1},
    "plugins": {"required": []},
}


# -- a tiny run --------------------------------------------------------------------------------
def run_tiny(
    config: Mapping[str, Any] | None = None,
    plugins: Iterable[object | str] = (),
    *,
    run_dir: str | Path | None = None,
    overrides: Iterable[str] = (),
    callbacks: Iterable[Callback] = (),
    autoload: bool = False,
) -> Any:
    """Train a tiny run and return its :class:`tvae_core.RunSummary`.

    ``config`` holds the sections to change in :data:`TINY_CONFIG` (a section given
    replaces the tiny one; ``trainer`` and ``plugins`` keys are merged). ``plugins`` are
    loaded as :func:`plugin_manager` loads them, next to the tiny fixtures. The run's
    files go to ``run_dir`` (a fresh temporary folder when None; read it from
    ``summary.run_dir``). ``callbacks`` are added after the config's.
    """
    from tvae_core._config import apply_overrides, build_config, merge_with_default
    from tvae_core._engine import Trainer

    data = merge_with_default(dict(config or {}), base=copy.deepcopy(TINY_CONFIG))
    data = apply_overrides(data, overrides)
    cfg = build_config(data, source="<run_tiny config>")
    pm = plugin_manager(tiny_plugin, *plugins, autoload=autoload)
    path = Path(run_dir) if run_dir is not None else Path(tempfile.mkdtemp(prefix="tvae-tiny-"))
    trainer = Trainer(cfg, plugins=pm, run_dir=path, callbacks=list(callbacks))
    return trainer.fit()


# -- conformance -------------------------------------------------------------------------------
class ConformanceError(AssertionError):
    """A component does not behave as its kind requires; the message lists every problem."""


def _as_component(kind: str, obj: Component | Any) -> tuple[Component, str]:
    if isinstance(obj, Component):
        return obj, f"{kind} {obj.name!r}"
    if isinstance(obj, str) and ":" not in obj:
        raise TypeError(
            f"{obj!r} is not a factory: pass a Component (pm.registry.get({kind!r}, {obj!r})), "
            "a callable, or a lazy string 'package.module:attribute'"
        )
    label = obj if isinstance(obj, str) else getattr(obj, "__qualname__", repr(obj))
    return Component(kind, str(label), "test", None, None, obj), f"{kind} {label!r}"


def conformance_problems(
    kind: str,
    component: Component | Any,
    settings: Mapping[str, Any] | None = None,
    *,
    model: torch.nn.Module | None = None,
    dataset: Any = None,
) -> tuple[Any, list[str]]:
    """Build ``component`` with ``settings`` and check its interface; return it and the problems.

    The non-raising form of :func:`check_component` (which see), used by ``tvae plugins check``.
    The built object is None when building failed.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown component kind {kind!r}; kinds: {', '.join(KINDS)}")
    comp, label = _as_component(kind, component)
    problems: list[str] = []
    try:
        factory = comp.load()
        comp.settings_model()
    except Exception as exc:
        return None, [f"{label}: settings schema cannot be built: {_first_line(exc)}"]
    context = _context_for(kind, factory, dataset)
    given = {
        **{k: v for k, v in context.items() if k not in (settings or {})},
        **dict(settings or {}),
    }
    try:
        validated = comp.validate(given, label)
    except Exception as exc:
        return None, [f"{label}: settings rejected: {exc}"]
    checker = _CHECKERS[kind]
    try:
        built = checker(comp, validated, label, problems, model, dataset)
    except Exception as exc:
        problems.append(f"{label}: raised {_first_line(exc)}")
        built = None
    return built, problems


def check_component(
    kind: str,
    component: Component | Any,
    settings: Mapping[str, Any] | None = None,
    *,
    model: torch.nn.Module | None = None,
    dataset: Any = None,
) -> Any:
    """Build a component as the engine would and check that it honours its kind's interface.

    ``component`` is a registered :class:`tvae_core.Component`, a factory, or a lazy string
    ``"package.module:attribute"``. ``settings`` are validated against the settings schema
    derived from the factory. Checks by kind:

    - model: an ``nn.Module`` whose ``forward(batch)`` returns a dict of tensors.
    - dataset: implements :class:`tvae_core.Dataset`; batches are dicts of equal-length
      tensors, the count matches ``num_train_batches()``, and an epoch's order is repeatable.
    - loss: a callable returning a finite scalar tensor that back-propagates into the model.
    - metric: a callable returning a finite float or a mapping of names to finite floats.
    - optimizer: ``factory(params, **settings)`` returns a ``torch.optim.Optimizer`` that steps.
    - scheduler: ``factory(optimizer, **settings)`` returns an ``LRScheduler`` giving finite rates.
    - callback: a :class:`tvae_core.Callback` that survives a tiny 2-epoch run (with losses
      named ``reconstruction`` and ``kl`` and the metric ``coverage``, the names callbacks
      watch), whose ``state_dict()`` is a checkpoint-safe dict and round-trips through
      ``load_state_dict``.

    Losses, metrics and models are exercised on ``model`` and ``dataset`` (by default
    :class:`TinyVAE` and :class:`TinyTernaryData`). Returns the built component; raises
    :class:`ConformanceError` listing every problem.
    """
    built, problems = conformance_problems(kind, component, settings, model=model, dataset=dataset)
    if problems:
        raise ConformanceError("\n".join(problems))
    return built


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _context_for(kind: str, factory: Any, dataset: Any) -> dict[str, Any]:
    """What the engine fills into unset factory parameters."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return {}
    out: dict[str, Any] = {}
    if kind == "model":
        data = dataset if dataset is not None else TinyTernaryData()
        out = {k: v for k, v in dict(data.model_context()).items() if k in params}
    elif kind == "scheduler":
        out = {k: v for k, v in {"total_epochs": 10, "steps_per_epoch": 3}.items() if k in params}
    return out


def _fixtures(model: torch.nn.Module | None, dataset: Any) -> tuple[torch.nn.Module, Any]:
    if dataset is None:
        dataset = TinyTernaryData()
        dataset.setup(device=torch.device("cpu"), seed=0)
    if model is None:
        context = dict(dataset.model_context()) if hasattr(dataset, "model_context") else {}
        torch.manual_seed(0)
        model = TinyVAE(**{k: v for k, v in context.items() if k == "input_dim"})
    return model, dataset


def _first_batch(dataset: Any) -> dict[str, torch.Tensor]:
    return dict(next(iter(dataset.train_batches(0))))


def _eval_set(dataset: Any) -> dict[str, torch.Tensor]:
    parts: dict[str, list[torch.Tensor]] = {}
    for batch in dataset.eval_batches():
        for k, v in batch.items():
            parts.setdefault(k, []).append(v)
    return {k: torch.cat(v) for k, v in parts.items()}


def _check_model(
    comp: Component,
    settings: dict[str, Any],
    label: str,
    problems: list[str],
    model: Any,
    dataset: Any,
) -> Any:
    built = comp.build(settings)
    if not isinstance(built, torch.nn.Module):
        problems.append(
            f"{label}: the factory returned a {type(built).__name__}, not a torch.nn.Module"
        )
        return built
    _, data = _fixtures(model, dataset)
    built.train()
    outputs = built(_first_batch(data))
    if not isinstance(outputs, Mapping):
        problems.append(
            f"{label}: forward(batch) returned a {type(outputs).__name__}, not a dict of tensors"
        )
        return built
    bad = [
        k for k, v in outputs.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)
    ]
    if bad:
        problems.append(f"{label}: forward(batch) returned non-tensor values for {bad}")
    elif not any(v.requires_grad for v in outputs.values()):
        problems.append(
            f"{label}: no output of forward(batch) depends on the parameters (nothing requires grad)"
        )
    return built


def _check_dataset(
    comp: Component,
    settings: dict[str, Any],
    label: str,
    problems: list[str],
    model: Any,
    dataset: Any,
) -> Any:
    built = comp.build(settings)
    missing = [
        a
        for a in ("setup", "train_batches", "num_train_batches", "eval_batches", "model_context")
        if not callable(getattr(built, a, None))
    ]
    if missing or not isinstance(getattr(built, "batch_size", None), int):
        what = ", ".join(f"{m}()" for m in missing) or "an int batch_size"
        problems.append(
            f"{label}: {type(built).__name__} lacks {what}; subclass tvae_core.TensorDataset"
        )
        return built
    built.setup(device=torch.device("cpu"), seed=0)
    epoch0 = [dict(b) for b in built.train_batches(0)]
    if len(epoch0) != built.num_train_batches():
        problems.append(
            f"{label}: train_batches(0) yielded {len(epoch0)} batches but "
            f"num_train_batches() says {built.num_train_batches()}"
        )
    for i, batch in enumerate(epoch0 + [dict(b) for b in built.eval_batches()]):
        lengths = {
            k: (len(v) if isinstance(v, torch.Tensor) and v.dim() else None)
            for k, v in batch.items()
        }
        if not batch or None in lengths.values() or len(set(lengths.values())) != 1:
            problems.append(f"{label}: batch {i} is not a dict of equal-length tensors: {lengths}")
            break
    again = [dict(b) for b in built.train_batches(0)]
    if (
        epoch0
        and again
        and not all(torch.equal(a[k], b[k]) for a, b in zip(epoch0, again, strict=False) for k in a)
    ):
        problems.append(
            f"{label}: train_batches(0) differs between two calls; shuffle from (seed, epoch) only"
        )
    if not isinstance(built.model_context(), Mapping):
        problems.append(f"{label}: model_context() must return a dict")
    return built


def _check_callable_on_outputs(
    comp: Component,
    settings: dict[str, Any],
    label: str,
    problems: list[str],
    model: Any,
    dataset: Any,
    *,
    loss: bool,
) -> Any:
    built = comp.build(settings)
    if not callable(built):
        problems.append(
            f"{label}: the factory returned a {type(built).__name__}, which is not callable"
        )
        return built
    net, data = _fixtures(model, dataset)
    if loss:
        net.train()
        batch = _first_batch(data)
        outputs = net(batch)
    else:
        net.eval()
        batch = _eval_set(data)
        with torch.no_grad():
            outputs = net(batch)
    missing = missing_keys(built, outputs, batch)
    if missing:
        problems.append(
            f"{label}: requires {missing}, which the test model/dataset do not provide; "
            "pass model= and dataset= that do"
        )
        return built
    if loss:
        value = built(outputs, batch)
        if not isinstance(value, torch.Tensor) or value.dim() != 0:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            problems.append(
                f"{label}: returned {shape}; a loss returns a scalar tensor (reduce with .mean())"
            )
        elif not bool(torch.isfinite(value)):
            problems.append(f"{label}: returned a non-finite value {float(value)}")
        elif not value.requires_grad:
            problems.append(
                f"{label}: the returned loss has no gradient (detached, or computed with .item()/numpy)"
            )
        else:
            net.zero_grad(set_to_none=True)
            value.backward()
            if not any(p.grad is not None for p in net.parameters()):
                problems.append(f"{label}: backward() reached no model parameter")
        return built
    with torch.no_grad():
        value = built(outputs, batch)
    items = value.items() if isinstance(value, Mapping) else [(comp.name, value)]
    for key, v in items:
        if isinstance(v, torch.Tensor) and v.numel() == 1:
            v = v.item()
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            problems.append(
                f"{label}: value {key!r} is a {type(v).__name__}; return a float or a dict of floats"
            )
        elif not math.isfinite(v):
            problems.append(f"{label}: value {key!r} is not finite ({v})")
    return built


def _check_loss(*args: Any) -> Any:
    return _check_callable_on_outputs(*args, loss=True)


def _check_metric(*args: Any) -> Any:
    return _check_callable_on_outputs(*args, loss=False)


def _check_optimizer(
    comp: Component,
    settings: dict[str, Any],
    label: str,
    problems: list[str],
    model: Any,
    dataset: Any,
) -> Any:
    net, data = _fixtures(model, dataset)
    built = comp.build(settings, net.parameters())
    if not isinstance(built, torch.optim.Optimizer):
        problems.append(
            f"{label}: factory(params, ...) returned a {type(built).__name__}, "
            "not a torch.optim.Optimizer"
        )
        return built
    before = [p.detach().clone() for p in net.parameters()]
    net.train()
    out = net(_first_batch(data))
    loss = torch.stack([v.float().pow(2).mean() for v in out.values() if v.requires_grad]).sum()
    built.zero_grad()
    loss.backward()
    built.step()
    if all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True)):
        problems.append(f"{label}: step() changed no parameter")
    return built


def _check_scheduler(
    comp: Component,
    settings: dict[str, Any],
    label: str,
    problems: list[str],
    model: Any,
    dataset: Any,
) -> Any:
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.1)
    built = comp.build(settings, optimizer)
    if not isinstance(built, torch.optim.lr_scheduler.LRScheduler):
        problems.append(
            f"{label}: factory(optimizer, ...) returned a {type(built).__name__}, "
            "not a torch.optim.lr_scheduler.LRScheduler"
        )
        return built
    for _ in range(5):
        optimizer.step()
        built.step()
        lr = optimizer.param_groups[0]["lr"]
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr >= 0):
            problems.append(f"{label}: the learning rate became {lr!r}")
            break
    return built


def _check_callback(
    comp: Component,
    settings: dict[str, Any],
    label: str,
    problems: list[str],
    model: Any,
    dataset: Any,
) -> Any:
    built = comp.build(settings)
    if not isinstance(built, Callback):
        problems.append(
            f"{label}: the factory returned a {type(built).__name__}, not a tvae_core.Callback"
        )
        return built
    with tempfile.TemporaryDirectory(prefix="tvae-check-") as tmp:
        summary = run_tiny(_CALLBACK_RUN, plugins=[_standard_names], run_dir=tmp, callbacks=[built])
        if summary.status not in ("completed", "stopped_early"):
            problems.append(
                f"{label}: a tiny run with it ended {summary.status}: {summary.stop_reason}"
            )
        state = built.state_dict()
        if not isinstance(state, Mapping):
            problems.append(f"{label}: state_dict() returned a {type(state).__name__}, not a dict")
            return built
        path = Path(tmp) / "state.pt"
        try:
            torch.save(dict(state), path)
            loaded = torch.load(path, weights_only=True)
        except Exception as exc:
            problems.append(
                f"{label}: state_dict() is not checkpoint-safe (tensors, numbers, strings, "
                f"lists, dicts only): {type(exc).__name__}: {str(exc).splitlines()[0]}"
            )
            return built
    fresh = comp.build(settings)
    fresh.load_state_dict(loaded)
    if not _same(fresh.state_dict(), state):
        problems.append(
            f"{label}: load_state_dict(state_dict()) does not restore the state "
            f"({dict(fresh.state_dict())!r} != {dict(state)!r})"
        )
    return built


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return set(a) == set(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


class _StandardNames:
    """The tiny loss and metric under the first-party names callbacks look for."""

    __name__ = "tiny_standard_names"

    @hookimpl
    def tvae_register_losses(self, register: RegisterFn) -> None:
        register("reconstruction", TinyReconstruction, description="tiny_reconstruction")
        register("kl", TinyKL, description="tiny_kl")

    @hookimpl
    def tvae_register_metrics(self, register: RegisterFn) -> None:
        register("coverage", TinyCoverage, description="tiny_coverage")


_standard_names = _StandardNames()

#: The tiny run a callback is checked in: the names callbacks usually watch exist
#: (``kl``, ``val/coverage``), so a homeostat or a plateau detector has something to read.
_CALLBACK_RUN: dict[str, Any] = {
    "losses": [{"name": "reconstruction"}, {"name": "kl", "weight": 0.01}],
    "metrics": ["coverage"],
}


_CHECKERS: dict[str, Any] = {
    "model": _check_model,
    "dataset": _check_dataset,
    "loss": _check_loss,
    "metric": _check_metric,
    "optimizer": _check_optimizer,
    "scheduler": _check_scheduler,
    "callback": _check_callback,
}
