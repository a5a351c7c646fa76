"""``--set key.path=value``: overrides applied to a config's plain data before validation."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import yaml

from tvae_core._config.limits import load_yaml
from tvae_core._errors import ConfigError, TvaeError

E = TypeVar("E", bound=TvaeError)

_INDEX = re.compile(r"^(?P<key>[^\[\]]*)((?:\[\d+\])*)$")


def _split_path(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for raw in path.split("."):
        m = _INDEX.match(raw)
        if not m or (not m.group("key") and not m.group(2)):
            raise ConfigError(
                "malformed key path",
                where=f"--set {path}",
                hint="write e.g. model.latent_dim or losses[1].weight",
            )
        if m.group("key"):
            parts.append(int(m.group("key")) if m.group("key").isdigit() else m.group("key"))
        parts.extend(int(i) for i in re.findall(r"\[(\d+)\]", raw))
    return parts


def _entry_name(entry: Mapping[str, Any]) -> str:
    """A list entry's own name: ``losses:kl`` is ``kl`` (see ``ComponentConfig.term``)."""
    return str(entry.get("name", "")).rpartition(":")[2]


def apply_overrides(data: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply ``key.path=value`` overrides; values are YAML scalars or flow collections.

    A list of components can be addressed by index (``losses[2].weight``) or by an
    entry's name (``losses.kl.weight``; a qualified ``losses:kl`` entry is ``kl`` too).
    """
    out = copy.deepcopy(dict(data))
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError("expected KEY.PATH=VALUE", where=f"--set {item!r}")
        try:
            value = load_yaml(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        except RecursionError:
            raise ConfigError("the value is nested too deeply", where=f"--set {key}") from None
        except ConfigError as exc:
            raise exc.locate(f"--set {key}") from None
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
                        if isinstance(c, Mapping) and _entry_name(c) == part
                    ]
                    if not matches:
                        names = [_entry_name(c) for c in node if isinstance(c, Mapping)]
                        raise ConfigError(
                            f"no entry named {part!r} (entries: {', '.join(map(str, names))})",
                            where=f"--set {shown}",
                        )
                    part = matches[0]
                if not 0 <= part < len(node) + (1 if last else 0):
                    raise ConfigError(
                        f"index {part} is out of range (the list has {len(node)} entries)",
                        where=f"--set {shown}",
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
                    raise ConfigError(
                        f"{part} indexes a mapping, not a list", where=f"--set {shown}"
                    )
                if last:
                    node[part] = value
                else:
                    if node.get(part) is None:
                        node[part] = {}
                    node = node[part]
            else:
                raise ConfigError(
                    f"cannot set a key inside a {type(node).__name__} value", where=f"--set {shown}"
                )
    return out


def override_path(data: Mapping[str, Any], key: str) -> str | None:
    """The key path an override's KEY names in ``data``, with list entries by index.

    ``losses.kl.weight`` is ``losses[1].weight`` when ``kl`` is the second loss; None when
    KEY does not name a path of ``data`` as the error messages write it.
    """
    try:
        parts = _split_path(key)
    except ConfigError:
        return None
    node: Any = data
    out = ""
    for part in parts:
        if isinstance(node, list):
            if isinstance(part, str):
                found = [
                    i
                    for i, c in enumerate(node)
                    if isinstance(c, Mapping) and _entry_name(c) == part
                ]
                if not found:
                    return None
                part = found[0]
            out += f"[{part}]"
            node = node[part] if 0 <= part < len(node) else None
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, Mapping) else None
    return out


def blame_overrides(error: E, data: Mapping[str, Any], overrides: Iterable[str]) -> E:
    """``error`` blamed on the ``--set`` override whose key path it is at, if any.

    A config error at a key an override set (or inside it) is the override's, not the
    file's: it then names ``--set KEY=VALUE`` instead of the file.
    """
    where = error.where
    if not where or where.startswith("--set"):
        return error
    for item in overrides:
        key = item.partition("=")[0].strip()
        path = override_path(data, key)
        if path and (where == path or where.startswith((path + ".", path + "["))):
            error.where = f"--set {item}"
            error.source = None
            return error
    return error
