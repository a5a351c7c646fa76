"""A resolved config as flat ``key.path: value`` pairs: the paths ``--set`` accepts.

What ``tvae runs compare`` lines up, what tracking plugins log as parameters (MLflow's
params, TensorBoard's HParams).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def flatten_config(config: Any) -> dict[str, Any]:
    """A resolved config (a mapping or a :class:`RunConfig`) as ``{key.path: value}``.

    Lists of components are keyed by their name: ``losses: [{name: kl, weight: 0.1}]``
    gives ``losses.kl.weight: 0.1`` (a path ``--set`` accepts) and a component without
    settings ``metrics.coverage: True``; a name used twice in a list falls back to the
    entry's index (``losses.2.name``, ``losses.2.weight``); lists of plain values stay whole
    (``model.hidden_dims: [256, 256]``), and so does an empty mapping (``{}``).
    """
    if hasattr(config, "to_dict"):
        config = config.to_dict()
    out: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, Mapping):
            if not node and prefix:
                out[prefix] = {}
            for key, value in node.items():
                walk(value, f"{prefix}.{key}" if prefix else str(key))
        elif (
            isinstance(node, list)
            and node
            and all(isinstance(e, Mapping) and "name" in e for e in node)
        ):
            labels = [str(e.get("term") or e["name"]) for e in node]
            for i, (entry, label) in enumerate(zip(node, labels, strict=True)):
                if labels.count(label) == 1:
                    rest = {k: v for k, v in entry.items() if k != "name" or label != v}
                    if rest:
                        walk(rest, f"{prefix}.{label}")
                    else:
                        out[f"{prefix}.{label}"] = True
                else:
                    walk(dict(entry), f"{prefix}.{i}")
        else:
            out[prefix] = node

    walk(config, "")
    return out
