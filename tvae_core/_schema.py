"""``tvae config --schema``: a JSON Schema (draft 2020-12) of a config file.

The sections come from :class:`tvae_core.RunConfig`; each component section lists the
components the installed plugins register, and each component's own settings come from its
settings model, so an editor with a YAML language server completes names and settings and
flags a misspelled key. Point the editor at the schema with a first line such as
``# yaml-language-server: $schema=tvae-config.schema.json``.

The schema checks a *file*: every section is optional (the default run fills the rest).
Settings that a run fills from its data (a model's ``input_dim``, a scheduler's
``total_epochs``) are never required here.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

DRAFT = "https://json-schema.org/draft/2020-12/schema"

#: Config section -> component kind; list sections hold several entries.
SECTIONS = {
    "data": "dataset",
    "model": "model",
    "optimizer": "optimizer",
    "scheduler": "scheduler",
    "losses": "loss",
    "metrics": "metric",
    "callbacks": "callback",
}
_LISTS = ("losses", "metrics", "callbacks")
#: Kinds whose required parameters the engine may fill from the run (``plan`` contexts).
_FILLED_BY_THE_RUN = ("model", "scheduler")


def _generator() -> type:
    from pydantic.json_schema import GenerateJsonSchema

    class Lenient(GenerateJsonSchema):
        """A setting of a type JSON cannot describe (a tensor, a callable) accepts anything."""

        def handle_invalid_for_json_schema(self, schema: Any, error_info: str) -> dict[str, Any]:
            return {}

    return Lenient


def _finite(node: Any) -> Any:
    """Drop what JSON cannot hold (``inf`` and ``nan`` defaults)."""
    if isinstance(node, dict):
        return {
            k: _finite(v)
            for k, v in node.items()
            if not (isinstance(v, float) and not math.isfinite(v))
        }
    if isinstance(node, list):
        return [_finite(v) for v in node if not (isinstance(v, float) and not math.isfinite(v))]
    return node


def _settings_schema(component: Any, prefix: str, defs: dict[str, Any]) -> dict[str, Any]:
    """The object schema of one component: ``name`` plus its settings, nothing else."""
    from tvae_core._errors import TvaeError

    try:
        model = component.settings_model()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # defaults JSON cannot hold are left out
            schema = model.model_json_schema(
                ref_template="#/$defs/" + prefix + "{model}", schema_generator=_generator()
            )
    except (TvaeError, Exception):
        # A component whose factory cannot be imported here still gets its name checked.
        return {"type": "object", "properties": {"name": {"type": "string"}}}
    for name, sub in (schema.pop("$defs", None) or {}).items():
        defs[prefix + name] = sub
    properties = dict(schema.get("properties") or {})
    for prop in properties.values():
        prop.pop("title", None)
    out: dict[str, Any] = {
        "type": "object",
        "description": component.description,
        "properties": properties,
        "additionalProperties": False,
    }
    required = [r for r in schema.get("required") or [] if r != "name"]
    if required and component.kind not in _FILLED_BY_THE_RUN:
        out["required"] = required
    return out


def _kind_schema(pm: Any, kind: str, defs: dict[str, Any]) -> dict[str, Any]:
    """A component entry of ``kind``: a bare name, or a mapping with ``name`` and settings."""
    components = pm.registry.all(kind)
    names: list[str] = []
    rules = []
    for c in sorted(components, key=lambda c: (c.name, c.plugin)):
        ref = f"{kind}.{c.plugin}.{c.name}"
        body = _settings_schema(c, f"{ref}.", defs)
        body["properties"] = {"name": {"type": "string"}, **body["properties"]}
        if kind == "loss":
            body["properties"].setdefault(
                "weight", {"type": "number", "minimum": 0, "description": "the term's weight"}
            )
        defs[ref] = body
        accepted = [c.name, c.qualified_name]
        names += [n for n in accepted if n not in names]
        rules.append(
            {
                "if": {"properties": {"name": {"enum": accepted}}, "required": ["name"]},
                "then": {"$ref": f"#/$defs/{ref}"},
            }
        )
    entry: dict[str, Any] = {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"enum": names, "description": f"a registered {kind}"}},
    }
    if rules:
        entry["allOf"] = rules
    # if/then/else rather than anyOf: a wrong setting is reported as itself, not as "matches
    # none of the alternatives".
    return {"if": {"type": "string"}, "then": {"enum": names}, "else": entry}


def config_schema(pm: Any) -> dict[str, Any]:
    """The JSON Schema of a config file for the components ``pm`` registers."""
    from tvae_core._config import RunConfig

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = RunConfig.model_json_schema(schema_generator=_generator())
    defs: dict[str, Any] = {
        k: v
        for k, v in (base.pop("$defs", None) or {}).items()
        if k in ("TrainerConfig", "PluginsConfig")
    }
    properties = base["properties"]
    for section, kind in SECTIONS.items():
        defs[kind] = _kind_schema(pm, kind, defs)
        ref = {"$ref": f"#/$defs/{kind}"}
        if section in _LISTS:
            properties[section] = {"type": "array", "items": ref}
        elif section == "scheduler":
            properties[section] = {"anyOf": [ref, {"type": "null"}]}
        else:
            properties[section] = ref
    properties["losses"]["minItems"] = 1
    properties["trainer"] = {"$ref": "#/$defs/TrainerConfig"}
    properties["plugins"] = {"$ref": "#/$defs/PluginsConfig"}
    for prop in properties.values():
        prop.pop("title", None)
    return _finite(
        {
            "$schema": DRAFT,
            "title": "tvae run config",
            "description": "A tvae config file; every section is optional (see `tvae config`).",
            "type": "object",
            "properties": properties,
            "additionalProperties": False,
            "$defs": defs,
        }
    )
