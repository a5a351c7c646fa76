"""Developer sessions: tests, lint, typecheck, docs, bench, e2e (a fresh install)."""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True


def install_all(session: nox.Session) -> None:
    session.install("-r", "requirements-dev.txt")


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (pass pytest arguments after --)."""
    install_all(session)
    session.run("python", "-m", "pytest", "-q", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy over the core and every plugin."""
    install_all(session)
    sources = [str(p) for p in sorted(Path("plugins").glob("*/src"))]
    session.run("mypy", "tvae_core", *sources)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation with warnings as errors."""
    install_all(session)
    session.install("-r", "docs/requirements.txt")
    session.run("mkdocs", "build", "--strict", env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session
def bench(session: nox.Session) -> None:
    """Run every benchmark and append the results to benchmarks/README.md."""
    install_all(session)
    session.run("python", "benchmarks/run_all.py", *session.posargs)


@nox.session(python=False)
def e2e(session: nox.Session) -> None:
    """What CI does: a fresh virtualenv, the README's install, the README's tests."""
    session.run("bash", ".ci/run", external=True)
