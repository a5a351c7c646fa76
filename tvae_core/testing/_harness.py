"""Loading plugins for one test, tiny runs, and conformance checks on the tiny fixtures."""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from tvae_core._config.files import build_config, merge_with_default
from tvae_core._config.overrides import apply_overrides
from tvae_core._engine.records import RunSummary
from tvae_core._engine.trainer import Trainer
from tvae_core._errors import PluginError, describe
from tvae_core._plugins.contracts import CONTRACTS, Problem, Subject, contract
from tvae_core._plugins.interfaces import Callback
from tvae_core._plugins.manager import PluginManager
from tvae_core._plugins.registry import Component
from tvae_core.testing._fixtures import (
    CALLBACK_RUN,
    TINY_CONFIG,
    TinyTernaryData,
    TinyVAE,
    standard_names,
    tiny_plugin,
)


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


# -- tiny runs ---------------------------------------------------------------------------------
def tiny_trainer(
    config: Mapping[str, Any] | None = None,
    plugins: Iterable[object | str] = (),
    *,
    run_dir: str | Path | None = None,
    overrides: Iterable[str] = (),
    callbacks: Iterable[Callback] = (),
    autoload: bool = False,
    base: Mapping[str, Any] | None = None,
    resume_from: str | Path | None = None,
) -> Trainer:
    """A :class:`tvae_core.Trainer` for a tiny run, not yet trained (call ``fit()``).

    ``config`` holds the sections to change in ``base`` (:data:`TINY_CONFIG` by default; a
    section given replaces the base's, ``trainer`` and ``plugins`` keys are merged).
    ``plugins`` are loaded as :func:`plugin_manager` loads them, next to the tiny fixtures.
    The run writes to ``run_dir`` (nothing when None); ``resume_from`` is a checkpoint or
    run folder to continue from. ``callbacks`` come after the config's.
    """
    start = copy.deepcopy(dict(base if base is not None else TINY_CONFIG))
    data = apply_overrides(merge_with_default(dict(config or {}), base=start), overrides)
    source = "<tiny config>"
    cfg = build_config(data, source=source)
    pm = plugin_manager(tiny_plugin, *plugins, autoload=autoload)
    return Trainer(
        cfg,
        plugins=pm,
        run_dir=run_dir,
        callbacks=list(callbacks),
        resume_from=resume_from,
        source=source,
    )


def run_tiny(
    config: Mapping[str, Any] | None = None,
    plugins: Iterable[object | str] = (),
    *,
    run_dir: str | Path | None = None,
    overrides: Iterable[str] = (),
    callbacks: Iterable[Callback] = (),
    autoload: bool = False,
) -> RunSummary:
    """Train a tiny run and return its :class:`tvae_core.RunSummary`.

    As :func:`tiny_trainer`, except that the run's files go to a fresh temporary folder
    when ``run_dir`` is None (read it from ``summary.run_dir``).
    """
    path = Path(run_dir) if run_dir is not None else Path(tempfile.mkdtemp(prefix="tvae-tiny-"))
    trainer = tiny_trainer(
        config, plugins, run_dir=path, overrides=overrides, callbacks=callbacks, autoload=autoload
    )
    return trainer.fit()


# -- conformance -------------------------------------------------------------------------------
class ConformanceError(AssertionError):
    """A component does not behave as its kind requires; the message lists every problem.

    ``problems`` holds them as :class:`Problem` records (``code``, ``component``,
    ``message``, ``hint``).
    """

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


class TinyProbe:
    """The fixtures a component is exercised on: the tiny data and model, or given ones."""

    epochs = 10

    def __init__(self, model: torch.nn.Module | None = None, dataset: Any = None) -> None:
        self._model, self._dataset = model, dataset

    def dataset(self) -> Any:
        if self._dataset is None:
            self._dataset = TinyTernaryData()
            self._dataset.setup(device=torch.device("cpu"), seed=0)
        return self._dataset

    def model(self) -> torch.nn.Module:
        if self._model is None:
            context = dict(self.dataset().model_context())
            torch.manual_seed(0)
            self._model = TinyVAE(**{k: v for k, v in context.items() if k == "input_dim"})
        return self._model

    def train_with(self, callback: Callback) -> tuple[str, str]:
        with tempfile.TemporaryDirectory(prefix="tvae-check-") as tmp:
            summary = run_tiny(
                CALLBACK_RUN, plugins=[standard_names], run_dir=tmp, callbacks=[callback]
            )
        return summary.status, summary.stop_reason

    def leading(self, kind: str) -> tuple[Any, ...]:
        """The arguments the engine would pass before a component's settings."""
        if kind == "optimizer":
            return (self.model().parameters(),)
        if kind == "scheduler":
            return (torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1),)
        return ()


def _as_component(kind: str, obj: Component | Any) -> Component:
    if isinstance(obj, Component):
        return obj
    if isinstance(obj, str) and ":" not in obj:
        raise TypeError(
            f"{obj!r} is not a factory: pass a Component (pm.registry.get({kind!r}, {obj!r})), "
            "a callable, or a lazy string 'package.module:attribute'"
        )
    label = obj if isinstance(obj, str) else getattr(obj, "__qualname__", repr(obj))
    return Component(kind, str(label), "test", None, None, obj)


def conformance_problems(
    kind: str,
    component: Component | Any,
    settings: Mapping[str, Any] | None = None,
    *,
    model: torch.nn.Module | None = None,
    dataset: Any = None,
) -> tuple[Any, list[Problem]]:
    """Build ``component`` with ``settings`` and check it; return it and the problems.

    The non-raising form of :func:`check_component` (which see), used by ``tvae plugins
    check``. The built object is None when building failed.
    """
    rules = contract(kind)
    comp = _as_component(kind, component)
    label = comp.label
    probe = TinyProbe(model, dataset)
    try:
        factory = comp.load()
        comp.settings_model()
    except Exception as exc:
        return None, [
            Problem("settings-schema", label, f"settings schema cannot be built: {describe(exc)}")
        ]
    context = rules.context_values(probe.epochs, probe.dataset())
    try:
        validated = comp.validate(rules.fill_context(factory, dict(settings or {}), context), label)
    except Exception as exc:
        return None, [Problem("settings-rejected", label, f"settings rejected: {exc}")]

    def rebuild() -> Any:
        return comp.build(validated, *probe.leading(kind))

    try:
        built = rebuild()
    except Exception as exc:
        return None, [Problem("raised", label, f"raised {describe(exc)}")]
    problem = rules.interface_problem(built, label)
    if problem is not None:
        return built, [problem]
    try:
        problems = rules.exercise(Subject(built, comp.name, label, rebuild), probe)
    except Exception as exc:
        problems = [Problem("raised", label, f"raised {describe(exc)}")]
    return built, problems


def check_component(
    kind: str,
    component: Component | Any,
    settings: Mapping[str, Any] | None = None,
    *,
    model: torch.nn.Module | None = None,
    dataset: Any = None,
) -> Any:
    """Build a component as the engine would and check that it honours its kind's contract.

    ``component`` is a registered :class:`tvae_core.Component`, a factory, or a lazy string
    ``"package.module:attribute"``. ``settings`` are validated against the settings schema
    derived from the factory, with the values the run would fill in (a model's
    ``input_dim``, a scheduler's ``total_epochs`` and ``steps_per_epoch``) taken from the
    fixtures. Checks by kind (:mod:`tvae_core._plugins.contracts`):

    - model: an ``nn.Module`` whose ``forward(batch)`` returns a dict of tensors.
    - dataset: implements :class:`tvae_core.Dataset`; batches are dicts of equal-length
      tensors, the count matches ``num_train_batches()``, and an epoch's order is repeatable.
    - loss: a callable returning a finite scalar tensor that back-propagates into the model.
    - metric: a callable returning a finite float or a mapping of names to finite floats,
      with a valid ``higher_is_better`` if it declares one.
    - optimizer: ``factory(params, **settings)`` returns a ``torch.optim.Optimizer`` that steps.
    - scheduler: ``factory(optimizer, **settings)`` returns an ``LRScheduler`` giving finite rates.
    - callback: a :class:`tvae_core.Callback` that survives a tiny 2-epoch run (with losses
      named ``reconstruction`` and ``kl`` and the metric ``coverage``, the names callbacks
      watch), whose ``state_dict()`` is a checkpoint-safe dict and round-trips through
      ``load_state_dict``.

    Losses, metrics and models are exercised on ``model`` and ``dataset`` (by default
    :class:`TinyVAE` and :class:`TinyTernaryData`). Returns the built component; raises
    :class:`ConformanceError` listing every problem that is an error.
    """
    built, problems = conformance_problems(kind, component, settings, model=model, dataset=dataset)
    errors = [p for p in problems if p.severity != "warning"]
    if errors:
        raise ConformanceError(errors)
    return built


#: Every kind with a contract, for parametrized tests: ``@pytest.mark.parametrize("kind", KINDS)``.
KINDS = tuple(CONTRACTS)
