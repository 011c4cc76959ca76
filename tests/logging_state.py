"""A fixture for tests that run a long-running command in-process: `configure_logging` sets the
root logger's level and handler for the whole process, so they are put back afterwards."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from portal_extensions.logs import QUIET_LOGGERS


@pytest.fixture
def keep_logging_state() -> Iterator[None]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    quiet = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    try:
        yield
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
                handler.close()
        root.setLevel(level)
        for name, old in quiet.items():
            logging.getLogger(name).setLevel(old)
        logging.captureWarnings(False)
