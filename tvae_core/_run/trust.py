"""What a run takes from a checkpoint's config: never a place to write or delete files.

A checkpoint may come from someone else. Its config is data like any other, but settings
that name files or folders (a checkpoint callback's ``save_dir``, a TensorBoard
``log_dir``, a plot's ``filename``, ``trainer.out_dir``) would let the file choose where a
resumed run writes and what it prunes. :func:`drop_checkpoint_paths` removes them, so
that their defaults (inside the run's own folder) apply; the user gives them again with
``--set`` if they mean it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

#: Setting names that name a file or a folder.
_PATH_WORDS = ("dir", "path", "file", "filename", "folder")


def _names_a_path(key: str, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    words = key.lower().replace("-", "_").split("_")
    if any(w in _PATH_WORDS for w in words) or key.lower().endswith(_PATH_WORDS):
        return True
    return value.startswith(("/", "~")) or ".." in value.replace("\\", "/").split("/")


def drop_checkpoint_paths(config: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``config`` without the settings that name a path, and the key paths dropped."""
    cleaned: dict[str, Any] = copy.deepcopy(dict(config))
    dropped: list[str] = []
    trainer = cleaned.get("trainer")
    if isinstance(trainer, dict) and "out_dir" in trainer:
        del trainer["out_dir"]
        dropped.append("trainer.out_dir")
    callbacks = cleaned.get("callbacks")
    if isinstance(callbacks, list):
        for i, entry in enumerate(callbacks):
            if not isinstance(entry, dict):
                continue
            for key in [k for k, v in entry.items() if k != "name" and _names_a_path(k, v)]:
                del entry[key]
                dropped.append(f"callbacks[{i}].{key}")
    return cleaned, dropped
