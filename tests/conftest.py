"""What every test shares.

Logging: the long-running commands (`serve`, `worker`, `sync`, ...) call `configure_logging`,
which sets the root logger's level and handler for the whole process. A test that runs one
in-process must not change what the tests after it log or capture, so the logging state is put
back after every test.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from portal_extensions.logs import QUIET_LOGGERS


@pytest.fixture(autouse=True)
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
