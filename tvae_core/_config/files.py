"""Config files: YAML or TOML, the embedded default, merging, validation, ``--set`` applied.

Every section is optional: a section present in a file replaces the default's section,
except the plain mappings ``trainer`` and ``plugins``, whose keys are merged into the
defaults.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tvae_core._config.limits import MAX_DEPTH, check_plain_data, load_yaml, read_config_bytes
from tvae_core._config.overrides import apply_overrides, blame_overrides
from tvae_core._config.schema import PluginsConfig, RunConfig, TrainerConfig
from tvae_core._config.seedshape import map_seed_shape
from tvae_core._config.settings import describe_validation_error
from tvae_core._errors import ConfigError

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
    """Parse a YAML or TOML file into a mapping, with one-line errors.

    The file must be a regular file of at most 1 MiB, and what it holds is bounded in
    aliases, depth and expanded size (:mod:`tvae_core._config.limits`).
    """
    p = Path(path)
    if not p.exists():
        raise ConfigError("no such config file", source=str(p))
    raw = read_config_bytes(p)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"cannot read the file (not UTF-8 text: byte {exc.start})", source=str(p)
        ) from None
    try:
        if p.suffix.lower() == ".toml":
            import tomllib

            try:
                data: Any = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"invalid TOML: {exc}", source=str(p)) from None
        else:
            try:
                data = load_yaml(text)
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
                problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
                raise ConfigError(f"invalid YAML{where}: {problem}", source=str(p)) from None
    except RecursionError:
        raise ConfigError(f"nested more than {MAX_DEPTH} levels deep", source=str(p)) from None
    except ConfigError as exc:
        raise exc.locate(source=str(p)) from None
    check_plain_data(data, source=str(p))
    if data is None:
        raise ConfigError(
            "the file is empty",
            hint="write at least one section (see `tvae config`)",
            source=str(p),
        )
    if not isinstance(data, dict):
        raise ConfigError(
            f"expected a mapping of sections at the top, found {type(data).__name__}",
            source=str(p),
        )
    return data


def merge_with_default(
    data: Mapping[str, Any], base: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The default config with the sections of ``data`` applied (see the module docstring).

    Sections in the seed guide's shape (``geometry``, ``loss_weights``, ``learning_rate``, a
    component without a ``name``) are mapped first (:mod:`tvae_core._config.seedshape`).
    """
    merged = copy.deepcopy(dict(base if base is not None else default_config_dict()))
    data = map_seed_shape(copy.deepcopy(dict(data)), merged)
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


def build_config(
    data: Mapping[str, Any], source: str | None = None, *, merge_default: bool = False
) -> RunConfig:
    """Validate plain data as a :class:`RunConfig`; errors name the key path.

    With ``merge_default`` the sections ``data`` leaves out come from the default run, as
    for a config file.
    """
    check_plain_data(data, source=source)  # a checkpoint's config is plain data of any size
    if merge_default:
        data = merge_with_default(data)
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
        where, message = describe_validation_error(exc, "", known)
        raise ConfigError(message, where=where, source=source) from None


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
            try:
                data = merge_with_default(data)
            except ConfigError as exc:
                raise exc.locate(source=source) from None
    overrides = list(overrides)
    data = apply_overrides(data, overrides)
    try:
        return build_config(data, source=source)
    except ConfigError as exc:
        raise blame_overrides(exc, data, overrides) from None
