from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from tvae_core import get_logger, setup_logging
from tvae_core.logging import LOG_FILENAME, logging_configured, shutdown_logging


@pytest.fixture(autouse=True)
def clean_logging() -> Iterator[None]:
    shutdown_logging()
    yield
    shutdown_logging()
    logging.getLogger("tvae").setLevel(logging.NOTSET)


def owned(logger: logging.Logger) -> list[logging.Handler]:
    return [h for h in logger.handlers if not isinstance(h, logging.NullHandler)]


def test_loggers_live_under_tvae() -> None:
    assert get_logger("my_plugin.losses").name == "tvae.my_plugin.losses"
    assert get_logger("tvae.engine").name == "tvae.engine"
    assert get_logger().name == "tvae"
    assert get_logger("tvae").name == "tvae"


def test_seed_snippet_logs_to_console_and_a_plain_file(tmp_path: Path) -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    setup_logging(log_dir=str(tmp_path / "logs"), rich_console=console)
    logger = get_logger(__name__)
    epoch, loss = 3, 0.123456
    logger.info(f"Epoch {epoch}: loss={loss:.4f}")
    for handler in owned(logging.getLogger("tvae")):
        handler.flush()
    text = (tmp_path / "logs" / LOG_FILENAME).read_text()
    assert "INFO" in text and "Epoch 3: loss=0.1235" in text
    assert "\x1b[" not in text  # no colour codes in the file
    shown = re.sub(r"\x1b\[[0-9;]*m", "", console.file.getvalue())  # type: ignore[attr-defined]
    assert "INFO" in shown and "Epoch 3: loss=0.1235" in shown


def test_calling_twice_adds_no_handler(tmp_path: Path) -> None:
    setup_logging(log_dir=tmp_path, rich_console=Console(file=io.StringIO()))
    setup_logging(log_dir=tmp_path, level="DEBUG", rich_console=Console(file=io.StringIO()))
    setup_logging(level="WARNING")
    logger = logging.getLogger("tvae")
    assert len(owned(logger)) == 2
    assert logger.level == logging.WARNING
    get_logger("x").warning("once")
    for handler in owned(logger):
        handler.flush()
    assert (tmp_path / LOG_FILENAME).read_text().count("once") == 1


def test_a_new_folder_replaces_the_file(tmp_path: Path) -> None:
    setup_logging(log_dir=tmp_path / "a", console=False)
    setup_logging(log_dir=tmp_path / "b", console=False)
    files = [h for h in owned(logging.getLogger("tvae")) if isinstance(h, logging.FileHandler)]
    assert [Path(h.baseFilename).parent.name for h in files] == ["b"]


def test_plain_console_when_not_a_terminal() -> None:
    stream = io.StringIO()
    setup_logging(rich_console=Console(file=stream))
    get_logger("engine").info("hello")
    assert stream.getvalue().rstrip().endswith("INFO    tvae.engine: hello")


def test_bad_level_is_a_one_line_error() -> None:
    with pytest.raises(ValueError, match="unknown log level 'LOUD'; expected DEBUG, INFO"):
        setup_logging(level="LOUD")


def test_configured_only_after_setup() -> None:
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers = []
    try:
        assert not logging_configured()
        setup_logging(console=True, rich_console=Console(file=io.StringIO()))
        assert logging_configured()
    finally:
        root.handlers = saved
