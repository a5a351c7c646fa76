"""From a config to live components: look each one up, validate its settings, build, check.

Each kind's rules come from its contract (:mod:`tvae_core._plugins.contracts`): the
arguments it is built with, the settings the run fills in, what it must return. Whatever
goes wrong is one error naming the config key path, the component and its plugin.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from tvae_core._config.schema import ComponentConfig, RunConfig
from tvae_core._engine.environment import Environment
from tvae_core._engine.faults import Owners
from tvae_core._engine.losses import LossRegistry
from tvae_core._errors import ConfigError, PluginError, TvaeError, describe
from tvae_core._plugins.contracts import CONTRACTS, Contract, missing_keys
from tvae_core._plugins.interfaces import Callback
from tvae_core._plugins.manager import PluginManager, installed_distributions
from tvae_core._plugins.registry import Component


@dataclass
class Planned:
    """One component of a run: where it sits in the config, what provides it, its settings."""

    where: str
    kind: str
    component: Component
    settings: dict[str, Any]

    @property
    def contract(self) -> Contract:
        return CONTRACTS[self.kind]


def check_required_plugins(config: RunConfig) -> None:
    """Every ``plugins.required`` specifier must be satisfied by an installed distribution."""
    from packaging.requirements import InvalidRequirement, Requirement

    reqs = []
    for i, text in enumerate(config.plugins.required):
        try:
            reqs.append((i, Requirement(text)))
        except InvalidRequirement as exc:
            raise ConfigError(
                f"{text!r} is not a requirement specifier ({exc})", where=f"plugins.required[{i}]"
            ) from None
    found = installed_distributions(r.name for _, r in reqs)
    for i, req in reqs:
        have = found.get(req.name)
        where = f"plugins.required[{i}]"
        if have is None:
            raise PluginError(
                f"the run needs {req} but {req.name} is not installed",
                where=where,
                hint=f"pip install '{req}'",
            )
        if req.specifier and not req.specifier.contains(have, prereleases=True):
            raise PluginError(
                f"the run needs {req} but {req.name} {have} is installed", where=where
            )


def plan(
    pm: PluginManager,
    kind: str,
    entry: ComponentConfig,
    where: str,
    *,
    source: str | None = None,
    context: Mapping[str, Any] | None = None,
) -> Planned:
    """Look up ``entry`` and validate its settings.

    ``context`` holds the run's values for the settings the kind's contract fills in
    (a model's ``input_dim``); without it those settings may still be missing, and only
    what the config gives is checked.
    """
    try:
        component = pm.registry.get(kind, entry.name)
    except TvaeError as exc:
        raise exc.locate(f"{where}.name", source=source) from None
    rules = CONTRACTS[kind]
    settings = dict(entry.settings)
    if context is None:
        validated = component.validate(settings, where, source, fill_later=rules.context)
    else:
        settings = rules.fill_context(component.load(), settings, context)
        validated = component.validate(settings, where, source)
    return Planned(where, kind, component, validated)


def plan_run(config: RunConfig, pm: PluginManager, source: str | None = None) -> list[Planned]:
    """Look up every component of the run and check the settings its config gives."""
    out = [plan(pm, "dataset", config.data, "data", source=source)]
    out.append(plan(pm, "model", config.model, "model", source=source))
    out.append(plan(pm, "optimizer", config.optimizer, "optimizer", source=source))
    if config.scheduler is not None:
        out.append(plan(pm, "scheduler", config.scheduler, "scheduler", source=source))
    for section, kind in (("losses", "loss"), ("metrics", "metric"), ("callbacks", "callback")):
        entries: list[ComponentConfig] = list(getattr(config, section))
        for i, entry in enumerate(entries):
            out.append(plan(pm, kind, entry, f"{section}[{i}]", source=source))
    return out


def build(planned: Planned, *leading: Any, owners: Owners | None = None) -> Any:
    """Call the factory and check what it returned against the kind's contract."""
    component = planned.component
    context = {"where": planned.where, "component": component.label, "plugin": component.origin}
    try:
        built = component.build(planned.settings, *leading)
    except TvaeError as exc:
        raise exc.locate(planned.where) from None
    except Exception as exc:
        raise PluginError(f"failed to build: {describe(exc)}", **context) from exc
    problem = planned.contract.interface_problem(built, component.label)
    if problem is not None:
        raise PluginError(problem.message, hint=problem.hint or None, **context)
    if owners is not None:
        owners.add(built, (planned.where, component.label, component.origin))
    return built


@dataclass
class RunParts:
    """Every live component of a run, and who built each one."""

    dataset: Any
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    losses: LossRegistry
    metrics: dict[str, Any]
    callbacks: list[Callback]
    planned: dict[str, Planned] = field(default_factory=dict)
    owners: Owners = field(default_factory=Owners)

    def component_of(self, section: str, name: str) -> Planned:
        """The plan of the loss or metric ``name`` (``section`` is ``losses`` or ``metrics``)."""
        entries = [p for w, p in self.planned.items() if w.startswith(f"{section}[")]
        return next(p for p in entries if name in (p.component.name, p.component.qualified_name))


def build_run(
    config: RunConfig, pm: PluginManager, env: Environment, source: str | None = None
) -> RunParts:
    """Build every component of ``config`` on ``env``'s device, in the documented order.

    The dataset first (set up on the device and this rank's shard), then what takes values
    from it (the model, the scheduler), the optimizer, losses, metrics and callbacks; then
    the keys each loss and metric reads are checked against the model and the data.
    """
    planned = {p.where: p for p in plan_run(config, pm, source)}
    owners = Owners()

    dataset = build(planned["data"], owners=owners)
    dataset.setup(device=env.device, seed=config.seed, rank=env.rank, world_size=env.world_size)

    def with_context(where: str, kind: str, entry: ComponentConfig) -> Planned:
        values = CONTRACTS[kind].context_values(config.epochs, dataset)
        planned[where] = plan(pm, kind, entry, where, source=source, context=values)
        return planned[where]

    model = build(with_context("model", "model", config.model), owners=owners)
    model.to(env.device)
    optimizer = build(planned["optimizer"], model.parameters(), owners=owners)
    scheduler = None
    if config.scheduler is not None:
        scheduler = build(
            with_context("scheduler", "scheduler", config.scheduler), optimizer, owners=owners
        )
    losses = LossRegistry()
    for i, entry in enumerate(config.losses):
        losses.add(entry.name, build(planned[f"losses[{i}]"], owners=owners), entry.weight)
    metrics = {
        entry.name: build(planned[f"metrics[{i}]"], owners=owners)
        for i, entry in enumerate(config.metrics)
    }
    callbacks = [
        build(planned[f"callbacks[{i}]"], owners=owners) for i in range(len(config.callbacks))
    ]
    parts = RunParts(
        dataset, model, optimizer, scheduler, losses, metrics, callbacks, planned, owners
    )
    check_required_keys(parts, config)
    return parts


def check_required_keys(parts: RunParts, config: RunConfig) -> None:
    """Every loss and metric must find the keys it reads, before the first step."""
    batch = next(iter(parts.dataset.eval_batches()), None)
    if batch is None:
        raise PluginError(
            f"dataset {config.data.name!r} yields no evaluation batch (is it empty?)", where="data"
        )
    probe = {k: v[:2] for k, v in batch.items()}
    model = parts.model
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        was_training = model.training
        model.train()
        try:
            outputs = model(probe)
        finally:
            model.train(was_training)
    if not isinstance(outputs, Mapping):
        raise PluginError(
            f"returned a {type(outputs).__name__}",
            where="model",
            component=f"model {config.model.name!r}",
            hint="a model must return a dict of tensors",
        )
    have_out, have_batch = set(outputs), set(probe)
    checks = [(parts.losses.get(n), parts.component_of("losses", n)) for n in parts.losses]
    checks += [(m, parts.component_of("metrics", n)) for n, m in parts.metrics.items()]
    for component, planned in checks:
        for key in missing_keys(component, have_out, have_batch)[:1]:
            scope = key.rpartition(".")[0]
            if scope == "outputs":
                where_, available = f"model {config.model.name!r}", have_out
            elif scope == "batch":
                where_, available = f"dataset {config.data.name!r}", have_batch
            else:
                where_, available = "the model or the dataset", have_out | have_batch
            raise PluginError(
                f"reads {key!r}, which {where_} does not provide "
                f"(it provides: {', '.join(sorted(available))})",
                where=planned.where,
                component=planned.component.label,
                plugin=planned.component.origin,
            )


def build_loss_registry(config: RunConfig, plugins: PluginManager | None = None) -> LossRegistry:
    """A :class:`tvae_core.LossRegistry` with every loss of ``config.losses`` at its weight.

    The seed guide calls this ``create_registry_from_training_config(config)``.
    """
    pm = plugins or PluginManager()
    registry = LossRegistry()
    for i, entry in enumerate(config.losses):
        registry.add(entry.name, build(plan(pm, "loss", entry, f"losses[{i}]")), entry.weight)
    return registry
