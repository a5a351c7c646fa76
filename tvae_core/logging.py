"""Logging for tvae and its plugins: one ``tvae`` logger hierarchy, a console and a log file.

Every tvae logger is a child of the ``tvae`` logger, so one call configures them all::

    from tvae_core import setup_logging, get_logger

    setup_logging(log_dir="logs/")        # console + logs/tvae.log
    logger = get_logger(__name__)         # "tvae.<module>"
    logger.info("epoch %d: loss=%.4f", epoch, loss)

The console uses rich (colours, aligned columns) when stderr is a terminal and plain lines
otherwise; the file always gets plain lines without colour codes. Calling
:func:`setup_logging` again changes the level and the file but never duplicates a handler.
Until it is called, tvae's loggers pass records on to the root logger like any library's.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

ROOT_LOGGER = "tvae"
LOG_FILENAME = "tvae.log"
PLAIN_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"

# Marks the handlers setup_logging owns, so a second call replaces instead of adding.
_ROLE = "_tvae_role"

_console: Console | None = None


def get_console() -> Console:
    """The rich console (on stderr) shared by tvae's log lines and progress display.

    Sharing one console lets log lines print above a live progress bar without tearing it.
    """
    global _console
    if _console is None:
        from rich.console import Console

        _console = Console(stderr=True)
    return _console


def get_logger(name: str | None = None) -> logging.Logger:
    """A logger in the ``tvae`` hierarchy: ``tvae.<name>`` unless ``name`` already is one.

    ``get_logger(__name__)`` in module ``my_plugin.losses`` gives ``tvae.my_plugin.losses``.
    """
    if not name or name == ROOT_LOGGER:
        return logging.getLogger(ROOT_LOGGER)
    if name.startswith(ROOT_LOGGER + "."):
        return logging.getLogger(name)
    return logging.getLogger(f"{ROOT_LOGGER}.{name}")


def _level_number(level: int | str) -> int:
    if isinstance(level, int):
        return level
    number = logging.getLevelName(level.upper())
    if not isinstance(number, int):
        raise ValueError(
            f"unknown log level {level!r}; expected DEBUG, INFO, WARNING, ERROR or CRITICAL"
        )
    return number


def _owned(logger: logging.Logger, role: str) -> logging.Handler | None:
    for handler in logger.handlers:
        if getattr(handler, _ROLE, None) == role:
            return handler
    return None


def _console_handler(console: Console | None) -> logging.Handler:
    target = console or get_console()
    handler: logging.Handler
    if target.is_terminal:
        from rich.logging import RichHandler

        handler = RichHandler(console=target, show_path=False, log_time_format="[%X]")
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(target.file)
        handler.setFormatter(logging.Formatter(PLAIN_FORMAT, DATE_FORMAT))
    return handler


def setup_logging(
    log_dir: str | Path | None = None,
    level: int | str = "INFO",
    *,
    console: bool = True,
    rich_console: Console | None = None,
) -> logging.Logger:
    """Send tvae's log records to the console and, with ``log_dir``, to ``<log_dir>/tvae.log``.

    Idempotent: a second call sets the level again, keeps the console handler, and replaces
    the file handler only if ``log_dir`` names another folder (``log_dir=None`` keeps the file
    a previous call opened). Records stop propagating to the root logger, so they are not
    printed twice when the application also configured logging.

    Args:
        log_dir: Folder for ``tvae.log`` (created if needed; appended to); None: no new file.
        level: The lowest level logged, a name (``"DEBUG"``) or a number.
        console: Log to the console (stderr).
        rich_console: The rich console to print to; default the shared one on stderr.

    Returns:
        The ``tvae`` logger.
    """
    number = _level_number(level)
    logger = logging.getLogger(ROOT_LOGGER)
    logger.setLevel(number)
    logger.propagate = False
    warnings_only = _owned(logger, "warnings")
    if warnings_only is not None:  # the command line's fallback: the console replaces it
        logger.removeHandler(warnings_only)

    current = _owned(logger, "console")
    if console and current is None:
        handler = _console_handler(rich_console)
        setattr(handler, _ROLE, "console")
        logger.addHandler(handler)
    elif not console and current is not None:
        logger.removeHandler(current)
        current.close()

    if log_dir is not None:
        path = (Path(log_dir) / LOG_FILENAME).resolve()
        old = _owned(logger, "file")
        if old is not None and Path(getattr(old, "baseFilename", "")) != path:
            logger.removeHandler(old)
            old.close()
            old = None
        if old is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            file_handler = logging.FileHandler(path, mode="a", encoding="utf-8")
            file_handler.setFormatter(logging.Formatter(PLAIN_FORMAT, DATE_FORMAT))
            setattr(file_handler, _ROLE, "file")
            logger.addHandler(file_handler)
    return logger


def logging_configured() -> bool:
    """Whether records of the ``tvae`` loggers reach a handler that writes them somewhere.

    True after :func:`setup_logging`, or when the application gave the root logger a handler.
    """
    logger: logging.Logger | None = logging.getLogger(ROOT_LOGGER)
    while logger is not None:
        if any(
            not isinstance(h, logging.NullHandler) and getattr(h, _ROLE, None) != "warnings"
            for h in logger.handlers
        ):
            return True
        logger = logger.parent if logger.propagate else None
    return False


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record comes (tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        import sys

        self.stream = sys.stderr
        super().emit(record)


def show_warnings() -> None:
    """Until logging is set up, print tvae's warnings as ``warning: ...`` lines on stderr.

    What the command line calls at start, so that a warning of a run (a component name two
    plugins register, a resume across versions) is seen; :func:`setup_logging` replaces it.
    """
    logger = logging.getLogger(ROOT_LOGGER)
    if logging_configured() or _owned(logger, "warnings") is not None:
        return
    handler = _CurrentStderr()
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("warning: %(message)s"))
    setattr(handler, _ROLE, "warnings")
    logger.addHandler(handler)


def shutdown_logging() -> None:
    """Close and remove the handlers :func:`setup_logging` added (the file is released)."""
    logger = logging.getLogger(ROOT_LOGGER)
    for handler in list(logger.handlers):
        if getattr(handler, _ROLE, None) is not None:
            logger.removeHandler(handler)
            handler.close()
    logger.propagate = True


# A library's loggers stay silent until the application configures logging.
logging.getLogger(ROOT_LOGGER).addHandler(logging.NullHandler())

__all__ = [
    "get_console",
    "get_logger",
    "logging_configured",
    "setup_logging",
    "show_warnings",
    "shutdown_logging",
]
