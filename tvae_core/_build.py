"""From a config to live components: look each one up, validate its settings, build it."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tvae_core._callbacks import Callback
from tvae_core._config import ComponentConfig, RunConfig
from tvae_core._errors import ConfigError, PluginError, SettingsError
from tvae_core._plugins import PluginManager, installed_distributions
from tvae_core._registry import Component


@dataclass
class Planned:
    """One component of a run: where it sits in the config, what provides it, its settings."""

    where: str
    kind: str
    component: Component
    settings: dict[str, Any]


def check_required_plugins(config: RunConfig) -> None:
    """Every ``plugins.required`` specifier must be satisfied by an installed distribution."""
    from packaging.requirements import InvalidRequirement, Requirement

    reqs = []
    for i, text in enumerate(config.plugins.required):
        try:
            reqs.append((i, Requirement(text)))
        except InvalidRequirement as exc:
            raise ConfigError(
                f"plugins.required[{i}]: {text!r} is not a requirement specifier ({exc})"
            ) from None
    found = installed_distributions(r.name for _, r in reqs)
    for i, req in reqs:
        have = found.get(req.name)
        if have is None:
            raise PluginError(
                f"plugins.required[{i}]: the run needs {req} but {req.name} is not installed "
                f"(pip install '{req}')"
            )
        if req.specifier and not req.specifier.contains(have, prereleases=True):
            raise PluginError(
                f"plugins.required[{i}]: the run needs {req} but {req.name} {have} is installed"
            )


def _lookup(pm: PluginManager, kind: str, entry: ComponentConfig, where: str) -> Component:
    try:
        return pm.registry.get(kind, entry.name)
    except PluginError as exc:
        raise type(exc)(f"{where}.name: {exc.args[0]}") from None


def plan(
    pm: PluginManager,
    kind: str,
    entry: ComponentConfig,
    where: str,
    context: Mapping[str, Any] | None = None,
    source: str | None = None,
) -> Planned:
    """Look up ``entry`` and validate its settings; ``context`` fills unset factory params."""
    component = _lookup(pm, kind, entry, where)
    settings = dict(entry.settings)
    if context:
        try:
            params = inspect.signature(component.load()).parameters
        except (TypeError, ValueError):
            params = {}  # type: ignore[assignment]
        for key, value in context.items():
            if key in params and key not in settings:
                settings[key] = value
    validated = component.validate(settings, where, source)
    return Planned(where, kind, component, validated)


def plan_run(config: RunConfig, pm: PluginManager, source: str | None = None) -> list[Planned]:
    """Look up every component of the run and validate settings that need no live data."""
    out = [plan(pm, "dataset", config.data, "data", source=source)]
    model = _lookup(pm, "model", config.model, "model")
    out.append(Planned("model", "model", model, dict(config.model.settings)))
    out.append(plan(pm, "optimizer", config.optimizer, "optimizer", source=source))
    if config.scheduler is not None:
        out.append(
            plan(
                pm,
                "scheduler",
                config.scheduler,
                "scheduler",
                context={"total_epochs": config.epochs},
                source=source,
            )
        )
    for section, kind in (("losses", "loss"), ("metrics", "metric"), ("callbacks", "callback")):
        entries: list[ComponentConfig] = list(getattr(config, section))
        for i, entry in enumerate(entries):
            out.append(plan(pm, kind, entry, f"{section}[{i}]", source=source))
    return out


def build(planned: Planned, *leading: Any) -> Any:
    """Call the factory; a constructor's TypeError/ValueError becomes a one-line SettingsError."""
    try:
        return planned.component.build(planned.settings, *leading)
    except SettingsError as exc:
        raise SettingsError(f"{planned.where}: {exc.args[0]}") from None


def build_loss_registry(config: RunConfig, plugins: PluginManager | None = None) -> Any:
    """A :class:`tvae_core.LossRegistry` with every loss of ``config.losses`` at its weight.

    The seed guide calls this ``create_registry_from_training_config(config)``.
    """
    from tvae_core._losses import LossRegistry

    pm = plugins or PluginManager()
    registry = LossRegistry()
    for i, entry in enumerate(config.losses):
        planned = plan(pm, "loss", entry, f"losses[{i}]")
        registry.add(entry.name, build(planned), weight=entry.weight)
    return registry


def build_callbacks(config: RunConfig, pm: PluginManager) -> list[Callback]:
    out = []
    for i, entry in enumerate(config.callbacks):
        planned = plan(pm, "callback", entry, f"callbacks[{i}]")
        cb = build(planned)
        if not isinstance(cb, Callback):
            raise PluginError(
                f"callbacks[{i}]: {planned.component.origin} built a {type(cb).__name__}, "
                "not a tvae_core.Callback"
            )
        out.append(cb)
    return out
