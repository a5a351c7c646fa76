"""Bounds on what a config may be: a small hostile file must not tie up the machine.

A 600-byte YAML file of nested anchors expands to billions of nodes; a checkpoint's config
(plain data from ``torch.load``) may share one list a thousand times over; a FIFO or
``/dev/zero`` given as a config never ends. Everything a config is read from goes through
here first:

- :func:`read_config_bytes`: a regular file of at most :data:`MAX_CONFIG_BYTES`;
- :class:`BoundedLoader`: YAML with at most :data:`MAX_ALIASES` aliases and
  :data:`MAX_DEPTH` levels of nesting (checked while composing, before anything expands);
- :func:`check_plain_data`: at most :data:`MAX_NODES` values counted as the data would be
  expanded (a shared reference counts each time it is reached) and :data:`MAX_DEPTH`
  levels, walked without recursion and stopping at the first bound passed;
- :func:`short_repr`: a value for an error message, never more than a line, whatever it holds.
"""

from __future__ import annotations

import os
import reprlib
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tvae_core._errors import ConfigError

MAX_CONFIG_BYTES = 256 << 10  # parsing this much YAML takes seconds; a config is a few KiB
MAX_DEPTH = 32
MAX_ALIASES = 256
MAX_NODES = 100_000
MAX_STRING = 1 << 16


class BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` refusing too many aliases or too deep a nesting, while composing."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise ConfigError(
                    f"more than {MAX_ALIASES} YAML aliases (*name): refused before expanding them",
                    hint="write the values out, or use fewer anchors",
                )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise ConfigError(f"nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` within the bounds (a ConfigError past one; yaml errors as they are)."""
    loader = BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def read_config_bytes(path: Path) -> bytes:
    """The bytes of a config file: a regular file, at most :data:`MAX_CONFIG_BYTES`."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise ConfigError(
            f"cannot read the file ({exc.strerror or exc})", source=str(path)
        ) from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise ConfigError(
            f"is {kind} (a FIFO, a device or a socket is never read as a config)"
            if kind != "a directory"
            else "is a directory, not a config file",
            source=str(path),
        )
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(
            f"cannot read the file ({exc.strerror or exc})", source=str(path)
        ) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"is larger than {MAX_CONFIG_BYTES // 1024} KiB, too large for a config",
            source=str(path),
        )
    return data


def check_plain_data(
    data: Any,
    *,
    source: str | None = None,
    max_nodes: int = MAX_NODES,
    max_depth: int = MAX_DEPTH,
    what: str = "the config",
) -> None:
    """Refuse data that would expand past ``max_nodes`` values or ``max_depth`` levels.

    Leaves that are not containers (numbers, strings, tensors) count one each; a string
    longer than :data:`MAX_STRING` is refused too. The walk is iterative and stops at the
    first bound passed, so it costs at most ``max_nodes`` steps.
    """
    stack: list[tuple[Any, int]] = [(data, 1)]
    seen = 0
    while stack:
        node, depth = stack.pop()
        seen += 1
        if seen > max_nodes:
            raise ConfigError(
                f"{what} holds more than {max_nodes} values (counting each shared reference "
                "as often as it is reached); refused",
                source=source,
            )
        if depth > max_depth:
            raise ConfigError(f"{what} is nested more than {max_depth} levels deep", source=source)
        if isinstance(node, Mapping):
            for key, value in node.items():
                stack.append((key, depth + 1))
                stack.append((value, depth + 1))
        elif isinstance(node, (list, tuple, set, frozenset)):
            stack.extend((v, depth + 1) for v in node)
        elif isinstance(node, (str, bytes)) and len(node) > MAX_STRING:
            raise ConfigError(
                f"{what} holds a string of {len(node)} characters (at most {MAX_STRING})",
                source=source,
            )


_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxfrozenset = _REPR.maxdeque = 6
_REPR.maxdict = 4
_REPR.maxstring = 40
_REPR.maxother = 40
_REPR.maxlong = 40


def short_repr(value: Any, limit: int = 60) -> str:
    """``repr(value)`` bounded in work and length (at most ``limit`` characters, one line)."""
    try:
        text = _REPR.repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
