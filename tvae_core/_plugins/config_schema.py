"""``tvae config --schema``: a JSON Schema (draft 2020-12) of a config file.

The sections come from :class:`tvae_core.RunConfig`; each component section (the contract
table's :attr:`~tvae_core._plugins.contracts.Contract.section`) lists the components the
installed plugins register, and each component's own settings come from its settings model,
so an editor with a YAML language server completes names and settings and flags a
misspelled key. Point the editor at the schema with a first line such as
``# yaml-language-server: $schema=tvae-config.schema.json``.

The schema checks a *file*: every section is optional (the default run fills the rest).
Settings that a run fills from its data (a model's ``input_dim``, a scheduler's
``total_epochs``: the contract's ``context``) are never required here.

It lives in the plugin layer because it is made of the registry's components and the
contract table; the config layer below knows neither.
"""

from __future__ import annotations

import math
import types
import typing
import warnings
from typing import TYPE_CHECKING, Any

from tvae_core._config.schema import RunConfig
from tvae_core._plugins.contracts import CONTRACTS, Contract

if TYPE_CHECKING:
    from tvae_core._plugins.manager import PluginManager
    from tvae_core._plugins.registry import Component

DRAFT = "https://json-schema.org/draft/2020-12/schema"


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


def _settings_schema(component: Component, prefix: str, defs: dict[str, Any]) -> dict[str, Any]:
    """The object schema of one component: ``name`` plus its settings, nothing else."""
    try:
        model = component.settings_model()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # defaults JSON cannot hold are left out
            schema = model.model_json_schema(
                ref_template="#/$defs/" + prefix + "{model}", schema_generator=_generator()
            )
    except Exception:
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
    filled = CONTRACTS[component.kind].context
    required = [
        r
        for r in schema.get("required") or []
        if r != "name" and filled is not None and r not in filled
    ]
    if required:
        out["required"] = required
    return out


def _entry_model(section: str) -> tuple[type, bool, bool]:
    """The config model of one entry of ``section``; whether the section is a list, or optional."""
    annotation = RunConfig.model_fields[section].annotation
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list:
        return args[0], True, False
    if origin in (typing.Union, types.UnionType):
        (model,) = [a for a in args if a is not type(None)]
        return model, False, True
    assert isinstance(annotation, type)
    return annotation, False, False


def _entry_fields(model: Any) -> dict[str, Any]:
    """What an entry of this section holds besides ``name`` and settings (a loss's ``weight``)."""
    properties = dict(model.model_json_schema().get("properties") or {})
    properties.pop("name", None)
    for prop in properties.values():
        prop.pop("title", None)
    return properties


def _kind_schema(
    pm: PluginManager, rules: Contract, own: dict[str, Any], defs: dict[str, Any]
) -> dict[str, Any]:
    """A component entry of a kind: a bare name, or a mapping with ``name`` and settings."""
    kind = rules.kind
    components = pm.registry.all(kind)
    names: list[str] = []
    cases = []
    for c in sorted(components, key=lambda c: (c.name, c.plugin)):
        ref = f"{kind}.{c.plugin}.{c.name}"
        body = _settings_schema(c, f"{ref}.", defs)
        body["properties"] = {"name": {"type": "string"}, **own, **body["properties"]}
        defs[ref] = body
        accepted = [c.name, c.qualified_name]
        names += [n for n in accepted if n not in names]
        cases.append(
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
    if cases:
        entry["allOf"] = cases
    # if/then/else rather than anyOf: a wrong setting is reported as itself, not as "matches
    # none of the alternatives".
    return {"if": {"type": "string"}, "then": {"enum": names}, "else": entry}


def config_schema(pm: PluginManager) -> dict[str, Any]:
    """The JSON Schema of a config file for the components ``pm`` registers."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = RunConfig.model_json_schema(schema_generator=_generator())
    defs: dict[str, Any] = {
        k: v
        for k, v in (base.pop("$defs", None) or {}).items()
        if k in ("TrainerConfig", "PluginsConfig")
    }
    properties = base["properties"]
    for rules in CONTRACTS.values():
        section = rules.section
        model, many, optional = _entry_model(section)
        defs[rules.kind] = _kind_schema(pm, rules, _entry_fields(model), defs)
        ref = {"$ref": f"#/$defs/{rules.kind}"}
        if many:
            bounds = {k: v for k, v in properties[section].items() if k in ("minItems", "maxItems")}
            properties[section] = {"type": "array", "items": ref, **bounds}
        elif optional:
            properties[section] = {"anyOf": [ref, {"type": "null"}]}
        else:
            properties[section] = ref
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
