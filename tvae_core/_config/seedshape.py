"""The seed guide's shape of a config file, mapped onto tvae's sections.

The original training guide reads ``config.geometry.latent_dim``,
``config.optimizer.learning_rate`` and ``config.loss_weights.ranking``; a file written in
that shape is accepted and mapped before validation:

* ``geometry: {latent_dim: 8, curvature: 1.0}`` sets those keys of ``model``;
* ``learning_rate`` in ``optimizer`` is its ``lr``;
* ``loss_weights: {ranking: 0.1, kl: 0.01}`` sets the ``weight`` of those loss terms (a term's
  name, or the last ``_``-part of exactly one term's name: ``ranking`` is ``padic_ranking``);
* a component section with settings but no ``name`` (``optimizer: {learning_rate: 1e-3}``)
  changes the default's component of that section instead of replacing it.

Every problem the mapping finds is reported at once, in one error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tvae_core._errors import ConfigError

#: The seed guide's names of settings, and tvae's.
SETTING_ALIASES = {"learning_rate": "lr"}
#: The keys ``geometry`` may hold: the model's latent settings.
GEOMETRY_KEYS = ("latent_dim", "curvature")
_COMPONENT_SECTIONS = ("data", "model", "optimizer", "scheduler")


def find_loss(losses: list[Any], name: str) -> tuple[int | None, str | None]:
    """The index of the loss entry ``name`` names, or None and why not."""

    def term(entry: Any) -> str:
        raw = entry.get("name", "") if isinstance(entry, Mapping) else entry
        return str(raw).rpartition(":")[2]

    terms = [term(e) for e in losses]
    exact = [i for i, t in enumerate(terms) if t == name]
    short = [i for i, t in enumerate(terms) if t.rpartition("_")[2] == name]
    if exact or len(short) == 1:
        return (exact or short)[0], None
    listed = ", ".join(terms)
    if short:
        return None, f"loss term {name!r} is ambiguous (terms: {listed})"
    return None, f"no loss term {name!r} (terms: {listed})"


def map_seed_shape(data: dict[str, Any], base: Mapping[str, Any]) -> dict[str, Any]:
    """Map the seed guide's sections of ``data`` (merged over ``base``) onto tvae's, in place."""
    problems: list[str] = []
    given_model = data.get("model")
    given_model = dict(given_model) if isinstance(given_model, Mapping) else {}
    for section in _COMPONENT_SECTIONS:
        value = data.get(section)
        if not isinstance(value, Mapping):
            continue
        value = dict(value)
        for alias, key in SETTING_ALIASES.items():
            if alias not in value:
                continue
            if key in value and value[key] != value[alias]:
                problems.append(
                    f"{section}.{alias}: is {section}.{key}, which the file sets to another "
                    "value; keep one"
                )
            value[key] = value.pop(alias)
        default = base.get(section)
        if value and "name" not in value and isinstance(default, Mapping):
            value = {**default, **value}
        data[section] = value
    geometry = data.pop("geometry", None)
    if geometry is not None:
        if not isinstance(geometry, Mapping):
            problems.append(f"geometry: expected a mapping of {', '.join(GEOMETRY_KEYS)}")
        else:
            model = data.get("model", base.get("model"))
            if not isinstance(model, Mapping):
                problems.append("geometry: needs a model section to set")
            else:
                model = dict(model)
                for key, value in geometry.items():
                    if key not in GEOMETRY_KEYS:
                        problems.append(
                            f"geometry.{key}: unknown key; geometry holds "
                            f"{' and '.join(GEOMETRY_KEYS)} (set other settings in model)"
                        )
                    elif key in given_model and given_model[key] != value:
                        problems.append(
                            f"geometry.{key}: is model.{key}, which the file sets to "
                            "another value; keep one"
                        )
                    else:
                        model[key] = value
                data["model"] = model
    weights = data.pop("loss_weights", None)
    if weights is not None:
        losses = data.get("losses", base.get("losses"))
        if not isinstance(weights, Mapping):
            problems.append("loss_weights: expected a mapping of loss term to weight")
        elif not isinstance(losses, list):
            problems.append("loss_weights: needs a losses list to set weights in")
        else:
            losses = [dict(e) if isinstance(e, Mapping) else {"name": e} for e in losses]
            for name, weight in weights.items():
                index, why = find_loss(losses, str(name))
                if index is None:
                    problems.append(f"loss_weights.{name}: {why}")
                else:
                    losses[index]["weight"] = weight
            data["losses"] = losses
    if problems:
        count = f"{len(problems)} problems: " if len(problems) > 1 else ""
        raise ConfigError(count + "; ".join(problems))
    return data
