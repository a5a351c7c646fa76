"""The run configuration's schema: its sections, their keys, types and defaults.

A component is a mapping with a ``name`` and its own settings (a bare string is short for
``{name: ...}``); those settings are checked against the component's own schema when the
run is resolved against the installed plugins (:mod:`tvae_core._engine.build`).
"""

from __future__ import annotations

import copy
import math
import weakref
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from tvae_core._config.seedshape import GEOMETRY_KEYS, SETTING_ALIASES

#: Max gradient norm the trainer clips to unless ``trainer.grad_clip`` says otherwise.
DEFAULT_GRAD_CLIP = 1.0

Precision = Literal["32", "bf16-mixed", "16-mixed"]

# The seed guide's name for a setting (``learning_rate`` is ``lr``).
_SETTING_ALIASES = SETTING_ALIASES


class ComponentConfig(BaseModel):
    """A component of the run: its ``name``, the registered ``component``, its settings.

    ``name`` alone names both the entry and the registered component (``kl``); a qualified
    name picks one plugin's component and keeps the bare name for the entry
    (``losses:kl`` is the term ``kl``). With ``component`` the entry gets a name of its own
    (``{name: kl_small, component: kl}``), so one component can serve twice. The entry's
    name (:attr:`term`) is what logs (``train/kl_small``), ``--set losses.kl_small.weight``
    and callbacks (homeostasis ``loss: kl_small``) use.
    """

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1)
    component: str | None = Field(None, min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"name": value}
        return value

    @field_validator("name")
    @classmethod
    def _plain_or_qualified(cls, value: str) -> str:
        if value.count(":") > 1 or value.startswith(":") or value.endswith(":"):
            raise ValueError("write NAME or PLUGIN:NAME")
        return value

    @model_validator(mode="after")
    def _own_name_is_plain(self) -> ComponentConfig:
        if self.component is not None and ":" in self.name:
            raise ValueError(
                f"name {self.name!r}: an entry with a component names itself without a "
                "plugin (write the plugin in component: PLUGIN:NAME)"
            )
        return self

    @property
    def component_name(self) -> str:
        """The registered component to build: ``component``, else ``name``."""
        return self.component or self.name

    @property
    def term(self) -> str:
        """The entry's own name: ``name`` without a plugin qualifier."""
        return self.name.rpartition(":")[2]

    @property
    def settings(self) -> dict[str, Any]:
        """Everything but ``name``, ``component`` (and a loss's ``weight``, the registry's)."""
        return {k: v for k, v in (self.model_extra or {}).items() if k != "weight"}

    def __getattr__(self, item: str) -> Any:
        try:
            extra = object.__getattribute__(self, "__pydantic_extra__") or {}
        except AttributeError:
            extra = {}
        key = _SETTING_ALIASES.get(item, item)
        if key in extra:
            return extra[key]
        return super().__getattr__(item)  # type: ignore[misc]

    def __setattr__(self, name: str, value: Any) -> None:
        # The seed guide's spelling writes tvae's key: ``optimizer.learning_rate = 1e-3``
        # sets ``lr`` (a stray ``learning_rate`` key would fail the run later).
        super().__setattr__(_SETTING_ALIASES.get(name, name), value)


class LossConfig(ComponentConfig):
    """A loss term: a component plus its ``weight`` in the total."""

    weight: float = Field(1.0, ge=0.0)

    @field_validator("weight")
    @classmethod
    def _finite_weight(cls, value: float) -> float:
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("weight must be a finite number")
        return value


class OptimizerConfig(ComponentConfig):
    """The optimizer: a component, plus settings for the model's named parameter groups.

    ``groups: {curvature: {lr: 0.01}}`` gives the group ``curvature`` (a model declares its
    groups with ``parameter_groups()``) its own learning rate; the other parameters form the
    group ``default``, which takes the optimizer's own settings.
    """

    groups: dict[str, dict[str, Any]] = Field(default_factory=dict)


class TrainerConfig(BaseModel):
    """How the loop runs: device, precision, clipping, cadence of validation and saving."""

    model_config = ConfigDict(extra="forbid")

    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?|mps)$")
    precision: Precision = "32"
    grad_clip: float | None = Field(DEFAULT_GRAD_CLIP, gt=0)
    val_every: int = Field(1, ge=1, description="validate every k epochs (and after the last)")
    checkpoint_every: int = Field(1, ge=1, description="write checkpoints/last.pt every k epochs")
    out_dir: str = "runs"
    on_nonfinite: Literal["stop", "skip"] = Field(
        "stop",
        description="a non-finite loss or gradient stops the run, or skips its step (on an "
        "accelerator, skip checks every step: one host-device sync per step)",
    )
    max_skipped_steps: int = Field(
        100,
        ge=1,
        le=10_000_000,
        description="with on_nonfinite: skip, this many skipped steps in a row stop the run "
        "(failed, naming the last one's cause): a fault that never goes away",
    )
    compile: bool | Literal["forward", "step"] = Field(
        False,
        description="torch.compile: false (eager), 'step' (the model's forward and every loss "
        "term as one graph, their backward included; also true) or 'forward' (the model's "
        "forward alone); docs/scaling.md says when it pays",
    )
    progress: bool = True
    num_threads: int | None = Field(None, ge=1, le=4096)  # more is a typo, not a machine

    @field_validator("compile", mode="before")
    @classmethod
    def _compile_mode(cls, value: Any) -> Any:
        # One message for a bad value (a bool-or-literal union would give two).
        if isinstance(value, bool) or value in ("forward", "step"):
            return value
        raise ValueError("expected false, true, 'step' or 'forward'")


class PluginsConfig(BaseModel):
    """Plugin requirements of the run."""

    model_config = ConfigDict(extra="forbid")

    required: list[str] = Field(default_factory=list)


class RunConfig(BaseModel):
    """A whole run. ``load_config`` builds one; attributes mirror the file's sections."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    seed: int = Field(0, ge=0, lt=2**63, strict=True)
    epochs: int = Field(100, ge=1, le=10_000_000, strict=True)
    data: ComponentConfig
    model: ComponentConfig
    optimizer: OptimizerConfig
    scheduler: ComponentConfig | None = None
    losses: list[LossConfig] = Field(min_length=1)
    metrics: list[ComponentConfig] = Field(default_factory=list)
    callbacks: list[ComponentConfig] = Field(default_factory=list)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    plugins: PluginsConfig = Field(default_factory=PluginsConfig)
    # Loss registries built from this config: config.loss_weights writes reach them.
    _registries: list[weakref.ref[Any]] = PrivateAttr(default_factory=list)

    def bind_loss_registry(self, registry: Any) -> None:
        """Make writes through :attr:`loss_weights` set ``registry``'s weights too.

        ``create_registry_from_training_config(config)`` and the trainer bind the registries
        they build, so the seed guide's curriculum line,
        ``config.loss_weights.ranking = 0.1 * difficulty``, changes the weight training uses.
        The binding is weak: it keeps no registry alive.
        """
        self._registries.append(weakref.ref(registry))

    def __getstate__(self) -> dict[Any, Any]:
        state = dict(super().__getstate__())
        private = dict(state.get("__pydantic_private__") or {})
        private["_registries"] = []  # a binding is to objects of this process
        state["__pydantic_private__"] = private
        return state

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> RunConfig:
        # A copy is bound to copies of the live registries, through the same memo: copying
        # (config, registry) together keeps the pair bound, and the original stays apart.
        memo = {} if memo is None else memo
        live = [r for r in (ref() for ref in self._registries) if r is not None]
        copied = super().__deepcopy__(memo)
        copied._registries = [weakref.ref(copy.deepcopy(r, memo)) for r in live]
        return copied

    def to_dict(self) -> dict[str, Any]:
        """Plain data (the resolved file's content), as stored in checkpoints."""
        return self.model_dump(mode="json", exclude_none=False)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    # The seed guide's views of the config ------------------------------------------------
    @property
    def geometry(self) -> _GeometryView:
        """``config.geometry.latent_dim`` / ``.curvature``: the model's latent settings."""
        return _GeometryView(self.model)

    @property
    def loss_weights(self) -> _LossWeights:
        """``config.loss_weights.<term>``: read or set a loss term's weight.

        A write sets the config's weight and that of every loss registry built from this
        config (:meth:`bind_loss_registry`), so it reaches training.

        ``<term>`` is a term's name, or the last ``_``-separated part of exactly one term's
        name: ``loss_weights.ranking`` is the weight of ``padic_ranking`` (the seed guide's
        spelling).
        """
        return _LossWeights(self)


class _GeometryView:
    """``latent_dim`` and ``curvature`` of the model's settings, read and written through."""

    def __init__(self, model: ComponentConfig) -> None:
        object.__setattr__(self, "_model", model)

    def __getattr__(self, item: str) -> Any:
        return getattr(object.__getattribute__(self, "_model"), item)

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in GEOMETRY_KEYS:
            raise AttributeError(
                f"config.geometry has {' and '.join(GEOMETRY_KEYS)}, not {name!r}; set other "
                f"model settings on config.model (config.model.{name} = ...)"
            )
        setattr(object.__getattribute__(self, "_model"), name, value)


class _LossWeights:
    def __init__(self, config: RunConfig) -> None:
        object.__setattr__(self, "_config", config)

    def _find(self, name: str) -> LossConfig:
        config: RunConfig = object.__getattribute__(self, "_config")
        exact = [loss for loss in config.losses if loss.term == name]
        short = [loss for loss in config.losses if loss.term.rpartition("_")[2] == name]
        if exact or len(short) == 1:
            return (exact or short)[0]
        terms = ", ".join(loss.term for loss in config.losses)
        if short:
            raise AttributeError(f"loss term {name!r} is ambiguous (terms: {terms})")
        raise AttributeError(f"the config has no loss term {name!r} (terms: {terms})")

    def __getattr__(self, name: str) -> float:
        return self._find(name).weight

    def __setattr__(self, name: str, value: float) -> None:
        weight = float(value)
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(f"a loss weight is a finite number >= 0, found {value!r}")
        entry = self._find(name)
        entry.weight = weight
        config: RunConfig = object.__getattribute__(self, "_config")
        for ref in config._registries:
            registry = ref()
            if registry is not None and entry.term in registry.weights:
                registry.set_weight(entry.term, weight)
