"""``--set key.path=value``: overrides applied to a config's plain data before validation."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from tvae_core._errors import ConfigError

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


def apply_overrides(data: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply ``key.path=value`` overrides; values are YAML scalars or flow collections.

    A list of components can be addressed by index (``losses[2].weight``) or by a
    component's name (``losses.kl.weight``).
    """
    out = copy.deepcopy(dict(data))
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError("expected KEY.PATH=VALUE", where=f"--set {item!r}")
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
