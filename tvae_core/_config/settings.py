"""Settings schemas: pydantic models derived from a factory's signature, and their errors.

The config layer owns them because a component's settings are part of the run's config: the
same one-line errors (key path, what was expected, the close match) come from the run's own
sections and from each component's schema.
"""

from __future__ import annotations

import difflib
import inspect
import re
import types
import typing
from collections.abc import Callable, Collection, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from tvae_core._config.limits import short_repr
from tvae_core._errors import SettingsError

_ARG_LINE = re.compile(r"^\s{2,}(\*{0,2}\w+)(?:\s*\([^)]*\))?\s*:\s*(.*)$")


def _param_docs(obj: object) -> dict[str, str]:
    """Descriptions of parameters from a Google-style ``Args:`` section, if any."""
    doc = inspect.getdoc(obj) or ""
    out: dict[str, str] = {}
    in_args = False
    current: str | None = None
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped in ("Args:", "Arguments:", "Parameters:"):
            in_args = True
            continue
        if in_args:
            if stripped and not line.startswith(" "):
                break
            m = _ARG_LINE.match(line)
            if m:
                current = m.group(1).lstrip("*")
                out[current] = m.group(2).strip()
            elif current and stripped:
                out[current] += " " + stripped
    return out


def _signature_target(factory: Callable[..., Any]) -> Callable[..., Any]:
    return factory.__init__ if inspect.isclass(factory) else factory


def derive_settings_model(
    factory: Callable[..., Any], name: str, leading: int = 0
) -> type[BaseModel]:
    """A pydantic model of ``factory``'s settings; unknown keys are rejected.

    The first ``leading`` parameters are what the engine passes positionally (an
    optimizer's ``params``), not settings.
    """
    target = _signature_target(factory)
    sig = inspect.signature(factory)
    try:
        hints = typing.get_type_hints(target)
    except Exception:
        hints = {}
    docs = _param_docs(factory)
    if inspect.isclass(factory):
        docs = {**_param_docs(factory.__init__), **docs}
    params = list(sig.parameters.values())[leading:]
    fields: dict[str, Any] = {}
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        annotation = hints.get(p.name, Any if p.annotation is p.empty else p.annotation)
        if isinstance(annotation, str):
            annotation = Any
        default = ... if p.default is p.empty else p.default
        fields[p.name] = (annotation, Field(default, description=docs.get(p.name)))
    model_name = "".join(part.title() for part in re.split(r"[^0-9a-zA-Z]+", name)) + "Settings"
    return create_model(
        model_name,
        # A NaN or infinite setting (lr: .inf) is always a mistake: refuse it up front.
        __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=True, allow_inf_nan=False),
        **fields,
    )


def type_label(annotation: Any) -> str:
    """A setting's type as people write it: ``int | None``, ``Literal['min', 'max']``,
    ``tuple[float, float]`` (``tvae show`` and the component reference print this)."""
    if annotation is None or annotation is type(None):
        return "None"
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return f"Literal[{', '.join(repr(a) for a in args)}]"
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_label(a) for a in args)
    if origin is not None and args:
        name = getattr(origin, "__name__", None) or str(origin).replace("typing.", "")
        inner = ", ".join("..." if a is Ellipsis else type_label(a) for a in args)
        return f"{name}[{inner}]"
    if isinstance(annotation, type):
        return annotation.__name__
    # Dotted paths (typing.Any, torch.nn.modules.module.Module) read better as the last part.
    return re.sub(r"\b(?:[A-Za-z_]\w*\.)+([A-Za-z_]\w*)", r"\1", str(annotation))


def _join(where: str, loc: tuple[Any, ...]) -> str:
    path = where
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path or "<root>"


def describe_validation_error(
    exc: ValidationError, where: str, known: list[str] | None = None
) -> tuple[str, str]:
    """The key path of the first problem and one line on it: what was expected and found."""
    return _describe(exc, exc.errors()[0], where, known)


def _describe(
    exc: ValidationError, err: Any, where: str, known: list[str] | None
) -> tuple[str, str]:
    loc = tuple(err.get("loc", ()))
    path = _join(where, loc)
    etype = err.get("type", "")
    if etype == "extra_forbidden":
        key = str(loc[-1]) if loc else "?"
        msg = f"unknown key {key!r}"
        close = difflib.get_close_matches(key, known or [], n=1)
        if close:
            msg += f"; did you mean {close[0]!r}?"
        elif known:
            msg += f"; expected one of: {', '.join(known)}"
        return path, msg
    if etype == "missing":
        return path, "required setting is missing"
    found = err.get("input")
    found_s = short_repr(found)  # bounded work: the value may be anything a file holds
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return path, f"{err.get('msg', 'invalid value')}, found {found_s}{more}"


def validate_settings(
    model: type[BaseModel],
    settings: Mapping[str, Any],
    where: str,
    source: str | None = None,
    *,
    fill_later: Collection[str] | None = (),
) -> dict[str, Any]:
    """Validate ``settings`` against ``model``; return them with defaults filled in.

    ``fill_later`` names settings the run fills in later (a model's ``input_dim`` from the
    data): their absence is not an error yet, and the check is of what is given (None: any
    setting may be filled later). The settings are returned as given in that case.
    """
    try:
        validated = model.model_validate(dict(settings))
    except ValidationError as exc:
        known = list(model.model_fields)
        errors = [
            e
            for e in exc.errors()
            if not (
                e.get("type") == "missing"
                and (fill_later is None or (e.get("loc") or ("",))[0] in fill_later)
            )
        ]
        if errors:
            path, message = _describe(exc, errors[0], where, known)
            raise SettingsError(message, where=path, source=source) from None
        return dict(settings)
    return {k: getattr(validated, k) for k in model.model_fields}
