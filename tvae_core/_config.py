"""Run configuration: YAML/TOML files, the embedded default, ``--set`` overrides, validation.

Every section is optional: a section present in a file replaces the default's section,
except the plain mappings ``trainer`` and ``plugins``, whose keys are merged into the
defaults. Components are mappings with a ``name`` and their own settings (a bare string is
short for ``{name: ...}``); their settings are checked against each component's schema when
the run is resolved against the installed plugins (see :mod:`tvae_core._build`).
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tvae_core._constants import DEFAULT_GRAD_CLIP
from tvae_core._errors import ConfigError
from tvae_core._settings import format_validation_error

Precision = Literal["32", "bf16-mixed", "16-mixed"]

# The seed guide's names for some settings and loss terms.
_SETTING_ALIASES = {"learning_rate": "lr"}
LOSS_ALIASES = {"ranking": "padic_ranking", "recon": "reconstruction", "beta": "kl"}


class ComponentConfig(BaseModel):
    """A component: its registered ``name`` and its settings (checked by its own schema)."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"name": value}
        return value

    @property
    def settings(self) -> dict[str, Any]:
        """Everything but ``name`` (and a loss's ``weight``, which the registry owns)."""
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


class LossConfig(ComponentConfig):
    """A loss term: a component plus its ``weight`` in the total."""

    weight: float = Field(1.0, ge=0.0)

    @field_validator("weight")
    @classmethod
    def _finite_weight(cls, value: float) -> float:
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("weight must be a finite number")
        return value


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
    compile: bool = False
    progress: bool = True
    log_every_steps: int = Field(50, ge=1)
    num_threads: int | None = Field(None, ge=1, le=4096)  # more is a typo, not a machine


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
    optimizer: ComponentConfig
    scheduler: ComponentConfig | None = None
    losses: list[LossConfig] = Field(min_length=1)
    metrics: list[ComponentConfig] = Field(default_factory=list)
    callbacks: list[ComponentConfig] = Field(default_factory=list)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    plugins: PluginsConfig = Field(default_factory=PluginsConfig)

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
        """``config.loss_weights.<term>``: read or set a loss term's weight."""
        return _LossWeights(self)


class _GeometryView:
    def __init__(self, model: ComponentConfig) -> None:
        self._model = model

    def __getattr__(self, item: str) -> Any:
        return getattr(self._model, item)


class _LossWeights:
    def __init__(self, config: RunConfig) -> None:
        object.__setattr__(self, "_config", config)

    def _find(self, name: str) -> LossConfig:
        config: RunConfig = object.__getattribute__(self, "_config")
        wanted = LOSS_ALIASES.get(name, name)
        for loss in config.losses:
            if loss.name in (name, wanted):
                return loss
        raise AttributeError(f"the config has no loss term {name!r}")

    def __getattr__(self, name: str) -> float:
        return self._find(name).weight

    def __setattr__(self, name: str, value: float) -> None:
        self._find(name).weight = float(value)


# -- reading files ----------------------------------------------------------------------------
DEFAULT_CONFIG_RESOURCE = "default_config.yaml"
_MERGED_SECTIONS = ("trainer", "plugins")


def default_config_text() -> str:
    """The embedded default config, as shipped (comments included)."""
    return resources.files("tvae_core").joinpath(DEFAULT_CONFIG_RESOURCE).read_text("utf-8")


def default_config_dict() -> dict[str, Any]:
    data = yaml.safe_load(default_config_text())
    assert isinstance(data, dict)
    return data


def default_config() -> RunConfig:
    """The embedded default run."""
    return build_config(default_config_dict(), source="<default config>")


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Parse a YAML or TOML file into a mapping, with one-line errors."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{p}: no such config file")
    if p.is_dir():
        raise ConfigError(f"{p}: is a directory, not a config file")
    try:
        text = p.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read the file ({exc})") from None
    if p.suffix.lower() == ".toml":
        import tomllib

        try:
            data: Any = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: invalid TOML: {exc}") from None
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(f"{p}: invalid YAML{where}: {problem}") from None
    if data is None:
        raise ConfigError(f"{p}: the file is empty; write at least one section (see `tvae config`)")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{p}: expected a mapping of sections at the top, found {type(data).__name__}"
        )
    return data


def merge_with_default(
    data: Mapping[str, Any], base: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The default config with the sections of ``data`` applied (see the module docstring)."""
    merged = copy.deepcopy(dict(base if base is not None else default_config_dict()))
    for key, value in data.items():
        if (
            key in _MERGED_SECTIONS
            and isinstance(value, Mapping)
            and isinstance(merged.get(key), Mapping)
        ):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def build_config(data: Mapping[str, Any], source: str | None = None) -> RunConfig:
    """Validate plain data as a :class:`RunConfig`; errors name the key path."""
    try:
        return RunConfig.model_validate(dict(data))
    except ValidationError as exc:
        err = exc.errors()[0]
        known = list(RunConfig.model_fields)
        loc = tuple(err.get("loc", ()))
        if len(loc) == 2 and loc[0] == "trainer":
            known = list(TrainerConfig.model_fields)
        elif len(loc) == 2 and loc[0] == "plugins":
            known = list(PluginsConfig.model_fields)
        raise ConfigError(format_validation_error(exc, "", known, source)) from None


def load_config(
    path: str | Path | None = None,
    overrides: Iterable[str] = (),
    *,
    merge_default: bool = True,
) -> RunConfig:
    """Read a config file (or the default when ``path`` is None) and apply ``key=value`` overrides."""
    if path is None:
        data = default_config_dict()
        source = "<default config>"
    else:
        data = read_config_file(path)
        source = str(path)
        if merge_default:
            data = merge_with_default(data)
    data = apply_overrides(data, overrides)
    return build_config(data, source=source)


# -- --set key.path=value ---------------------------------------------------------------------
_INDEX = re.compile(r"^(?P<key>[^\[\]]*)((?:\[\d+\])*)$")


def _split_path(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for raw in path.split("."):
        m = _INDEX.match(raw)
        if not m or (not m.group("key") and not m.group(2)):
            raise ConfigError(
                f"--set {path}: malformed key path (write e.g. model.latent_dim or losses[1].weight)"
            )
        if m.group("key"):
            parts.append(int(m.group("key")) if m.group("key").isdigit() else m.group("key"))
        parts.extend(int(i) for i in re.findall(r"\[(\d+)\]", raw))
    return parts


def apply_overrides(data: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply ``key.path=value`` overrides; values are YAML scalars or flow collections.

    A list of components can be addressed by index (``losses[2].weight``) or by a
    component's name (``losses.kl.weight``).
    """
    out = copy.deepcopy(dict(data))
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY.PATH=VALUE")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        parts = _split_path(key.strip())
        node: Any = out
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            shown = key.strip()
            if isinstance(node, list):
                if isinstance(part, str):
                    matches = [
                        i
                        for i, c in enumerate(node)
                        if isinstance(c, Mapping) and c.get("name") == part
                    ]
                    if not matches:
                        names = [c.get("name") for c in node if isinstance(c, Mapping)]
                        raise ConfigError(
                            f"--set {shown}: no entry named {part!r} (entries: {', '.join(map(str, names))})"
                        )
                    part = matches[0]
                if not 0 <= part < len(node) + (1 if last else 0):
                    raise ConfigError(
                        f"--set {shown}: index {part} is out of range (the list has {len(node)} entries)"
                    )
                if last:
                    if part == len(node):
                        node.append(value)
                    else:
                        node[part] = value
                else:
                    node = node[part]
            elif isinstance(node, dict):
                if isinstance(part, int):
                    raise ConfigError(f"--set {shown}: {part} indexes a mapping, not a list")
                if last:
                    node[part] = value
                else:
                    if node.get(part) is None:
                        node[part] = {}
                    node = node[part]
            else:
                raise ConfigError(
                    f"--set {shown}: cannot set a key inside a {type(node).__name__} value"
                )
    return out


def suggest(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""
