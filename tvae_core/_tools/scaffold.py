"""``tvae new-plugin``: write a ready-to-install plugin project from the bundled template.

The template (``tvae_core/_tools/templates/plugin/``) is a small working plugin: a pyproject with
the ``tvae.plugins`` entry point, a ``plugin.py`` registering a loss and a callback lazily,
the component modules, tests written with :mod:`tvae_core.testing`, and a README. Files
end in ``.tmpl`` and hold ``{{placeholders}}``; a path part ``__package__`` becomes the
package name and a leading ``dot-`` becomes ``.``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from tvae_core._errors import UsageError
from tvae_core._version import __version__

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

TEMPLATE = "plugin"
_VALID = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass(frozen=True)
class PluginNames:
    """The names one plugin goes by.

    ``name`` is the entry-point (plugin) name, ``dist`` the distribution, ``package`` the
    import package, and ``prefix`` starts each component name so it does not clash with
    another plugin's.
    """

    name: str
    dist: str
    package: str
    prefix: str


def plugin_names(name: str) -> PluginNames:
    """Names for ``name``: ``centroid`` -> dist ``tvae-centroid``, package ``tvae_centroid``.

    A name already starting with ``tvae-`` (or ``tvae_``) is kept as the distribution name.
    """
    raw = name.strip().lower()
    if not _VALID.match(raw):
        raise UsageError(
            f"{name!r} is not a valid plugin name",
            where="new-plugin",
            hint="use lowercase letters, digits and single '-' or '_' between them, starting "
            "with a letter (e.g. 'centroid')",
        )
    short = re.sub(r"^tvae[-_]", "", raw)
    if short == "tvae":
        raise UsageError(
            f"{name!r} is too generic", where="new-plugin", hint="name what the plugin adds"
        )
    dist = "tvae-" + short.replace("_", "-")
    snake = short.replace("-", "_")
    return PluginNames(name=snake, dist=dist, package=dist.replace("-", "_"), prefix=snake)


def _template_root() -> Traversable:
    return resources.files("tvae_core").joinpath("_tools", "templates", TEMPLATE)


def _walk(
    node: Traversable, parts: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], Traversable]]:
    out: list[tuple[tuple[str, ...], Traversable]] = []
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        if child.name == "__pycache__":
            continue
        if child.is_dir():
            out.extend(_walk(child, (*parts, child.name)))
        else:
            out.append(((*parts, child.name), child))
    return out


def _target_part(part: str, names: PluginNames) -> str:
    part = part.replace("__package__", names.package)
    if part.startswith("dot-"):
        part = "." + part[4:]
    return part.removesuffix(".tmpl")


def render(text: str, values: dict[str, str]) -> str:
    """Replace each ``{{key}}``; an unknown key is a bug in the template, so it raises."""

    def sub(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise KeyError(f"template placeholder {{{{{key}}}}} has no value")
        return values[key]

    return _PLACEHOLDER.sub(sub, text)


def create_plugin(name: str, directory: str | Path = ".") -> Path:
    """Write the plugin project ``<directory>/<dist>`` for ``name`` and return its path.

    Refuses (:class:`tvae_core.UsageError`) an invalid name or a target folder that exists
    and is not empty; nothing is written in that case.
    """
    names = plugin_names(name)
    project = Path(directory) / names.dist
    if project.exists() and (not project.is_dir() or any(project.iterdir())):
        raise UsageError(
            f"{project} already exists and is not empty",
            where="new-plugin",
            hint="pick another name or --dir",
        )
    major_minor = ".".join(__version__.split(".")[:2])
    values = {
        "name": names.name,
        "dist": names.dist,
        "package": names.package,
        "prefix": names.prefix,
        "core_version": major_minor,
    }
    files = [
        (project.joinpath(*(_target_part(p, names) for p in parts)), node, parts[-1])
        for parts, node in _walk(_template_root())
    ]
    rendered = [
        (
            path,
            render(node.read_text("utf-8"), values)
            if leaf.endswith(".tmpl")
            else node.read_bytes(),
        )
        for path, node, leaf in files
    ]
    for path, content in rendered:
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
    return project


def next_steps(project: Path) -> str:
    """What to do after :func:`create_plugin`, for the CLI to print."""
    names = plugin_names(project.name)
    return "\n".join(
        [
            f"created {project}",
            "next steps:",
            f"  pip install -e {project}",
            f"  tvae list          # shows {names.prefix}_latent_norm and {names.prefix}_best_logger",
            f"  pytest {project / 'tests'}",
            f"  tvae plugins check {names.name}",
        ]
    )
