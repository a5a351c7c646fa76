"""The shipped default config's text, read without importing the config schema or typer."""

from __future__ import annotations

import os


def default_config_text() -> str:
    """``tvae_core/default_config.yaml`` as shipped (comments kept): what ``tvae config`` prints.

    The same text as :func:`tvae_core._config.default_config_text`, without pydantic.
    """
    path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "default_config.yaml")
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except FileNotFoundError:  # a package that is not plain files on disk (a zip)
        from importlib import resources

        return resources.files("tvae_core").joinpath("default_config.yaml").read_text("utf-8")
