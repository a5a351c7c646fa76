"""From a config to live components: look each one up, validate its settings, build, check.

Each kind's rules come from its contract (:mod:`tvae_core._plugins.contracts`): the
arguments it is built with, the settings the run fills in, what it must return. Whatever
goes wrong is one error naming the config key path, the component and its plugin.
"""

from __future__ import annotations

import re
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
from tvae_core.logging import get_logger


@dataclass
class Planned:
    """One component of a run: where it sits in the config, what provides it, its settings."""

    where: str
    kind: str
    component: Component
    settings: dict[str, Any]
    #: The entry's own name (a loss term's, a metric's), see ``ComponentConfig.term``.
    term: str = ""
    #: What the run should hear about this choice (another plugin's component of that name).
    notes: list[str] = field(default_factory=list)

    @property
    def contract(self) -> Contract:
        return CONTRACTS[self.kind]

    @property
    def blame(self) -> dict[str, str | None]:
        """What an error about this component names: ``where``, ``component``, ``plugin``."""
        return {
            "where": self.where,
            "component": self.component.label,
            "plugin": self.component.origin,
        }


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
    prefer: frozenset[str] = frozenset(),
) -> Planned:
    """Look up ``entry`` and validate its settings.

    ``context`` holds the run's values for the settings the kind's contract fills in
    (a model's ``input_dim``); without it those settings may still be missing, and only
    what the config gives is checked. ``prefer`` holds the run's required distributions,
    whose components an unqualified name means when several plugins register it
    (:meth:`tvae_core.Registry.get`); such a choice is noted in ``Planned.notes``.
    """
    key = f"{where}.component" if entry.component is not None else f"{where}.name"
    wanted = entry.component_name
    try:
        component = pm.registry.get(kind, wanted, prefer=prefer)
    except TvaeError as exc:
        raise exc.locate(key, source=source) from None
    rules = CONTRACTS[kind]
    settings = dict(entry.settings)
    if context is None:
        validated = component.validate(settings, where, source, fill_later=rules.context)
    else:
        settings = rules.fill_context(component.load(), settings, context)
        validated = component.validate(settings, where, source)
    notes = []
    others = [c for c in pm.registry.candidates(kind, wanted) if c is not component]
    if others and ":" not in wanted:
        if component.distribution and _norm(component.distribution) in prefer:
            why = "its distribution is in plugins.required"
        else:
            why = {"builtin": "the core's own", "entry-point": "installed first"}.get(
                component.source, "given first"
            )
        names = " or ".join(repr(o.qualified_name) for o in others)
        notes.append(
            f"{key}: {kind} {wanted!r} is registered by several plugins; using "
            f"{component.qualified_name!r} ({why}); write {names} for the other"
        )
    return Planned(where, kind, component, validated, entry.term, notes)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def required_distributions(config: RunConfig) -> frozenset[str]:
    """The distribution names of ``plugins.required``, normalised (their components win)."""
    names = (
        re.split(r"[\s\[<>=!~;@(]", text.strip(), maxsplit=1)[0] for text in config.plugins.required
    )
    return frozenset(_norm(n) for n in names if n)


def plan_run(config: RunConfig, pm: PluginManager, source: str | None = None) -> list[Planned]:
    """Look up every component of the run and check the settings its config gives."""
    prefer = required_distributions(config)
    out = [plan(pm, "dataset", config.data, "data", source=source, prefer=prefer)]
    out.append(plan(pm, "model", config.model, "model", source=source, prefer=prefer))
    out.append(plan(pm, "optimizer", config.optimizer, "optimizer", source=source, prefer=prefer))
    if config.scheduler is not None:
        out.append(
            plan(pm, "scheduler", config.scheduler, "scheduler", source=source, prefer=prefer)
        )
    for section, kind in (("losses", "loss"), ("metrics", "metric"), ("callbacks", "callback")):
        entries: list[ComponentConfig] = list(getattr(config, section))
        for i, entry in enumerate(entries):
            out.append(plan(pm, kind, entry, f"{section}[{i}]", source=source, prefer=prefer))
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

    def component_of(self, section: str, term: str) -> Planned:
        """The plan of the loss term or metric ``term`` (``section``: ``losses`` or ``metrics``)."""
        entries = [p for w, p in self.planned.items() if w.startswith(f"{section}[")]
        return next(p for p in entries if p.term == term)


def build_run(
    config: RunConfig, pm: PluginManager, env: Environment, source: str | None = None
) -> RunParts:
    """Build every component of ``config`` on ``env``'s device, in the documented order.

    The dataset first (set up on the device and this rank's shard), then what takes values
    from it (the model, the scheduler), the optimizer, losses, metrics and callbacks; then
    the keys each loss and metric reads are checked against the model and the data.
    """
    planned = {p.where: p for p in plan_run(config, pm, source)}
    for note in (n for p in planned.values() for n in p.notes):
        get_logger("tvae.plugins").warning("%s", note)
    owners = Owners()
    prefer = required_distributions(config)

    dataset = build(planned["data"], owners=owners)
    dataset.setup(device=env.device, seed=config.seed, rank=env.rank, world_size=env.world_size)

    def with_context(where: str, kind: str, entry: ComponentConfig) -> Planned:
        values = CONTRACTS[kind].context_values(config.epochs, dataset)
        planned[where] = plan(pm, kind, entry, where, source=source, context=values, prefer=prefer)
        return planned[where]

    model = build(with_context("model", "model", config.model), owners=owners)
    model.to(env.device)
    groups = parameter_groups(model, config.optimizer.groups)
    optimizer = build(planned["optimizer"], groups, owners=owners)
    scheduler = None
    if config.scheduler is not None:
        scheduler = build(
            with_context("scheduler", "scheduler", config.scheduler), optimizer, owners=owners
        )
    check_log_keys(config)
    losses = LossRegistry()
    for i, entry in enumerate(config.losses):
        slot = planned[f"losses[{i}]"]
        owner = (slot.where, slot.component.label, slot.component.origin)
        losses.add(entry.term, build(slot, owners=owners), entry.weight, owner=owner)
    config.bind_loss_registry(losses)
    metrics = {
        entry.term: build(planned[f"metrics[{i}]"], owners=owners)
        for i, entry in enumerate(config.metrics)
    }
    check_declared_keys(losses, metrics, planned)
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
        except TvaeError:
            raise
        except Exception as exc:  # a model that cannot read its dataset's batches
            planned = parts.planned.get("model")
            raise PluginError(
                f"raised {describe(exc)} on a first batch of dataset {config.data.name!r}",
                where="model",
                component=planned.component.label if planned else f"model {config.model.name!r}",
                plugin=planned.component.origin if planned else None,
                hint="do the model's settings fit the data's (see --set)?",
            ) from None
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
                **planned.blame,
            )


def build_loss_registry(config: RunConfig, plugins: PluginManager | None = None) -> LossRegistry:
    """A :class:`tvae_core.LossRegistry` with every loss of ``config.losses`` at its weight.

    The seed guide calls this ``create_registry_from_training_config(config)``.
    """
    pm = plugins or PluginManager()
    registry = LossRegistry()
    prefer = required_distributions(config)
    for i, entry in enumerate(config.losses):
        planned = plan(pm, "loss", entry, f"losses[{i}]", prefer=prefer)
        registry.add(entry.term, build(planned), entry.weight)
    config.bind_loss_registry(registry)  # config.loss_weights.X = w reaches this registry
    return registry


#: Names the run logs itself under ``train/`` and ``val/``: no loss term or metric may take them.
RESERVED_TERMS = ("loss", "skipped_steps")
#: Keys of every epoch record besides the metrics: no loss weight may be logged as one.
RECORD_KEYS = ("epoch", "step", "time_s", "lr")


def parameter_groups(
    model: torch.nn.Module, settings: Mapping[str, Mapping[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """The optimizer's ``params``: the model's named parameter groups, ``default`` first.

    A model may declare groups with ``parameter_groups() -> {name: parameters}`` (a
    curvature, manifold parameters); every other parameter is in ``default``. ``settings``
    (the config's ``optimizer.groups``) adds hyperparameters to a group by name.
    """
    declared = getattr(model, "parameter_groups", None)
    named: dict[str, list[torch.nn.Parameter]] = {}
    seen: set[int] = set()
    for name, params in (dict(declared()) if callable(declared) else {}).items():
        kept = [p for p in params if id(p) not in seen]
        seen.update(id(p) for p in kept)
        if kept:
            named[str(name)] = kept
    rest = [p for p in model.parameters() if id(p) not in seen]
    groups: list[dict[str, Any]] = [{"name": "default", "params": rest}] if rest else []
    groups += [{"name": name, "params": params} for name, params in named.items()]
    known = [str(g["name"]) for g in groups]
    for name, extra in (settings or {}).items():
        if name not in known:
            raise ConfigError(
                f"the model has no parameter group {name!r} (its groups: {', '.join(known)})",
                where=f"optimizer.groups.{name}",
            )
        bad = {"params", "name"} & set(extra)
        if bad:
            raise ConfigError(
                f"{sorted(bad)[0]!r} is set by the run", where=f"optimizer.groups.{name}"
            )
        next(g for g in groups if g["name"] == name).update(extra)
    return groups


def check_log_keys(config: RunConfig) -> None:
    """Loss terms and metrics each log under their own names: refuse two that would clash."""
    seen: dict[str, str] = {}
    for section in ("losses", "metrics"):
        for i, entry in enumerate(getattr(config, section)):
            where = f"{section}[{i}].name"
            if entry.term in RESERVED_TERMS:
                raise ConfigError(
                    f"{entry.term!r} is taken by the run's own train/{entry.term} and val/{entry.term}",
                    where=where,
                    hint="give the entry another name (name: NAME, component: ...)",
                )
            if entry.term in seen:
                raise ConfigError(
                    f"{entry.term!r} would log under the same key as {seen[entry.term]}",
                    where=where,
                    hint="give one of them another name (name: NAME, component: ...)",
                )
            seen[entry.term] = f"{section}[{i}]"


def check_declared_keys(
    losses: LossRegistry, metrics: Mapping[str, Any], planned: Mapping[str, Planned]
) -> None:
    """The keys metrics declare (``higher_is_better`` mappings) and weights' log keys are free."""
    taken = {name: f"loss term {name!r}" for name in losses}
    taken.update({name: f"metric {name!r}" for name in metrics})
    for term, metric in metrics.items():
        declared = getattr(metric, "higher_is_better", None)
        for key in declared if isinstance(declared, Mapping) else ():
            owner = taken.get(key)
            if owner is not None and owner != f"metric {term!r}":
                raise PluginError(
                    f"returns the key {key!r}, which is already {owner}'s: val/{key} would be "
                    "overwritten",
                    where=next(
                        p.where for p in planned.values() if p.term == term and p.kind == "metric"
                    ),
                    component=f"metric {term!r}",
                )
            taken.setdefault(key, f"metric {term!r}")
    for key in losses.logged_weights():
        if key in RECORD_KEYS or "/" in key or key in taken:
            raise PluginError(
                f"a loss logs its weight as {key!r}, a key the run keeps for itself",
                hint="choose another weight_log_key",
            )
